"""INT8 against FP32, interleaved: ratios that survive a noisy shared CPU.

``bench_edge.py`` times each (file, runtime) once, one after another, and two runs of it on
this VM differed by up to 20%. Here every candidate is loaded once and then timed in
``--rounds`` interleaved rounds of ``--runs`` calls each, so a slow minute hits all of them.
Reported per candidate: the median over rounds of each round's p50, and the median over
rounds of its speed-up against ORT FP32 in the same round.

Candidates (``student_s`` at 256x256 by default, random weights, batch 1): the FP32 file; ORT's
quantizer with the stem in FP32 (the default) and in INT8 (``--int8-stem``); NNCF's file; each
in ONNX Runtime and in OpenVINO. Writes ``benchmarks/results/int8_ab.json``.

    .venv/bin/python benchmarks/bench_int8_ab.py [--model student_s] [--size 256x256]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

from segcompress.cli.common import size_arg
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


def build_files(name: str, size: tuple[int, int], work: Path) -> dict[str, Path]:
    torch.manual_seed(0)
    info = ModelInfo(classes=IDD_LEVEL3, input_size=size, model_name=name)
    files = {"FP32": work / "fp32.onnx"}
    export_model(create_model(name).eval(), files["FP32"], info)
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
    parser.add_argument("--model", default="student_s")
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
        files = build_files(args.model, size, Path(tmp))
        predictors = {
            (label, runtime): load_predictor(path, threads=args.threads, runtime=runtime)
            for label, path in files.items()
            for runtime in ("onnxruntime", "openvino")
        }
        rounds: list[dict[str, float]] = []
        for _ in range(args.rounds):
            rounds.append(
                {
                    f"{label} | {runtime}": statistics.median(time_calls(p, x, args.runs, 3))
                    for (label, runtime), p in predictors.items()
                }
            )
    base = "FP32 | onnxruntime"
    rows = [
        {
            "candidate": key,
            "p50_ms": statistics.median(r[key] for r in rounds),
            "speedup_vs_ort_fp32": statistics.median(r[base] / r[key] for r in rounds),
            "speedup_range": [
                min(r[base] / r[key] for r in rounds),
                max(r[base] / r[key] for r in rounds),
            ],
        }
        for key in rounds[0]
    ]
    print(
        f"{args.model} {size[0]}x{size[1]}, batch 1, {args.threads} threads, "
        f"{args.rounds} interleaved rounds of {args.runs} calls"
    )
    print("| candidate | runtime | p50 ms | vs ORT FP32 (median, min-max over rounds) |")
    print("|---|---|---:|---:|")
    for row in rows:
        label, runtime = row["candidate"].split(" | ")
        lo, hi = row["speedup_range"]
        print(
            f"| {label} | {runtime} | {row['p50_ms']:.2f} | "
            f"{row['speedup_vs_ort_fp32']:.2f}x ({lo:.2f}-{hi:.2f}) |"
        )
    result: dict[str, Any] = {
        "model": args.model,
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
