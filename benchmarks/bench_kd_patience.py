"""IDD-Lite: does distillation pay at convergence, and what does the gain depend on?

Every run trains on the IDD-Lite training split minus a fixed holdout
(``benchmarks/splits/idd_lite_holdout.txt``, 216 frames of whole drives), validates on that
holdout every epoch (the curve that shows convergence) and is scored at the end, from its last
checkpoint, on the holdout and on val. Methods are chosen on the holdout (``--stage select``);
val is reported once, for the recipe fixed in :data:`RECIPE` (``--stage final``).

- ``select``: ``student_s`` at 24 epochs with random scale/crop, one seed: scratch and each
  candidate (CWD, DIST, pixel KD at T = 1, CWD + DIST, with CutMix or ClassMix, with a
  multi-scale teacher), distilled from the teacher trained with scale/crop.
- ``unlabeled``: the recipe with IDD-Lite's 404 test frames as unlabelled frames (their labels
  are not public), three seeds, beside scratch and the recipe on the training split alone.
- ``student_q``: the INT8-shaped student (issue 16), scratch and the recipe, three seeds,
  beside the ``student_s`` headline rows; at twice the widths also at 48 epochs; with each
  decoder (``decoder_upsample``: bilinear, its default and faster in ONNX Runtime's INT8 graph,
  or nearest), and at its own widths at 48 and 96 epochs with the unlabelled frames too, from
  the bf16 teacher and from one that sees 144x192 frames. The within-run table reads each
  distilled row's holdout gain at every quarter of its schedule (faster convergence or not).
- ``longer``: scratch, the recipe, and the recipe with the unlabelled test frames at 48 epochs
  (one seed): whether the frames' gain grows once every row has converged.
- ``long_teacher``: scratch and the recipe (on the training split, and with the unlabelled
  frames) at 48 epochs over three seeds, distilled from a teacher trained 48 epochs too (bf16
  autocast), where the other stages use the 24-epoch teacher; and scratch and the recipe at
  twice ``student_s``'s widths, the recipe also with the unlabelled frames (is the student's
  capacity the limit?); the recipe from the teacher's targets averaged over two scales, with
  pixel KL beside DIST, and from an ensemble of the teacher and its seed-1 run (which this
  stage trains too). Its scratch row is
  shared with ``longer`` and ``final``, which therefore train it over every seed too.
- ``final``: scratch against :data:`RECIPE` at 6 and 24 epochs, with and without scale/crop,
  from teachers trained with and without it (one seed each), at 48 epochs (one seed: is 24
  converged?), and the headline rows over three seeds: both students at 24 epochs.

The recipe is ``benchmarks/configs/idd_lite_patient.yaml`` (96x128, batch 8, AdamW, FP32).
Prints the tables and writes ``benchmarks/results/kd_patience.json`` and the gain-against-
schedule figure ``docs/kd_patience.png``. Runs are kept under ``--out`` and reused; see kd_suite.py.

    .venv/bin/python benchmarks/bench_kd_patience.py --stage select
    .venv/bin/python benchmarks/bench_kd_patience.py --stage final
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from kd_suite import Row, Suite, add_arguments, save_figure

from segcompress.deploy.benchmark import machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "kd_patience.json"
FIGURE = HERE.parent / "docs" / "kd_patience.png"
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "idd20k_lite"
HOLDOUT = HERE / "splits" / "idd_lite_holdout.txt"
LONG, SHORT, LONGER = 24, 6, 48
# Twice the longer schedule: is the small student converged at 48 epochs, and does the gain grow?
LONGEST = 96
NO_SCALE = ("--aug-scale", "1,1")
# A student at twice its widths: student_q's INT8 pays more; student_s tests capacity.
WIDE = ("--model-arg", "width_mult=2")
# student_q's decoder upsampling: bilinear (its default since it won on speed and accuracy;
# ONNX Runtime's 8-bit channels-last nearest resize is a per-element loop, its float bilinear
# one a threaded kernel: BENCHMARKS.md, "A bilinear decoder") or nearest (the original design).
# Every student_q row names its decoder, so that a row means the same model whatever the default.
BILINEAR_DECODER = ("--model-arg", "decoder_upsample=bilinear")
NEAREST_DECODER = ("--model-arg", "decoder_upsample=nearest")
# The cached teacher at scales 1 and 1.5 (each with its mirror): the best test-time views of the
# 48-epoch teacher on the holdout (bench_teacher_tta.py; BENCHMARKS.md has the table).
TTA = ("--tta-scales", "1,1.5")
# Pixel KL beside DIST: on unlabelled frames DIST passes on correlations only, the teacher's
# per-pixel probabilities are the only pixel-level signal there.
KL_T1 = ("--temperature", "1")
TEACHER = Row("teacher", "teacher")  # the recipe's 24 epochs, like the long student rows
TEACHER_NO_SCALE = Row("teacher", "teacher", flags=NO_SCALE)
# As long as the 48-epoch students. bf16 autocast: 2.2x faster than FP32 on a CPU with
# AVX512-BF16 (Zen 4: 1.1 against 2.4 s per teacher step of 8 images, 2 threads).
TEACHER_LONGER = Row("teacher", "teacher", flags=("--amp", "bf16"), epochs=LONGER)
# The recipe's teacher in bf16: on a CPU where FP32 would take 2.4 hours (Zen 4), a same-teacher
# comparison of two students fits in a session.
TEACHER_BF16 = Row("teacher", "teacher", flags=("--amp", "bf16"))
# The same teacher trained at 1.5x the students' sides (IDD-Lite's native size is 227x320): does
# a teacher that sees more of each frame teach the small student more (distill --teacher-size)?
LARGE = "144x192"
TEACHER_LARGE = Row("teacher", "teacher", flags=("--amp", "bf16", "--img-size", LARGE))
# Starting from ImageNet (BENCHMARKS.md, "Does starting from ImageNet pay?"): the teacher's
# decoder on an EfficientNet-Lite2 encoder, and student_lite (student_q's decoder on Lite0), both
# from the pretrained extra's weights, in bf16 autocast.
PRETRAINED = ("--pretrained", "true", "--amp", "bf16")
TEACHER_LITE2 = Row(
    "teacher", "teacher", flags=("--model-arg", "encoder=efficientnet_lite2", *PRETRAINED)
)
CANDIDATES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [  # in the order they run
    (("cwd",), ()),
    (("dist",), ()),
    (("kl",), ("--temperature", "1")),
    (("cwd",), ("--mix", "cutmix")),
    (("cwd",), ("--tta-scales", "0.75,1,1.5")),
    (("cwd",), ("--mix", "classmix")),
    (("cwd", "dist"), ()),
]
# Chosen on the holdout by --stage select (BENCHMARKS.md shows the table it was chosen from).
RECIPE: tuple[tuple[str, ...], tuple[str, ...]] = (("dist",), ())


def _student(model: str, kd: tuple[str, ...], flags: tuple[str, ...], epochs: int, **kw) -> Row:
    return Row("student", model, kd, precompute=bool(kd), flags=flags, epochs=epochs, **kw)


def select_rows() -> list[Row]:
    rows = [_student("student_s", (), (), LONG)]
    return rows + [_student("student_s", kd, flags, LONG) for kd, flags in CANDIDATES]


def _unlabelled_flags(data: Path) -> tuple[str, ...]:
    """IDD-Lite's 404 test frames (no public labels) as unlabelled frames."""
    return ("--unlabeled", str(data / "leftImg8bit" / "test"))


