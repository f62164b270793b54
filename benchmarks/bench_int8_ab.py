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
compared with the first model's ORT FP32 file. ``--before`` adds each model's files as exported
and quantized before BENCHMARKS.md's "Constant resize scales" (:func:`as_before`), in the same
rounds; ``--profile-runs`` adds ORT's per-operator profile of each FP32 and default INT8
file; ``--qoperator`` adds ORT's quantized file in QOperator format; ``--openvino-whole`` adds
every file in OpenVINO with the whole graph run by OpenVINO (:data:`OPENVINO_WHOLE`). Writes
``benchmarks/results/int8_ab.json``.

    .venv/bin/python benchmarks/bench_int8_ab.py [--models student_s student_q] [--size 256x256]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F

from segcompress.cli.common import key_value, size_arg
from segcompress.data.classes import IDD_LEVEL3
from segcompress.deploy import openvino_runtime, quantize
from segcompress.deploy.benchmark import machine_info
from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.onnx_export import export_model
from segcompress.deploy.op_profile import op_category, profile_onnxruntime
from segcompress.deploy.quantize import quantize_onnx
from segcompress.deploy.runtime import load_predictor
from segcompress.deploy.samples import smooth_images
from segcompress.errors import DataError
from segcompress.models import baselines, blocks, int8_student, msunet
from segcompress.models.profile import time_calls
from segcompress.models.registry import create_model

RESULTS = Path(__file__).resolve().parent / "results" / "int8_ab.json"
CALIB_N = 16
BEFORE = " (before)"  # suffix of a --before model's candidates


@contextlib.contextmanager
def as_before() -> Iterator[None]:
    """Files built inside are exported and quantized as before BENCHMARKS.md's "Constant resize
    scales": every map resized by target size (the exported graph reads each input's
    ``Shape``; the same values, another graph) and the logits' float resize quantized."""

    def by_size(x: torch.Tensor, like: torch.Tensor, mode: str) -> torch.Tensor:
        align = False if mode == "bilinear" else None
        return F.interpolate(x, size=like.shape[-2:], mode=mode, align_corners=align)

    with contextlib.ExitStack() as stack:
        for module in (blocks, msunet, int8_student, baselines):
            stack.enter_context(mock.patch.object(module, "resize", by_size))
        stack.enter_context(mock.patch.object(quantize, "float_output_resizes", lambda _: []))
        yield


def model_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``student_q:upsample=nearest`` -> (``student_q``, {``upsample``: ``nearest``}); values
    are read as YAML scalars, like ``--model-arg``."""
    name, _, rest = text.partition(":")
    return name, dict(key_value(item) for item in rest.split(",") if item)


QOPERATOR = "INT8, ORT quantizer, QOperator"


def quantize_qoperator(fp32: Path, out: Path, images: torch.Tensor) -> None:
    """``quantize_onnx``'s default file (per-channel, FP32 stem, same calibration) written in
    ONNX Runtime's QOperator format instead of QDQ: the file itself holds ``QLinearConcat``,
    ``QLinearMul`` and ``QLinearSigmoid`` where the QDQ file has FP32 ops between
    ``DequantizeLinear`` and ``QuantizeLinear``. The library writes QDQ only; this measures
    whether the other would pay (it did not: ORT fuses those QDQ groups itself). OpenVINO cannot
    read it (its ``com.microsoft`` ops), so it is timed in ONNX Runtime only."""
    import onnxruntime.quantization as ort_quantization

    quantize_static = ort_quantization.quantize_static

    def as_qoperator(*args: Any, **kwargs: Any) -> None:
        quantize_static(*args, **{**kwargs, "quant_format": ort_quantization.QuantFormat.QOperator})

    with mock.patch.object(ort_quantization, "quantize_static", as_qoperator):
        quantize_onnx(fp32, out, images)


def build_files(
    spec: str, size: tuple[int, int], work: Path, qoperator: bool = False
) -> dict[str, Path]:
    """The FP32 file of the model ``spec`` and its three INT8 files (four with ``qoperator``),
    under ``work``; a spec ending in :data:`BEFORE` is built :func:`as_before`."""
    if spec.endswith(BEFORE):
        with as_before():
            return build_files(spec.removesuffix(BEFORE), size, work, qoperator)
    torch.manual_seed(0)
    name, kwargs = model_spec(spec)
    model = create_model(name, **kwargs).eval()
    info = ModelInfo.of_model(model, size, IDD_LEVEL3)
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
    if qoperator:
        files[QOPERATOR] = work / "int8-qoperator.onnx"
        quantize_qoperator(files["FP32"], files[QOPERATOR], images)
    return files


def refuse_unrunnable(
    predictors: dict[tuple[str, str, str], Any], x: torch.Tensor
) -> dict[str, str]:
    """Drop the candidates a runtime cannot run, with the runtime's reason (NNCF quantizes the
    input of EfficientNet-Lite's depthwise convolutions per channel, which OpenVINO runs and
    ONNX Runtime's QLinearConv refuses)."""
    failed = {}
    for key, predictor in list(predictors.items()):
        try:
            predictor(x)
        except DataError as exc:
            failed[" | ".join(key)] = str(exc).split("(", 1)[-1][:300]
            del predictors[key]
            print(f"cannot run {' | '.join(key)}: {failed[' | '.join(key)][:160]}")
    return failed


