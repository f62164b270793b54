"""ONNX Runtime's session settings, measured: which graph-optimization level runs INT8 fastest.

The runtime (``deploy.runtime.onnx_session``) opens every file at ``ORT_ENABLE_ALL``. That level
adds ORT's layout passes, among them the NHWC transformer that runs INT8 convolutions in NHWC
and drags the uint8 nearest resizes between them into a slow NHWC loop (BENCHMARKS.md,
"Constant resize scales"). This benchmark times each model's FP32 file and default INT8 file
under each setting of :data:`SETTINGS`, in interleaved rounds (``harness.interleave``), after
checking that every setting gives the same outputs. Writes
``benchmarks/results/ort_settings.json``.

    .venv/bin/python benchmarks/bench_ort_settings.py [--models student_s ...] [--rounds 5]
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from harness import add_arguments, interleave, machine_snapshot, markdown_table, write_result
from int8_files import build_files

from segcompress.cli.common import size_arg

RESULTS = Path(__file__).resolve().parent / "results" / "ort_settings.json"
# name -> (graph optimization level, optimizers disabled); "all" is what the runtime uses.
SETTINGS = {
    "all": ("ORT_ENABLE_ALL", []),
    "extended": ("ORT_ENABLE_EXTENDED", []),
    "all, no NHWC transformer": ("ORT_ENABLE_ALL", ["NhwcTransformer"]),
}
FILES = {"FP32": "FP32", "INT8": "INT8, ORT quantizer, FP32 stem"}  # build_files' labels
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
        timed = interleave(
            {" | ".join(key): (lambda c=call: c(x)) for key, call in calls.items()}, rounds, runs
        )
    rows = []
    for key in calls:
        name, base = " | ".join(key), f"{key[0]} | FP32 | all"
        speedup = timed.speedup(base, name)
        rows.append(
            {
                "model": key[0],
                "file": key[1],
                "setting": key[2],
                "p50_ms": timed.median(name),
                "p90_ms": timed.p90(name),
                "speedup_vs_fp32_all": speedup["median"],
                "speedup_range": speedup["range"],
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
    add_arguments(parser, RESULTS, threads=2, rounds=5, runs=30)
    args = parser.parse_args()
    started = machine_snapshot(args.threads)
    size = tuple(args.size)
    rows = measure(args.models, size, args.threads, args.rounds, args.runs)
    print(f"{size[0]}x{size[1]}, batch 1, {args.threads} threads, {args.rounds} rounds")
    table = []
    for r in rows:
        low, high = r["speedup_range"]
        speedup = f"{r['speedup_vs_fp32_all']:.2f}x ({low:.2f}-{high:.2f})"
        table.append([r["model"], r["file"], r["setting"], f"{r['p50_ms']:.2f}", speedup])
    header = ["model", "file", "ORT setting", "p50 ms", "vs FP32 at 'all' (median, min-max)"]
    print(markdown_table(header, table, numeric=2))
    result = {
        "size": list(size),
        "threads": args.threads,
        "rounds": args.rounds,
        "runs": args.runs,
        "rows": rows,
    }
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
