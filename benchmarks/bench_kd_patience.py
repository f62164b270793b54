"""IDD-Lite: does distillation pay at convergence, and what does the gain depend on?

Every run trains on the IDD-Lite training split minus a fixed holdout
(``benchmarks/splits/idd_lite_holdout.txt``, 216 frames of whole drives), validates on that
holdout every epoch (the curve that shows convergence) and is scored at the end, from its last
checkpoint, on the holdout and on val. Methods are chosen on the holdout (``--suite select``,
which scores the holdout only); val is reported for the recipe chosen there (the file's
``recipe``).

Which rows each suite trains, and which get every seed, is ``benchmarks/suites/
kd_patience.yaml`` (its comments say what each set asks). The recipe is
``benchmarks/configs/idd_lite_patient.yaml`` (96x128, batch 8, AdamW, FP32). Prints the
table and the within-run gains (each distilled row's holdout gain over its scratch row at
every quarter of its schedule: faster convergence or not), writes
``benchmarks/results/kd_patience_<suite>.json`` and, for suites that name one, the
gain-against-schedule figure. Runs are kept under ``--out`` and reused; see kd_suite.py.

    .venv/bin/python benchmarks/bench_kd_patience.py --suite select
    .venv/bin/python benchmarks/bench_kd_patience.py --suite final
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path
from typing import Any

from harness import machine_snapshot, write_result
from kd_report import plus_minus, save_figure
from kd_suite import Row, add_arguments, open_suite

HERE = Path(__file__).resolve().parent
SUITES = HERE / "suites" / "kd_patience.yaml"
RESULTS = HERE / "results" / "kd_patience.json"
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "idd20k_lite"
HOLDOUT = HERE / "splits" / "idd_lite_holdout.txt"


def _scratch_of(row: Row) -> Row:
    """The scratch row with the same model, model arguments, epochs and scale/crop setting."""
    pairs = zip(row.flags[::2], row.flags[1::2], strict=True)
    same = ("--aug-scale", "--model-arg", "--pretrained", "--amp")
    kept = tuple(x for pair in pairs if pair[0] in same for x in pair)
    return Row("student", row.model, flags=kept, epochs=row.epochs)


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


def markdown(table: list[dict[str, Any]], splits: tuple[str, ...] = ("holdout", "val")) -> str:
    """The table; ``splits`` are the scored splits shown (only the holdout while choosing)."""
    head = [f"{s} mIoU" for s in splits] + [f"gain ({s})" for s in splits]
    lines = [
        f"| row | seeds | {' | '.join(head)} | last-quarter gain | train s/run |",
        "|---|" + "---:|" * (len(head) + 3),
    ]
    for e in table:
        cells = [plus_minus(e, s) for s in splits]
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
    config = str(HERE / "configs" / "idd_lite_patient.yaml")
    add_arguments(parser, "runs/bench/patient", config, SUITES, None, ("--stage",))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--figure",
        type=Path,
        help="the gain against schedule; default: the suite's figure (the final suite's)",
    )
    parser.set_defaults(no_latency=True)
    args = parser.parse_args()
    args.eval_splits = ["holdout", "val"]  # a suite may score fewer (select: the holdout only)
    if not args.data.is_dir():
        parser.error(f"--data {args.data}: not a folder; pass the idd20k_lite root")
    started = machine_snapshot(args.threads)
    suite, row_set = open_suite(args, SUITES, str(args.data), ["--holdout", str(HOLDOUT)])
    records = suite.run(row_set.teachers, row_set.rows)
    table = summarise(row_set.teachers + row_set.rows, records)
    print(markdown(table, tuple(args.eval_splits)))
    print(curve_gains_markdown(table))
    named = row_set.options.get("figure")  # relative to the repository
    figure = args.figure or (HERE.parent / named if named else None)
    if figure:
        plot(table, figure, row_set.options.get("figure_model", "student_s"))
    result = {
        "suite": row_set.name,
        "recipe": suite.recipe,
        "chosen": row_set.recipe,
        "seeds": args.seeds,
        "lanes": args.lanes,
        "threads_per_run": args.threads,
        "table": table,
        "runs": records,
    }
    path = args.results.with_name(f"{args.results.stem}_{row_set.name}.json")
    write_result(path, result, started)


if __name__ == "__main__":
    main()
