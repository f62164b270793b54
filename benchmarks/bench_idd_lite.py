"""IDD-Lite accuracy: teacher, peers at equal budget, students from scratch and distilled.

Every row is trained with one recipe (``benchmarks/configs/idd_lite.yaml``: epochs, image size,
augmentation, optimizer) on the 1403 training images and scored on the 204 val images
(level-1, 7 classes). Students run over three seeds (mean ± std); teacher and peers over one.
Peers: MONAI's ``AttentionUnet`` (``pip install '.[monai]'``), the registry's ``unet`` and
``macunet``, all near the teacher's parameter count. Distillation methods: pixel KD (``kl``),
CWD, KD + CWD (``student_s`` only) and KD + feature distillation. Prints a Markdown table and the
targets, writes ``benchmarks/results/idd_lite.json`` and the accuracy-latency figure. See
kd_suite.py for how runs are scheduled and kept.

    .venv/bin/python benchmarks/bench_idd_lite.py [--data ../shared/datasets/idd20k_lite]

On a GPU, ``--config benchmarks/configs/idd_lite_gpu.yaml --full-grid --live-teacher`` runs the
native-resolution recipe with every method over every seed; the same arguments plus ``--collect``
then score, time and tabulate those run folders on a CPU machine without training (BENCHMARKS.md
has the commands). ``--variants`` runs what was tried to close the gap to the targets instead.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from kd_suite import Row, Suite, add_arguments, student_rows, write_results

from segcompress.deploy.benchmark import machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "idd_lite.json"
VARIANT_RESULTS = HERE / "results" / "idd_lite_variants.json"
FIGURE = HERE.parent / "docs" / "idd_lite_accuracy_latency.png"
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "idd20k_lite"
PEERS = ("monai_attention_unet", "unet", "macunet")
METHODS = [("kl",), ("cwd",), ("kl", "cwd"), ("kl", "feat")]
# student_xs skips KD + CWD (not among the methods) to save time on 2 cores.
XS_METHODS = [("kl",), ("cwd",), ("kl", "feat")]
# --variants, what else was tried to close the gap to the targets, every seed: CWD's temperature
# and weight (defaults tau 4, weight 3, the CWD paper's Cityscapes setting; mmrazor's Cityscapes
# config uses tau 1, weight 5); a wider student_s (1/25.6 of the teacher's FLOPs at 96x128
# instead of 1/32.9) and student_xs without the stride-2 stem (1/15.1), from scratch and with CWD.
CWD_VARIANTS = [
    ("--cwd-tau", "1", "--lambda-cwd", "5"),
    ("--lambda-cwd", "10"),
    ("--cwd-tau", "2"),
]
WIDE = ("--model-arg", "width_mult=1.4")
FULL_RES = ("--model-arg", "stem_stride=1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IDD-Lite root")
    add_arguments(parser, "runs/bench/idd_lite", str(HERE / "configs" / "idd_lite.yaml"))
    parser.add_argument("--results", type=Path, help=f"JSON (default {RESULTS.name})")
    parser.add_argument("--figure", type=Path, default=FIGURE, help="accuracy-latency PNG")
    parser.add_argument(
        "--full-grid",
        action="store_true",
        help="every method for both students (adds student_xs + KD + CWD)",
    )
    parser.add_argument(
        "--variants",
        action="store_true",
        help="instead of the grid: student_s scratch and CWD, CWD at other temperatures and "
        "weights, a wider student_s and a full-resolution student_xs, every seed (results "
        f"default to {VARIANT_RESULTS.name}, no figure)",
    )
    args = parser.parse_args()
    if not args.data.is_dir():
        parser.error(f"--data {args.data}: not a folder; pass the idd20k_lite root")
    started = machine_info()
    suite = Suite(args, str(args.data), [])
    teacher = Row("teacher", "teacher")
    peers = [Row("peer", name) for name in PEERS]
    if args.variants:
        cwd = Row("student", "student_s", ("cwd",), precompute=True)
        variants = [Row("student", "student_s", ("cwd",), True, flags=f) for f in CWD_VARIANTS]
        wide = [Row("student", "student_s", flags=WIDE), replace(cwd, flags=WIDE)]
        xs_cwd = replace(cwd, model="student_xs", flags=FULL_RES)
        xs = [Row("student", "student_xs", flags=FULL_RES), xs_cwd]
        students, peers = [Row("student", "student_s"), cwd, *variants, *wide, *xs], []
    elif args.full_grid:
        students = student_rows("student_s", METHODS) + student_rows("student_xs", METHODS)
    else:
        students = student_rows("student_s", METHODS) + student_rows("student_xs", XS_METHODS)
    records = suite.run(teacher, peers + students)
    latency = [] if args.no_latency else suite.latency([teacher, *peers, *students], records)
    h, w = suite.img_size
    title = (
        f"IDD-Lite val, {h}x{w}, {suite.epochs} epochs; students: mean ± std of "
        f"{len(args.seeds)} seeds (circle: scratch, triangle: distilled)"
    )
    results = args.results or (VARIANT_RESULTS if args.variants else RESULTS)
    figure = None if args.variants else args.figure
    write_results(results, suite, records, latency, started, figure, title)


if __name__ == "__main__":
    main()
