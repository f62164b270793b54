"""INT8 accuracy of trained students on IDD-Lite val, with the logits upsampled either way.

For every finished run folder of ``bench_kd_patience.py`` that ``--runs`` names (glob patterns
under ``--out``), the last checkpoint is exported to ONNX: ``student_q``'s once per mode of
``--upsample`` (``--model-arg upsample=...``, the same weights; nearest logits keep its INT8
graph integer-only), other students as trained. Each file is quantized by ONNX Runtime (QDQ,
per-channel weights, FP32 stem, 64 training images for calibration) and both files are scored
on val in ONNX Runtime. Where the mode is the trained one, the run's own PyTorch score on val
(``eval_last.json``) is recorded beside the FP32 file's, as a check. Prints FP32 and INT8 mIoU
per run and mode and the mean over seeds; writes ``benchmarks/results/int8_students.json``.

    .venv/bin/python benchmarks/bench_int8_student.py --runs 'student_q-*-24-ep-s?' \\
        'student_s-dist-24-ep-s?' --upsample bilinear nearest
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from harness import add_arguments, machine_snapshot, write_result

from segcompress.data.formats import DataSpec
from segcompress.deploy.onnx_export import export_checkpoint
from segcompress.deploy.quantize import quantize_dataset

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "int8_students.json"
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "idd20k_lite"
AS_TRAINED = "as trained"


def _trained_upsample(folder: Path) -> str | None:
    import torch

    state = torch.load(folder / "last.pt", map_location="cpu", weights_only=False)
    return state["model_args"].get("upsample")


def score(folder: Path, upsample: str, data: DataSpec, work: Path, threads: int) -> dict:
    """FP32 and INT8 val mIoU of ``folder``'s last checkpoint with ``upsample`` logits
    (``"as trained"``: no override)."""
    fp32 = work / f"{folder.name}-{upsample.replace(' ', '-')}.onnx"
    overrides = {} if upsample == AS_TRAINED else {"upsample": upsample}
    export = export_checkpoint(folder / "last.pt", fp32, model_args=overrides)
    report = quantize_dataset(
        fp32, fp32.with_suffix(".int8.onnx"), data, eval_data=data, threads=threads
    )
    torch_miou = None
    if export.info.model_args.get("upsample") == _trained_upsample(folder):
        torch_miou = 100 * json.loads((folder / "eval_last.json").read_text())["mean"]["iou"]
    return {
        "run": folder.name,
        "row": folder.name.rsplit("-s", 1)[0],
        "seed": int(folder.name.rsplit("-s", 1)[1]),
        "upsample": upsample,
        "fp32_miou": 100 * report.miou_fp32,
        "int8_miou": 100 * report.miou_int8,
        "int8_minus_fp32": 100 * (report.miou_int8 - report.miou_fp32),
        "torch_fp32_miou": torch_miou,
        "agreement": report.agreement,
        "fp32_ops": report.fp32_ops,
    }


def finished_runs(out: Path, patterns: list[str]) -> tuple[list[Path], list[Path]]:
    """Run folders under ``out`` matching ``patterns``, split into finished and unfinished: a run
    still training has a ``last.pt`` of some middle epoch, and only a finished one is scored."""
    folders = sorted({f for pattern in patterns for f in out.glob(pattern) if f.is_dir()})
    done = [f for f in folders if (f / "eval_last.json").is_file()]
    return done, [f for f in folders if f not in done]


def summarise(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and spread over seeds per (row, upsample)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["row"], r["upsample"]), []).append(r)
    table = []
    for (row, upsample), runs in groups.items():
        entry: dict[str, Any] = {"row": row, "upsample": upsample, "seeds": len(runs)}
        for key in ("fp32_miou", "int8_miou", "int8_minus_fp32"):
            values = [r[key] for r in runs]
            entry[key] = statistics.fmean(values)
            entry[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        entry["worst_int8_minus_fp32"] = min(r["int8_minus_fp32"] for r in runs)
        table.append(entry)
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IDD-Lite root")
    parser.add_argument("--out", type=Path, default=Path("runs/bench/patient"))
    parser.add_argument("--runs", nargs="+", required=True, help="run folder globs under --out")
    parser.add_argument("--upsample", nargs="+", default=["bilinear", "nearest"])
    add_arguments(parser, RESULTS, threads=2)
    parser.add_argument(
        "--merge", action="store_true", help="keep the other runs already in --results"
    )
    args = parser.parse_args()
    folders, unfinished = finished_runs(args.out, args.runs)
    for folder in unfinished:
        print(f"skip {folder.name}: not finished (no eval_last.json); its last.pt is mid-training")
    if not folders:
        parser.error(f"--runs: no run folder under {args.out} matches {' '.join(args.runs)}")
    started = machine_snapshot(args.threads)
    data = DataSpec(root=str(args.data), format="idd-lite")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for folder in folders:
            modes = args.upsample if folder.name.startswith("student_q") else [AS_TRAINED]
            for upsample in modes:
                records.append(score(folder, upsample, data, Path(tmp), args.threads))
                r = records[-1]
                print(
                    f"{r['run']} {upsample}: FP32 {r['fp32_miou']:.2f} INT8 {r['int8_miou']:.2f} "
                    f"({r['int8_minus_fp32']:+.2f}; PyTorch {r['torch_fp32_miou']})",
                    flush=True,
                )
    if args.merge and args.results.is_file():
        scored = {(r["run"], r["upsample"]) for r in records}
        old = json.loads(args.results.read_text())["runs"]
        records = [r for r in old if (r["run"], r["upsample"]) not in scored] + records
    table = summarise(records)
    print("\n| row | logits | seeds | FP32 val mIoU | INT8 val mIoU | INT8 - FP32 (worst) |")
    print("|---|---|---:|---:|---:|---:|")
    for e in table:
        print(
            f"| {e['row']} | {e['upsample']} | {e['seeds']} | {e['fp32_miou']:.2f} ± "
            f"{e['fp32_miou_std']:.2f} | {e['int8_miou']:.2f} ± {e['int8_miou_std']:.2f} | "
            f"{e['int8_minus_fp32']:+.2f} ({e['worst_int8_minus_fp32']:+.2f}) |"
        )
    result = {"threads": args.threads, "table": table, "runs": records}
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
