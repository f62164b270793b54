"""IDD-Lite accuracy: teacher, peers at equal budget, students from scratch and distilled.

Every row is trained with one recipe (``benchmarks/configs/idd_lite.yaml``: epochs, image size,
augmentation, optimizer) on the 1403 training images and scored on the 204 val images
(level-1, 7 classes). Students run over three seeds (mean ± std); teacher and peers over one.
Peers: MONAI's ``AttentionUnet`` (``pip install '.[monai]'``), the registry's ``unet`` and
``macunet``, all near the teacher's parameter count. Distillation methods: pixel KD (``kl``),
CWD, KD + CWD (``student_s`` only) and KD + feature distillation. The rows are
``benchmarks/suites/idd_lite.yaml``'s ``--suite`` (default ``grid``). Prints a Markdown table
and the targets, writes ``benchmarks/results/idd_lite.json`` and the accuracy-latency figure.
See kd_suite.py for how runs are scheduled and kept.

    .venv/bin/python benchmarks/bench_idd_lite.py [--data ../shared/datasets/idd20k_lite]

On a GPU, ``--config benchmarks/configs/idd_lite_gpu.yaml --full-grid --live-teacher`` runs the
native-resolution recipe with every method over every seed; the same arguments plus ``--collect``
then score, time and tabulate those run folders on a CPU machine without training (BENCHMARKS.md
has the commands). ``--suite variants`` runs what was tried to close the gap to the targets instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness import machine_snapshot
from kd_report import write_results
from kd_suite import add_arguments, open_suite

HERE = Path(__file__).resolve().parent
SUITES = HERE / "suites" / "idd_lite.yaml"
RESULTS = HERE / "results" / "idd_lite.json"
FIGURE = HERE.parent / "docs" / "idd_lite_accuracy_latency.png"
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "idd20k_lite"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IDD-Lite root")
    config = str(HERE / "configs" / "idd_lite.yaml")
    add_arguments(parser, "runs/bench/idd_lite", config, SUITES, "grid")
    parser.add_argument("--results", type=Path, help="JSON (default: the suite's)")
    parser.add_argument("--figure", type=Path, default=FIGURE, help="accuracy-latency PNG")
    parser.add_argument(
        "--full-grid",
        dest="suite",
        action="store_const",
        const="full_grid",
        help="--suite full_grid",
    )
    parser.add_argument(
        "--variants", dest="suite", action="store_const", const="variants", help="--suite variants"
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        parser.error(f"--data {args.data}: not a folder; pass the idd20k_lite root")
    started = machine_snapshot(args.threads)
    suite, row_set = open_suite(args, SUITES, str(args.data))
    records = suite.run(row_set.teachers, row_set.rows)
    rows = row_set.teachers + row_set.rows
    latency = [] if args.no_latency else suite.latency(rows, records)
    h, w = suite.img_size
    title = (
        f"IDD-Lite val, {h}x{w}, {suite.epochs} epochs; students: mean ± std of "
        f"{len(args.seeds)} seeds (circle: scratch, triangle: distilled)"
    )
    results = args.results or RESULTS.with_name(row_set.options.get("results", RESULTS.name))
    figure = None if "results" in row_set.options else args.figure  # variants: no figure
    write_results(results, suite, records, latency, started, figure, title)


if __name__ == "__main__":
    main()
