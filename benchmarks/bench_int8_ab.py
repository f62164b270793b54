"""INT8 against FP32, interleaved: ratios that survive a noisy shared CPU.

``bench_edge.py`` times each (file, runtime) once, one after another, so a slow minute on a
shared VM lands on one of them. Here every candidate is loaded once and then timed in
``--rounds`` interleaved rounds of ``--runs`` calls each (``harness.interleave``).
Reported per candidate: the median over rounds of each round's p50, and the median over
rounds of its speed-up against ORT FP32 in the same round.

Candidates (``student_s`` at 256x256 by default, random weights, batch 1): the FP32 file; ORT's
quantizer with the stem in FP32 (the default) and in INT8 (``--int8-stem``); NNCF's file; each
in ONNX Runtime and in OpenVINO. With several ``--models`` (``NAME`` or ``NAME:key=value,...``
for model arguments) all of them are timed in the same rounds, and every candidate is also
compared with the first model's ORT FP32 file. ``--before`` adds each model's files as exported
and quantized before BENCHMARKS.md's "Constant resize scales" (``int8_files.as_before``), in
the same rounds; ``--zero-pad`` adds each model exported with the zero pad to its size divisor
kept, as before ``onnx_export.drop_noop_pads`` (``int8_files.ZERO_PAD``); ``--profile-runs``
adds ORT's per-operator profile of each FP32 and default INT8 file; ``--qoperator`` adds ORT's
quantized file in QOperator format; ``--openvino-whole`` adds every file in OpenVINO with the
whole graph run by OpenVINO (:data:`OPENVINO_WHOLE`); ``--nchw-logits`` adds every file in
ONNX Runtime with its logits' last resize run NCHW (:data:`ORT_NCHW`), as before
``runtime.channels_last_logits_resize``. Writes ``benchmarks/results/int8_ab.json``.

    .venv/bin/python benchmarks/bench_int8_ab.py [--models student_s student_q] [--size 256x256]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from harness import (
    Rounds,
    add_arguments,
    interleave,
    machine_snapshot,
    markdown_table,
    write_result,
)
from int8_files import BEFORE, QOPERATOR, ZERO_PAD, build_files
from op_profile import op_category, profile_onnxruntime

from segcompress.cli.common import size_arg
from segcompress.deploy import openvino_runtime
from segcompress.deploy import runtime as runtime_module
from segcompress.deploy.runtime import load_predictor
from segcompress.errors import DataError

RESULTS = Path(__file__).resolve().parent / "results" / "int8_ab.json"


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
# A runtime label: ONNX Runtime running the file's logits resize NCHW, as before
# runtime.channels_last_logits_resize made it run channels-last.
ORT_NCHW = "onnxruntime, NCHW logits resize"


def load_candidate(path: Path, threads: int, runtime: str) -> Any:
    """The predictor of ``path`` in ``runtime`` (``onnxruntime``, ``openvino``,
    :data:`OPENVINO_WHOLE` or :data:`ORT_NCHW`)."""
    if runtime == OPENVINO_WHOLE:
        with mock.patch.object(openvino_runtime, "split_logits_resize", lambda _model: None):
            return load_predictor(path, threads=threads, runtime="openvino")
    if runtime == ORT_NCHW:
        with mock.patch.object(runtime_module, "channels_last_logits_resize", lambda _p: False):
            return load_predictor(path, threads=threads, runtime="onnxruntime")
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


def rows_of(rounds: Rounds, first: str) -> list[dict[str, Any]]:
    """Per candidate: median p50 and p90 over rounds, and the median (and range) over rounds
    of its speed-up against its own model's ORT FP32 file and the first model's."""
    rows = []
    for key in rounds.times[0]:
        own = f"{key.split(' | ')[0]} | FP32 | onnxruntime"
        row = {"candidate": key, "p50_ms": rounds.median(key), "p90_ms": rounds.p90(key)}
        for name, base in (("ort_fp32", own), ("first_model_ort_fp32", first)):
            speedup = rounds.speedup(base, key)
            row[f"speedup_vs_{name}"] = speedup["median"]
            row[f"speedup_vs_{name}_range"] = speedup["range"]
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["student_s"], help="NAME[:key=value,...]")
    parser.add_argument("--size", type=size_arg, default=(256, 256))
    add_arguments(parser, RESULTS, threads=2, rounds=7, runs=30)
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
    parser.add_argument(
        "--zero-pad",
        action="store_true",
        help="also each model exported with its zero pad kept (as before drop_noop_pads)",
    )
    parser.add_argument(
        "--nchw-logits",
        action="store_true",
        help="add every file in ONNX Runtime with the logits' resize run NCHW (as before)",
    )
    args = parser.parse_args()
    runtimes = (
        "onnxruntime",
        "openvino",
        *([OPENVINO_WHOLE] if args.openvino_whole else []),
        *([ORT_NCHW] if args.nchw_logits else []),
    )
    if args.before:
        args.models = [m for spec in args.models for m in (spec, spec + BEFORE)]
    if args.zero_pad:
        args.models = [m for spec in args.models for m in (spec, spec + ZERO_PAD)]
    started = machine_snapshot(args.threads)
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
            # com.microsoft QLinear ops
            if not (label == QOPERATOR and runtime not in ("onnxruntime", ORT_NCHW))
        }
        unrunnable = refuse_unrunnable(predictors, x)
        calls = {" | ".join(key): (lambda p=p: p(x)) for key, p in predictors.items()}
        rounds = interleave(calls, args.rounds, args.runs)
        profiles = profile_files(files, x.numpy(), args) if args.profile_runs else []
    first = f"{args.models[0]} | FP32 | onnxruntime"
    rows = rows_of(rounds, first)
    print(
        f"{size[0]}x{size[1]}, batch 1, {args.threads} threads, "
        f"{args.rounds} interleaved rounds of {args.runs} calls"
    )
    header = ["model", "file", "runtime", "p50 ms", "vs its ORT FP32 (median, min-max)"]
    table = []
    for row in rows:
        lo, hi = row["speedup_vs_ort_fp32_range"]
        table.append(
            [
                *row["candidate"].split(" | "),
                f"{row['p50_ms']:.2f}",
                f"{row['speedup_vs_ort_fp32']:.2f}x ({lo:.2f}-{hi:.2f})",
                f"{row['speedup_vs_first_model_ort_fp32']:.2f}x",
            ]
        )
    print(markdown_table([*header, f"vs {args.models[0]} ORT FP32"], table, numeric=3))
    result: dict[str, Any] = {
        "models": args.models,
        "size": list(size),
        "threads": args.threads,
        "rounds": args.rounds,
        "runs": args.runs,
        "rows": rows,
        "per_round_p50_ms": rounds.per_round_p50(),
        "unrunnable": unrunnable,
        "profiles": profiles,
    }
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