def unlabelled_rows(data: Path, epochs: int = LONG) -> list[Row]:
    """The recipe with IDD-Lite's 404 test frames as unlabelled frames."""
    kd, flags = RECIPE
    return [_student("student_s", kd, flags + _unlabelled_flags(data), epochs)]


def longer_rows(data: Path) -> list[Row]:
    """The final rows at twice the long schedule (one seed): scratch, the recipe, and the
    recipe with the unlabelled frames. Does the frames' gain grow once every row converges?"""
    return [row for row in final_rows(data) if row.epochs == LONGER]


def long_teacher_rows(data: Path) -> list[Row]:
    """Scratch and the recipe at 48 epochs, on the training split and with the unlabelled
    frames, distilled from the teacher trained as long: does the gain grow once the teacher
    keeps its lead over a longer-trained student? At twice the student's widths: is the small
    student's capacity what keeps the gain small? With the teacher's targets averaged over two
    scales: does a stronger cached teacher teach more? With pixel KL beside DIST: do the
    unlabelled frames teach more with a per-pixel term? The unlabelled frames at twice the
    widths: does a student with room to spare take more from them? And the teacher averaged with
    its seed-1 run (an ensemble of two, cached as one): does a stronger average teach more?"""
    kd, flags = RECIPE
    taught = [_student("student_s", kd, flags, LONGER), *unlabelled_rows(data, LONGER)]
    taught.append(_student("student_s", kd, flags + WIDE, LONGER))
    taught.append(replace(taught[1], flags=taught[1].flags + WIDE))
    taught += [replace(row, flags=row.flags + TTA) for row in taught[:2]]
    taught += [replace(row, kd=("dist", "kl"), flags=row.flags + KL_T1) for row in taught[:2]]
    taught += [replace(row, ensemble=(1,)) for row in taught[:2]]
    scratch = [_student("student_s", (), (), LONGER), _student("student_s", (), WIDE, LONGER)]
    return scratch + [replace(row, teacher=TEACHER_LONGER.name) for row in taught]


