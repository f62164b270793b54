"""Synthetic 26-class set: do the distillation methods rank as on IDD-Lite?

The built-in generator's scenes (``segcompress data synth``, IDD level-3 classes, made offline
and deterministic from ``--synth-seed``) are trained with ``benchmarks/configs/synthetic.yaml``
(the patient IDD-Lite recipe: random scale/crop, cached teacher targets that follow it).
The rows are ``benchmarks/suites/kd_synthetic.yaml``'s suite (default ``candidates``:
``student_s`` over three seeds from scratch and with each candidate method of the patience
study). Prints a Markdown table and writes ``benchmarks/results/kd_synthetic.json``.

    .venv/bin/python benchmarks/bench_kd_synthetic.py [--n-train 160] [--n-val 40]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import machine_snapshot
from kd_report import write_results
from kd_suite import add_arguments, open_suite

from segcompress.data.synthetic import is_synthesized, synthesize

HERE = Path(__file__).resolve().parent
SUITES = HERE / "suites" / "kd_synthetic.yaml"
RESULTS = HERE / "results" / "kd_synthetic.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=160)
    parser.add_argument("--n-val", type=int, default=40)
    parser.add_argument("--synth-seed", type=int, default=0)
    config = str(HERE / "configs" / "synthetic.yaml")
    add_arguments(parser, "runs/bench/kd_synthetic", config, SUITES, "candidates")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--figure", type=Path, help="accuracy-latency PNG (default: none)")
    args = parser.parse_args()
    started = machine_snapshot(args.threads)
    data = args.out / "data"
    shape = {
        "n_train": args.n_train,
        "n_val": args.n_val,
        "size": (128, 256),
        "seed": args.synth_seed,
    }
    if not is_synthesized(data, **shape):
        synthesize(data, **shape)
    suite, row_set = open_suite(args, SUITES, str(data))
    records = suite.run(row_set.teachers, row_set.rows)
    latency = [] if args.no_latency else suite.latency(row_set.teachers + row_set.rows, records)
    h, w = suite.img_size
    title = f"Synthetic 26-class val, {h}x{w}, {suite.epochs} epochs, {len(args.seeds)} seeds"
    write_results(args.results, suite, records, latency, started, args.figure, title)


if __name__ == "__main__":
    main()
