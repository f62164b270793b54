"""INT8 against FP32, interleaved: ratios that survive a noisy shared CPU.

``bench_edge.py`` times each (file, runtime) once, one after another, and two runs of it on
this VM differed by up to 20%. Here every candidate is loaded once and then timed in
``--rounds`` interleaved rounds of ``--runs`` calls each, so a slow minute hits all of them.
Reported per candidate: the median over rounds of each round's p50, and the median over
rounds of its speed-up against ORT FP32 in the same round.

Candidates (``student_s`` at 256x256 by default, random weights, batch 1): the FP32 file; ORT's
quantizer with the stem in FP32 (the default) and in INT8 (``--int8-stem``); NNCF's file; each
in ONNX Runtime and in OpenVINO. With several ``--models`` (``NAME`` or ``NAME:key=value,...``
for model arguments) all of them are timed in the same rounds, and every candidate is also
compared with the first model's ORT FP32 file. Writes ``benchmarks/results/int8_ab.json``.

    .venv/bin/python benchmarks/bench_int8_ab.py [--models student_s student_q] [--size 256x256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

from segcompress.cli.common import key_value, size_arg
from segcompress.data.classes import IDD_LEVEL3
from segcompress.deploy.benchmark import machine_info
from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.onnx_export import export_model
from segcompress.deploy.quantize import quantize_onnx
from segcompress.deploy.runtime import load_predictor
from segcompress.deploy.samples import smooth_images
from segcompress.models.profile import time_calls
from segcompress.models.registry import create_model

RESULTS = Path(__file__).resolve().parent / "results" / "int8_ab.json"
CALIB_N = 16


def model_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``student_q:upsample=nearest`` -> (``student_q``, {``upsample``: ``nearest``}); values
    are read as YAML scalars, like ``--model-arg``."""
    name, _, rest = text.partition(":")
    return name, dict(key_value(item) for item in rest.split(",") if item)


def build_files(spec: str, size: tuple[int, int], work: Path) -> dict[str, Path]:
    """The FP32 file of the model ``spec`` and its three INT8 files, under ``work``."""
    torch.manual_seed(0)
    name, kwargs = model_spec(spec)
    model = create_model(name, **kwargs).eval()
    info = ModelInfo(
        classes=IDD_LEVEL3, input_size=size, model_name=name, model_args=dict(model.model_args)
    )
    work.mkdir(parents=True, exist_ok=True)
    files = {"FP32": work / "fp32.onnx"}
    export_model(model, files["FP32"], info)
    images = smooth_images(CALIB_N, size, 0)
    variants = {
        "INT8, ORT quantizer, FP32 stem": {"fp32_stem": True},
        "INT8, ORT quantizer, INT8 stem": {"fp32_stem": False},
        "INT8, NNCF": {"engine": "nncf"},
    }
    for i, (label, options) in enumerate(variants.items()):
        files[label] = work / f"int8-{i}.onnx"
        quantize_onnx(files["FP32"], files[label], images, **options)
    return files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["student_s"], help="NAME[:key=value,...]")
    parser.add_argument("--size", type=size_arg, default=(256, 256))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = machine_info()
    size = tuple(args.size)
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp:
        predictors = {
            (spec, label, runtime): load_predictor(path, threads=args.threads, runtime=runtime)
            for i, spec in enumerate(args.models)
            for label, path in build_files(spec, size, Path(tmp) / str(i)).items()
            for runtime in ("onnxruntime", "openvino")
        }
        rounds: list[dict[str, float]] = []
        for _ in range(args.rounds):
            rounds.append(
                {
                    " | ".join(key): statistics.median(time_calls(p, x, args.runs, 3))
                    for key, p in predictors.items()
                }
            )
    first = f"{args.models[0]} | FP32 | onnxruntime"
    rows = []
    for key in rounds[0]:
        own = f"{key.split(' | ')[0]} | FP32 | onnxruntime"
        row = {"candidate": key, "p50_ms": statistics.median(r[key] for r in rounds)}
        for name, base in (("ort_fp32", own), ("first_model_ort_fp32", first)):
            ratios = [r[base] / r[key] for r in rounds]
            row[f"speedup_vs_{name}"] = statistics.median(ratios)
            row[f"speedup_vs_{name}_range"] = [min(ratios), max(ratios)]
        rows.append(row)
    print(
        f"{size[0]}x{size[1]}, batch 1, {args.threads} threads, "
        f"{args.rounds} interleaved rounds of {args.runs} calls"
    )
    print(
        "| model | file | runtime | p50 ms | vs its ORT FP32 (median, min-max over rounds) "
        f"| vs {args.models[0]} ORT FP32 |"
    )
    print("|---|---|---|---:|---:|---:|")
    for row in rows:
        spec, label, runtime = row["candidate"].split(" | ")
        lo, hi = row["speedup_vs_ort_fp32_range"]
        print(
            f"| {spec} | {label} | {runtime} | {row['p50_ms']:.2f} | "
            f"{row['speedup_vs_ort_fp32']:.2f}x ({lo:.2f}-{hi:.2f}) "
            f"| {row['speedup_vs_first_model_ort_fp32']:.2f}x |"
        )
    result: dict[str, Any] = {
        "models": args.models,
        "size": list(size),
        "threads": args.threads,
        "rounds": args.rounds,
        "runs": args.runs,
        "machine": {**started, "load_average_after": machine_info()["load_average"]},
        "rows": rows,
        "per_round_p50_ms": rounds,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