def headline_rows() -> list[Row]:
    """The rows measured over every seed: both students, scratch and the recipe, 24 epochs."""
    kd, flags = RECIPE
    rows = []
    for model in ("student_s", "student_xs"):
        rows += [_student(model, (), (), LONG), _student(model, kd, flags, LONG)]
    return rows


def pretrained_rows() -> list[Row]:
    """student_lite from ImageNet alone and distilled from the Lite2 teacher, beside the same
    student from random weights (ImageNet's effect), and a tenth of the rate for the encoder
    (a fine-tuning choice, read on the holdout)."""
    kd, flags = RECIPE
    return [
        _student("student_lite", (), ("--amp", "bf16"), LONG),
        _student("student_lite", (), PRETRAINED, LONG),
        _student("student_lite", (), (*PRETRAINED, "--encoder-lr-mult", "0.1"), LONG),
        _student("student_lite", kd, (*PRETRAINED, *flags), LONG, teacher=TEACHER_LITE2.name),
    ]


def student_q_rows(data: Path) -> list[Row]:
    """The INT8-shaped student (issue 16), at its widths and twice them: scratch and the
    recipe at the long schedule, and the wide one at twice that (is 24 epochs converged?); with
    a bilinear decoder at each width, at the schedule its nearest-decoder rows ran (does it
    cost accuracy?); both decoders distilled from the bf16 teacher (does DIST's gain stay?);
    the bilinear decoder at its widths at twice the long schedule, scratch, the recipe and the
    recipe with the unlabelled frames, from the bf16 teacher (issues 14 and 15 for the small
    student: the gain at convergence, where its gap to the teacher is the widest), and from the
    bf16 teacher trained at 1.5x the sides, which sees each frame at that size; scratch and
    that teacher's rows again at twice that schedule (is 48 epochs converged?)."""
    kd, flags = RECIPE
    rows = []
    shapes = (
        (NEAREST_DECODER, LONG),
        (WIDE + NEAREST_DECODER, LONG),
        (WIDE + NEAREST_DECODER, LONGER),
        (WIDE + BILINEAR_DECODER, LONGER),
        (BILINEAR_DECODER, LONG),
    )
    for wide, epochs in shapes:
        rows += [
            _student("student_q", (), wide, epochs),
            _student("student_q", kd, flags + wide, epochs),
        ]
    decoders = (NEAREST_DECODER, BILINEAR_DECODER)
    bf16 = [_student("student_q", kd, flags + decoder, LONG) for decoder in decoders]
    long = [_student("student_q", kd, flags + BILINEAR_DECODER, LONGER)]
    long += [replace(row, flags=row.flags + _unlabelled_flags(data)) for row in long]
    rows.append(_student("student_q", (), BILINEAR_DECODER, LONGER))
    large = [
        replace(row, flags=(*row.flags, "--teacher-size", LARGE), teacher=TEACHER_LARGE.name)
        for row in long
    ]
    longest = [replace(row, epochs=LONGEST) for row in rows[-1:] + large]
    return rows + [replace(row, teacher=TEACHER_BF16.name) for row in bf16 + long] + large + longest


def final_rows(data: Path) -> list[Row]:
    """What the gain depends on (one seed), then the headline rows; twice the long schedule
    checks that 24 epochs is converged (scratch and the recipe, one seed). The unlabelled
    rows (run by ``--stage unlabeled`` and ``longer``) join the table and the figure."""
    kd, flags = RECIPE
    rows = []
    for epochs in (SHORT, LONG):
        for scale in ((), NO_SCALE):
            rows.append(_student("student_s", (), scale, epochs))
            for teacher in (TEACHER, TEACHER_NO_SCALE):
                rows.append(_student("student_s", kd, flags + scale, epochs, teacher=teacher.name))
    rows += [_student("student_s", (), (), LONGER), _student("student_s", kd, flags, LONGER)]
    rows += unlabelled_rows(data) + unlabelled_rows(data, LONGER)
    return list(dict.fromkeys(headline_rows() + rows))


