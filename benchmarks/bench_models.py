"""Benchmark: CPU latency of every registered model through torch eager and ONNX Runtime.

FP32 for all models (torch eager and ORT), INT8 (``segcompress.deploy.quantize_onnx``, the
library's quantizer, calibrated on smooth random inputs) for the students, at batch 1 with a
fixed thread count. Prints a Markdown table with speed-ups relative to the teacher and writes
JSON to ``benchmarks/results/models.json``.

    .venv/bin/python benchmarks/bench_models.py [--img-size 256] [--threads 2] [--runs 20]

Models are fused (BN and asymmetric branches folded) before timing and export, as deployed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from harness import add_arguments, machine_snapshot, time_call, write_result

from segcompress.cli.common import size_arg
from segcompress.data.classes import IDD_LEVEL3
from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.quantize import quantize_onnx
from segcompress.deploy.runtime import onnx_session
from segcompress.deploy.samples import smooth_images
from segcompress.models import create_model, fuse, list_models
from segcompress.models.export import INPUT_NAME, export_onnx
from segcompress.models.profile import count_flops, count_params, measure_latency

RESULTS = Path(__file__).resolve().parent / "results" / "models.json"
TEACHER = "teacher"
STUDENT_PREFIX = "student"


def ort_latency(session: Any, x: np.ndarray, runs: int, warmup: int) -> tuple[float, np.ndarray]:
    """Median milliseconds of ``runs`` calls and the output."""
    times = time_call(lambda: session.run(None, {INPUT_NAME: x}), runs, warmup)
    return statistics.median(times), session.run(None, {INPUT_NAME: x})[0]


def bench_model(
    name: str,
    model: torch.nn.Module,
    img_size: tuple[int, int],
    *,
    int8: bool,
    threads: int,
    runs: int,
    warmup: int,
    calib: int,
    workdir: Path,
) -> dict[str, Any]:
    """One result row for ``model``: costs, latencies and (``int8``) INT8 agreement with FP32."""
    model = fuse(model)
    x = torch.randn(1, 3, *img_size, generator=torch.Generator().manual_seed(1))
    row: dict[str, Any] = {
        "name": name,
        "model_args": getattr(model, "model_args", {}),
        "params": count_params(model),
        "flops": count_flops(model, img_size),
        "torch_ms": measure_latency(model, img_size, runs=runs, warmup=warmup),
    }
    fp32_path = export_onnx(model, workdir / f"{name}.onnx")
    row["ort_fp32_ms"], fp32_out = ort_latency(
        onnx_session(fp32_path, threads=threads), x.numpy(), runs, warmup
    )
    row["ort_int8_ms"] = None
    row["int8_pixel_agreement"] = None
    if int8:
        int8_path = workdir / f"{name}.int8.onnx"
        info = ModelInfo.of_model(model, img_size, IDD_LEVEL3)
        quantize_onnx(fp32_path, int8_path, smooth_images(calib, img_size, 0), info=info)
        row["ort_int8_ms"], int8_out = ort_latency(
            onnx_session(int8_path, threads=threads), x.numpy(), runs, warmup
        )
        agreement = (int8_out.argmax(1) == fp32_out.argmax(1)).mean()
        row["int8_pixel_agreement"] = round(float(agreement), 4)
    return row


def _ratio(num: float | None, den: float | None) -> str:
    return f"{num / den:.1f}x" if num and den else "-"


def markdown(rows: list[dict[str, Any]]) -> str:
    """Table with each model's costs and the teacher's latency divided by the model's."""
    teacher = next((r for r in rows if r["name"] == TEACHER), None)
    t_torch = teacher["torch_ms"] if teacher else None
    t_ort = teacher["ort_fp32_ms"] if teacher else None
    lines = [
        "| model | params (M) | GFLOPs | torch FP32 ms | ORT FP32 ms | ORT INT8 ms "
        "| teacher torch / best | teacher ORT FP32 / best | INT8 agreement |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        best = r["ort_int8_ms"] or r["ort_fp32_ms"]
        int8 = f"{r['ort_int8_ms']:.1f}" if r["ort_int8_ms"] else "-"
        agree = f"{r['int8_pixel_agreement']:.3f}" if r["int8_pixel_agreement"] else "-"
        lines.append(
            f"| {r['name']} | {r['params'] / 1e6:.3f} | {r['flops'] / 1e9:.2f} "
            f"| {r['torch_ms']:.1f} | {r['ort_fp32_ms']:.1f} | {int8} "
            f"| {_ratio(t_torch, best)} | {_ratio(t_ort, best)} | {agree} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--img-size", type=size_arg, default=(256, 256))
    add_arguments(parser, RESULTS, threads=2, runs=20, results_aliases=("--out",))
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--calib", type=int, default=8, help="synthetic calibration images")
    parser.add_argument("--models", default=None, help="comma-separated names (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = machine_snapshot(args.threads)
    torch.manual_seed(0)  # same random weights every run: INT8 agreement is comparable
    names = args.models.split(",") if args.models else list_models()
    # Teacher first, then students, then baselines: the table reads as ratios to the first row.
    names.sort(key=lambda n: (n != TEACHER, not n.startswith(STUDENT_PREFIX), n))
    with tempfile.TemporaryDirectory() as tmp:
        rows = [
            bench_model(
                name,
                create_model(name),
                args.img_size,
                int8=name.startswith(STUDENT_PREFIX),
                threads=args.threads,
                runs=args.runs,
                warmup=args.warmup,
                calib=args.calib,
                workdir=Path(tmp),
            )
            for name in names
        ]
    h, w = args.img_size
    print(f"Latency at {h}x{w}, batch 1, {args.threads} threads (median of {args.runs} runs)")
    print("FLOPs = 2 x MAC, conv/matmul only; models fused (BN and branches folded).\n")
    print(markdown(rows))
    meta = {"img_size": [h, w], "threads": args.threads, "runs": args.runs, "batch": 1}
    write_result(args.results, {"config": meta, "models": rows}, started)


if __name__ == "__main__":
    main()
