"""Benchmark: the teacher against the students on the deployment harness, with the edge targets.

Each model (random initialisation: timing depends on the architecture, not the weights) runs in
torch eager, ONNX Runtime FP32 and ONNX Runtime INT8 (static QDQ, per-channel weights), each
backend in its own process, at batch 1 with a fixed thread count. Prints a Markdown table, the
target ratios and the node types of each INT8 graph (as stored, and as ORT runs it after fusing
QDQ groups into integer kernels), and writes JSON to ``benchmarks/results/deploy.json``.

    .venv/bin/python benchmarks/bench_deploy.py [--img-size 256] [--threads 2] [--runs 50]

Targets (ratios of p50 latencies measured in the same run):
  student INT8 <= teacher torch / 15, student INT8 <= teacher ORT FP32 / 10,
  student INT8 <= student ORT FP32.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import onnx
from harness import add_arguments, machine_snapshot, markdown_table, write_result

from segcompress.cli.common import size_arg
from segcompress.data.formats import DataSpec
from segcompress.deploy.benchmark import benchmark, format_markdown
from segcompress.deploy.quantize import fp32_op_types, op_type_counts, runtime_graph

RESULTS = Path(__file__).resolve().parent / "results" / "deploy.json"
TEACHER = "teacher"
STUDENTS = ("student_s", "student_xs")
BACKENDS = ("torch", "onnx-fp32", "onnx-int8")
# (name, numerator backend of the teacher, required ratio) for each student's INT8 latency.
TEACHER_TARGETS = (
    ("teacher torch / INT8", "torch", 15.0),
    ("teacher ORT FP32 / INT8", "onnx-fp32", 10.0),
)


def _p50(rows: list[dict[str, Any]], model: str, backend: str) -> float:
    return next(
        r["latency_p50_ms"] for r in rows if r["model"] == model and r["backend"] == backend
    )


def target_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each student's ratios against the targets, with pass/fail."""
    out = []
    for student in STUDENTS:
        int8 = _p50(rows, student, "onnx-int8")
        for name, backend, need in TEACHER_TARGETS:
            ratio = _p50(rows, TEACHER, backend) / int8
            out.append(
                {
                    "student": student,
                    "ratio": name,
                    "value": ratio,
                    "target": f">= {need:g}",
                    "met": ratio >= need,
                }
            )
        ratio = _p50(rows, student, "onnx-fp32") / int8
        out.append(
            {
                "student": student,
                "ratio": "own ORT FP32 / INT8",
                "value": ratio,
                "target": ">= 1",
                "met": ratio >= 1.0,
            }
        )
    return out


def int8_ops(workdir: Path) -> dict[str, Any]:
    """Node types of every INT8 file in ``workdir``: the stored QDQ graph, the graph ORT runs
    (QDQ groups fused into integer kernels) and the nodes of the latter that compute in FP32."""
    out = {}
    for path in sorted(workdir.glob("*.int8.onnx")):
        runtime = runtime_graph(path)
        out[path.name.removesuffix(".int8.onnx")] = {
            "qdq_graph": op_type_counts(onnx.load(str(path))),
            "runtime_graph": op_type_counts(runtime),
            "fp32_compute_nodes": fp32_op_types(runtime),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--img-size", type=size_arg, default=(256, 256))
    add_arguments(parser, RESULTS, threads=2, runs=50, results_aliases=("--out",))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--calib-data", help="dataset root for INT8 calibration (default: random)")
    parser.add_argument("--calib-n", type=int, default=16)
    args = parser.parse_args()
    before = machine_snapshot(args.threads)
    calib = DataSpec(root=args.calib_data) if args.calib_data else None
    with tempfile.TemporaryDirectory() as tmp:
        rows = benchmark(
            [TEACHER, *STUDENTS],
            backends=BACKENDS,
            img_size=args.img_size,
            batches=(1,),
            threads=args.threads,
            runs=args.runs,
            warmup=args.warmup,
            calib=calib,
            calib_n=args.calib_n,
            workdir=tmp,
        )
        ops = int8_ops(Path(tmp))
    ratios = target_ratios(rows)
    h, w = args.img_size
    print(
        f"{h}x{w}, batch 1, {args.threads} threads, p50/p90 of {args.runs} runs after "
        f"{args.warmup} warm-up; {before['cpu']}, {before['cores']} cores\n"
    )
    print(format_markdown(rows))
    table = [
        [r["student"], r["ratio"], f"{r['value']:.1f}", r["target"], "yes" if r["met"] else "NO"]
        for r in ratios
    ]
    print("\n" + markdown_table(["student", "ratio", "value", "target", "met"], table))
    for name, counts in ops.items():
        print(f"\n{name} INT8 compute nodes left in FP32: {counts['fp32_compute_nodes'] or 'none'}")
        print(f"{name} INT8 runtime graph: {counts['runtime_graph']}")
    config = {
        "img_size": [h, w],
        "batch": 1,
        "threads": args.threads,
        "runs": args.runs,
        "warmup": args.warmup,
        "calibration": args.calib_data or "smooth random images",
    }
    result = {"config": config, "rows": rows, "ratios": ratios, "int8_ops": ops}
    write_result(args.results, result, before)


if __name__ == "__main__":
    main()
