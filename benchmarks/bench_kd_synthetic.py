"""Synthetic 26-class set: do the distillation methods rank as on IDD-Lite?

The built-in generator's scenes (``segcompress data synth``, IDD level-3 classes, made offline
and deterministic from ``--synth-seed``) are trained with ``benchmarks/configs/synthetic.yaml``
(the patient IDD-Lite recipe: random scale/crop, cached teacher targets that follow it).
``student_s`` runs over three seeds from scratch and with each candidate method of
``bench_kd_patience.py``. Prints a Markdown table and writes
``benchmarks/results/kd_synthetic.json``.

    .venv/bin/python benchmarks/bench_kd_synthetic.py [--n-train 160] [--n-val 40]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench_kd_patience import CANDIDATES
from kd_suite import Row, Suite, add_arguments, write_results

from segcompress.data.synthetic import is_synthesized, synthesize
from segcompress.deploy.benchmark import machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "kd_synthetic.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=160)
    parser.add_argument("--n-val", type=int, default=40)
    parser.add_argument("--synth-seed", type=int, default=0)
    add_arguments(parser, "runs/bench/kd_synthetic", str(HERE / "configs" / "synthetic.yaml"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--figure", type=Path, help="accuracy-latency PNG (default: none)")
    args = parser.parse_args()
    started = machine_info()
    data = args.out / "data"
    shape = {
        "n_train": args.n_train,
        "n_val": args.n_val,
        "size": (128, 256),
        "seed": args.synth_seed,
    }
    if not is_synthesized(data, **shape):
        synthesize(data, **shape)
    suite = Suite(args, str(data), [])
    teacher = Row("teacher", "teacher")
    students = [Row("student", "student_s")]
    students += [Row("student", "student_s", kd, True, flags) for kd, flags in CANDIDATES]
    records = suite.run(teacher, students)
    latency = [] if args.no_latency else suite.latency([teacher, *students], records)
    h, w = suite.img_size
    title = f"Synthetic 26-class val, {h}x{w}, {suite.epochs} epochs, {len(args.seeds)} seeds"
    write_results(args.results, suite, records, latency, started, args.figure, title)


if __name__ == "__main__":
    main()