class PatienceSuite(Suite):
    """Headline and unlabelled-frame rows over every seed (but while selecting), the rest over
    the first."""

    def seeds_of(self, row: Row) -> list[int]:
        every = headline_rows() + unlabelled_rows(Path(self.data)) + student_q_rows(Path(self.data))
        every += long_teacher_rows(Path(self.data)) + pretrained_rows()
        if row in every and self.args.stage != "select":
            return self.args.seeds
        return self.args.seeds[:1]


def _scratch_of(row: Row) -> Row:
    """The scratch row with the same model, model arguments, epochs and scale/crop setting."""
    pairs = zip(row.flags[::2], row.flags[1::2], strict=True)
    same = ("--aug-scale", "--model-arg", "--pretrained", "--amp")
    kept = tuple(x for pair in pairs if pair[0] in same for x in pair)
    return _student(row.model, (), kept, row.epochs)


def _stats(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def summarise(rows: list[Row], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per row: holdout and val mIoU over seeds, gain over its scratch row (same model, epochs
    and scale/crop), the last-quarter holdout gain (convergence), train time."""
    by_row: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_row.setdefault(r["row"], []).append(r)
    table = []
    for row in rows:
        runs = by_row.get(row.name)
        if not runs:
            continue
        entry: dict[str, Any] = {"row": row.name, "model": row.model, "kd": list(row.kd)}
        entry.update(group=row.group, epochs=runs[0]["epochs"], seeds=[r["seed"] for r in runs])
        entry["scale_crop"] = "--aug-scale" not in row.flags
        entry["unlabeled"] = "--unlabeled" in row.flags
        for split in runs[0]["split_miou"]:
            entry[split], entry[f"{split}_std"] = _stats([r["split_miou"][split] for r in runs])
        quarter = []
        for r in runs:
            curve = r["curve"]
            start = curve[round(0.75 * len(curve)) - 1]
            quarter.append(max(curve[round(0.75 * len(curve)) :]) - start)
        entry["last_quarter_gain"] = max(quarter)
        curves = [r["curve"] for r in runs]  # a seed whose log lacks epochs shortens the mean
        entry["holdout_curve"] = [statistics.fmean(v) for v in zip(*curves, strict=False)]
        entry["train_s"] = statistics.fmean(r["train_s"] for r in runs)
        entry["teacher"] = row.teacher if row.kd else None
        table.append(entry)
    names = {e["row"]: e for e in table}
    for row in rows:
        entry = names.get(row.name)
        base = names.get(_scratch_of(row).name) if row.group == "student" and row.kd else None
        if entry is not None and base is not None:
            for split in ("holdout", "val"):
                if split in entry and split in base:
                    entry[f"{split}_gain"] = entry[split] - base[split]
            curves = entry["holdout_curve"], base["holdout_curve"]
            if len(curves[0]) == len(curves[1]):  # epoch by epoch, same schedule
                entry["holdout_curve_gain"] = [a - b for a, b in zip(*curves, strict=True)]
    return table


def _pm(entry: dict[str, Any], key: str) -> str:
    if len(entry["seeds"]) > 1:
        return f"{entry[key]:.2f} ± {entry[f'{key}_std']:.2f}"
    return f"{entry[key]:.2f}"


def markdown(table: list[dict[str, Any]], splits: tuple[str, ...] = ("holdout", "val")) -> str:
    """The table; ``splits`` are the scored splits shown (only the holdout while choosing)."""
    head = [f"{s} mIoU" for s in splits] + [f"gain ({s})" for s in splits]
    lines = [
        f"| row | seeds | {' | '.join(head)} | last-quarter gain | train s/run |",
        "|---|" + "---:|" * (len(head) + 3),
    ]
    for e in table:
        cells = [_pm(e, s) for s in splits]
        cells += [f"{e[f'{s}_gain']:+.2f}" if f"{s}_gain" in e else "-" for s in splits]
        lines.append(
            f"| {e['row']} | {len(e['seeds'])} | {' | '.join(cells)} "
            f"| {e['last_quarter_gain']:+.2f} | {e['train_s']:.0f} |"
        )
    return "\n".join(lines)


def curve_gains_markdown(table: list[dict[str, Any]]) -> str:
    """Each distilled row's holdout gain over its scratch row at every quarter of the same run:
    a gain that shrinks towards the end is faster convergence, not a better student."""
    gains = [e for e in table if "holdout_curve_gain" in e]
    if not gains:
        return ""
    lines = [
        "| row | seeds | holdout gain over scratch at epoch (mean curves) |",
        "|---|---:|---|",
    ]
    for e in gains:
        curve = e["holdout_curve_gain"]
        marks = sorted({max(1, round(q * len(curve))) for q in (0.25, 0.5, 0.75, 1.0)})
        cells = ", ".join(f"{m}: {curve[m - 1]:+.2f}" for m in marks)
        lines.append(f"| {e['row']} | {len(e['seeds'])} | {cells} |")
    return "\n".join(lines)


def _plot_label(entry: dict[str, Any]) -> str:
    """``student_s``'s lines differ in scale/crop and the teacher's augmentation; the other
    students' in the teacher they learn from."""
    if entry["model"] == "student_s":
        trained = "without" if "aug-scale" in (entry["teacher"] or "") else "with"
        teacher = f"teacher trained {trained} it"
        label = f"student {'with' if entry['scale_crop'] else 'without'} scale/crop, {teacher}"
    else:
        label = f"from {entry['teacher']}"
    if entry.get("unlabeled"):
        label += ", + 404 unlabelled frames"
    return label


def plot(table: list[dict[str, Any]], path: Path, model: str = "student_s") -> None:
    """Val gain of the recipe over scratch against schedule length, one line per setting."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines: dict[str, list[tuple[int, float]]] = {}
    for e in table:
        if e["model"] == model and "val_gain" in e:
            lines.setdefault(_plot_label(e), []).append((e["epochs"], e["val_gain"]))
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=100)
    for label, points in sorted(lines.items()):
        points.sort()
        ax.plot(*zip(*points, strict=True), marker="o", label=label)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xlabel("epochs (same for scratch and distilled)")
    ax.set_ylabel("val mIoU gain over scratch (points)")
    ax.set_title(f"IDD-Lite 96x128, {model}: distillation gain against schedule", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IDD-Lite root")
    parser.add_argument(
        "--stage",
        choices=(
            "scratch",
            "select",
            "final",
            "unlabeled",
            "student_q",
            "longer",
            "long_teacher",
            "pretrained",
        ),
        required=True,
    )
    add_arguments(parser, "runs/bench/patient", str(HERE / "configs" / "idd_lite_patient.yaml"))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--figure",
        type=Path,
        help=f"the gain against schedule; default {FIGURE} for --stage final, none for the others",
    )
    parser.set_defaults(no_latency=True)
    args = parser.parse_args()
    # Choosing looks at the holdout only; val is scored for the final rows, once.
    args.eval_splits = ["holdout"] if args.stage == "select" else ["holdout", "val"]
    if not args.data.is_dir():
        parser.error(f"--data {args.data}: not a folder; pass the idd20k_lite root")
    started = machine_info()
    suite = PatienceSuite(args, str(args.data), ["--holdout", str(HOLDOUT)])
    rows = select_rows() if args.stage == "select" else final_rows(args.data)
    teachers = [TEACHER] if args.stage == "select" else [TEACHER, TEACHER_NO_SCALE]
    if args.stage == "unlabeled":  # issue 15: what the test frames add, against train only
        rows, teachers = headline_rows()[:2] + unlabelled_rows(args.data), [TEACHER]
    if args.stage == "longer":  # issues 14 and 15: 48 epochs, one seed
        rows, teachers = longer_rows(args.data), [TEACHER]
    if args.stage == "long_teacher":  # issue 14: a teacher trained as long as the students
        rows, teachers = long_teacher_rows(args.data), [TEACHER_LONGER]
    if args.stage == "student_q":  # issue 16: the INT8-shaped student beside student_s
        rows = headline_rows()[:2] + student_q_rows(args.data)
        teachers = [TEACHER, TEACHER_BF16, TEACHER_LARGE]
    if args.stage == "pretrained":
        rows, teachers = pretrained_rows(), [TEACHER_LITE2]
    if args.stage == "scratch":  # rows that need no teacher, e.g. while the teachers train
        rows, teachers = [r for r in final_rows(args.data) if not r.kd], []
    records = suite.run(teachers, rows)
    table = summarise(teachers + rows, records)
    print(markdown(table, tuple(args.eval_splits)))
    print(curve_gains_markdown(table))
    if args.stage == "final" or args.figure:
        plot(
            table, args.figure or FIGURE, "student_q" if args.stage == "student_q" else "student_s"
        )
    result = {
        "stage": args.stage,
        "recipe": suite.recipe,
        "chosen": {"kd": list(RECIPE[0]), "flags": list(RECIPE[1])},
        "seeds": args.seeds,
        "lanes": args.lanes,
        "threads_per_run": args.threads,
        "machine": {**started, "load_average_after": machine_info()["load_average"]},
        "table": table,
        "runs": records,
    }
    path = args.results.with_name(f"{args.results.stem}_{args.stage}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