# A runtime label: OpenVINO running the logits' final resize itself, as before
# openvino_runtime.split_logits_resize left it to torch (BENCHMARKS.md, "OpenVINO's logits").
OPENVINO_WHOLE = "openvino, whole graph"


def load_candidate(path: Path, threads: int, runtime: str) -> Any:
    """The predictor of ``path`` in ``runtime`` (``onnxruntime``, ``openvino`` or
    :data:`OPENVINO_WHOLE`)."""
    if runtime == OPENVINO_WHOLE:
        with mock.patch.object(openvino_runtime, "split_logits_resize", lambda _model: None):
            return load_predictor(path, threads=threads, runtime="openvino")
    return load_predictor(path, threads=threads, runtime=runtime)


PROFILED = ("FP32", "INT8, ORT quantizer, FP32 stem")
PROFILE_REPEATS = 3


def profile_files(
    files: dict[str, dict[str, Path]], x: Any, args: argparse.Namespace
) -> list[dict[str, Any]]:
    """ORT's kernel time per op type (ms per call) of each model's FP32 and default INT8 file:
    the median of :data:`PROFILE_REPEATS` interleaved profiles of ``--profile-runs`` calls."""
    keys = [(spec, label) for spec in files for label in PROFILED]
    runs: dict[tuple[str, str], list[dict[str, float]]] = {key: [] for key in keys}
    for _ in range(PROFILE_REPEATS):
        for spec, label in keys:
            path = files[spec][label]
            profile = profile_onnxruntime(path, x, runs=args.profile_runs, threads=args.threads)
            runs[(spec, label)].append(profile.by_op)
    result = []
    for (spec, label), profiles in runs.items():
        ops = {op for p in profiles for op in p}
        by_op = {op: statistics.median(p.get(op, 0.0) for p in profiles) for op in ops}
        by_category: dict[str, float] = {}
        for op, ms in by_op.items():
            by_category[op_category(op)] = by_category.get(op_category(op), 0.0) + ms
        total = statistics.median(sum(p.values()) for p in profiles)
        result.append(
            {
                "model": spec,
                "file": label,
                "total_ms": total,
                "by_op": by_op,
                "by_category": by_category,
            }
        )
        cats = ", ".join(
            f"{c} {ms:.2f}" for c, ms in sorted(by_category.items(), key=lambda t: -t[1])
        )
        print(f"profile | {spec} | {label} | {total:.2f} ms | {cats}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["student_s"], help="NAME[:key=value,...]")
    parser.add_argument("--size", type=size_arg, default=(256, 256))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--before", action="store_true", help="also each model's files as built before"
    )
    parser.add_argument("--profile-runs", type=int, default=0, help="ORT profile calls per file")
    parser.add_argument(
        "--qoperator", action="store_true", help="add ORT's file in QOperator format (not QDQ)"
    )
    parser.add_argument(
        "--openvino-whole",
        action="store_true",
        help="add every file in OpenVINO with the logits' resize run by OpenVINO",
    )
    args = parser.parse_args()
    runtimes = ("onnxruntime", "openvino", *([OPENVINO_WHOLE] if args.openvino_whole else []))
    if args.before:
        args.models = [m for spec in args.models for m in (spec, spec + BEFORE)]
    started = machine_info()
    size = tuple(args.size)
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            spec: build_files(spec, size, Path(tmp) / str(i), args.qoperator)
            for i, spec in enumerate(args.models)
        }
        predictors = {
            (spec, label, runtime): load_candidate(path, args.threads, runtime)
            for spec, built in files.items()
            for label, path in built.items()
            for runtime in runtimes
            if not (label == QOPERATOR and runtime != "onnxruntime")  # com.microsoft QLinear ops
        }
        unrunnable = refuse_unrunnable(predictors, x)
        rounds: list[dict[str, float]] = []
        for _ in range(args.rounds):
            rounds.append(
                {
                    " | ".join(key): statistics.median(time_calls(p, x, args.runs, 3))
                    for key, p in predictors.items()
                }
            )
        profiles = profile_files(files, x.numpy(), args) if args.profile_runs else []
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
        "unrunnable": unrunnable,
        "profiles": profiles,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
