"""ONNX Runtime's session settings, measured: which graph-optimization level runs INT8 fastest.

The runtime (``deploy.runtime.onnx_session``) opens every file at ``ORT_ENABLE_ALL``. That level
adds ORT's layout passes, among them the NHWC transformer that runs INT8 convolutions in NHWC
and drags the uint8 nearest resizes between them into a slow NHWC loop (BENCHMARKS.md,
"Constant resize scales"). This benchmark times each model's FP32 file and default INT8 file
under each setting of :data:`SETTINGS`, in interleaved rounds like ``bench_int8_ab.py``, after
checking that every setting gives the same outputs. Writes
``benchmarks/results/ort_settings.json``.

    .venv/bin/python benchmarks/bench_ort_settings.py [--models student_s ...] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_int8_ab import build_files

from segcompress.cli.common import size_arg
from segcompress.deploy.benchmark import machine_info
from segcompress.models.profile import time_calls

RESULTS = Path(__file__).resolve().parent / "results" / "ort_settings.json"
# name -> (graph optimization level, optimizers disabled); "all" is what the runtime uses.
SETTINGS = {
    "all": ("ORT_ENABLE_ALL", []),
    "extended": ("ORT_ENABLE_EXTENDED", []),
    "all, no NHWC transformer": ("ORT_ENABLE_ALL", ["NhwcTransformer"]),
}
FILES = {"FP32": "FP32", "INT8": "INT8, ORT quantizer, FP32 stem"}  # bench_int8_ab's labels
MAX_DIFF = 1e-4  # the settings only rearrange the graph: outputs must agree to rounding


def open_session(path: Path, setting: str, threads: int, saved: Path | None = None) -> Any:
    """The ORT session of ``path`` under ``setting``; ``saved`` receives ORT's optimized graph."""
    import onnxruntime as ort

    level, disabled = SETTINGS[setting]
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if saved is not None:
        options.optimized_model_filepath = str(saved)
    return ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
    )


def session_call(path: Path, setting: str, threads: int) -> Callable[[np.ndarray], np.ndarray]:
    """A function running the ORT session of ``path`` under ``setting`` on one input."""
    session = open_session(path, setting, threads)
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0]


def measure(
    models: list[str], size: tuple[int, int], threads: int, rounds: int, runs: int
) -> list[dict[str, Any]]:
    """One row per (model, file, setting): median p50 over interleaved rounds, and the median
    over rounds of the speed-up against the model's FP32 file under ``all`` in the same round."""
    x = np.random.default_rng(0).standard_normal((1, 3, *size)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        calls = {}
        for i, spec in enumerate(models):
            built = build_files(spec, size, Path(tmp) / str(i))
            for kind, label in FILES.items():
                for setting in SETTINGS:
                    calls[(spec, kind, setting)] = session_call(built[label], setting, threads)
        diffs = {}
        for (spec, kind, setting), call in calls.items():
            ref = calls[(spec, kind, "all")](x)
            diffs[(spec, kind, setting)] = float(np.abs(call(x) - ref).max())
            if diffs[(spec, kind, setting)] > MAX_DIFF:
                raise SystemExit(f"{spec} {kind} under {setting!r}: outputs differ from 'all'")
        timed = [
            {key: statistics.median(time_calls(call, x, runs, 3)) for key, call in calls.items()}
            for _ in range(rounds)
        ]
    rows = []
    for key in calls:
        base = (key[0], "FP32", "all")
        ratios = [r[base] / r[key] for r in timed]
        rows.append(
            {
                "model": key[0],
                "file": key[1],
                "setting": key[2],
                "p50_ms": statistics.median(r[key] for r in timed),
                "speedup_vs_fp32_all": statistics.median(ratios),
                "speedup_range": [min(ratios), max(ratios)],
                "max_abs_diff_vs_all": diffs[key],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models",
        nargs="+",
        default=["student_s", "student_xs", "student_q:width_mult=2,upsample=nearest"],
        help="NAME[:key=value,...]",
    )
    parser.add_argument("--size", type=size_arg, default=(256, 256))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = machine_info()
    size = tuple(args.size)
    rows = measure(args.models, size, args.threads, args.rounds, args.runs)
    print(f"{size[0]}x{size[1]}, batch 1, {args.threads} threads, {args.rounds} rounds")
    print("| model | file | ORT setting | p50 ms | vs FP32 at 'all' (median, min-max) |")
    print("|---|---|---|---:|---:|")
    for r in rows:
        low, high = r["speedup_range"]
        print(
            f"| {r['model']} | {r['file']} | {r['setting']} | {r['p50_ms']:.2f} "
            f"| {r['speedup_vs_fp32_all']:.2f}x ({low:.2f}-{high:.2f}) |"
        )
    result = {
        "size": list(size),
        "threads": args.threads,
        "rounds": args.rounds,
        "runs": args.runs,
        "machine_before": started,
        "machine_after": machine_info(),
        "rows": rows,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
