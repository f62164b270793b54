"""Synthetic 26-class set: teacher, scratch and DIST against schedule length, from the suite's JSON.

Each ``bench_kd_synthetic.py`` run at one ``--epochs`` (teacher and students trained equally
long) writes one results file; this reads them, prints a Markdown table and draws val mIoU
and the DIST gain over scratch against epochs. The figure shows whether the gain is faster
convergence (it shrinks as the schedule grows) or knowledge the student does not reach alone
(it stays).

    .venv/bin/python benchmarks/plot_kd_synthetic_schedule.py \
        benchmarks/results/kd_synthetic.json benchmarks/results/kd_synthetic_60.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from kd_report import save_figure

HERE = Path(__file__).resolve().parent
FIGURE = HERE.parent / "docs" / "kd_synthetic_schedule.png"
ROWS = {"teacher": "teacher", "student_s scratch": "scratch", "student_s + dist": "DIST"}


def load(paths: list[Path]) -> dict[str, list[tuple[int, float, float]]]:
    """Per row label: (epochs, mean val mIoU, std) for every file that has the row."""
    series: dict[str, list[tuple[int, float, float]]] = {label: [] for label in ROWS.values()}
    for path in paths:
        result = json.loads(path.read_text())
        epochs = result["recipe"]["epochs"]
        for entry in result["table"]:
            if entry["row"] in ROWS:
                point = (epochs, entry["miou"], entry["miou_std"])
                series[ROWS[entry["row"]]].append(point)
    return {label: sorted(points) for label, points in series.items() if points}


def gains(series: dict[str, list[tuple[int, float, float]]]) -> list[tuple[int, float, float]]:
    """DIST minus scratch at each schedule both ran, with the two stds added in quadrature."""
    scratch = {e: (m, s) for e, m, s in series.get("scratch", [])}
    return [
        (e, m - scratch[e][0], math.hypot(s, scratch[e][1]))
        for e, m, s in series.get("DIST", [])
        if e in scratch
    ]


def last_quarter_gain(curve: list[float]) -> float:
    """Largest rise of a per-epoch val curve over its last quarter (under 0.5: converged)."""
    start = len(curve) - max(1, len(curve) // 4)
    return max(curve[start:]) - curve[start - 1]


def table(paths: list[Path]) -> str:
    """One Markdown row per schedule: the three rows' val mIoU, the gain per seed, and how far
    each scratch seed still rose over its last quarter."""
    lines = [
        "| epochs | teacher | scratch | DIST | gain | gain per seed | teacher lead over scratch "
        "| scratch last-quarter gain per seed |",
        "|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for path in paths:
        result = json.loads(path.read_text())
        rows = {e["row"]: e for e in result["table"]}
        runs: dict[str, dict[int, dict]] = {}
        for run in result["runs"]:
            runs.setdefault(run["row"], {})[run["seed"]] = run
        teacher, scratch, dist = (rows.get(name) for name in ROWS)
        if not (teacher and scratch and dist):
            continue
        seeds = sorted(set(runs["student_s scratch"]) & set(runs["student_s + dist"]))
        per_seed = [
            runs["student_s + dist"][s]["miou"] - runs["student_s scratch"][s]["miou"]
            for s in seeds
        ]
        quarter = [last_quarter_gain(runs["student_s scratch"][s]["curve"]) for s in seeds]
        signed = " / ".join(f"{g:+.2f}" for g in per_seed)
        lines.append(
            f"| {result['recipe']['epochs']} | {teacher['miou']:.2f} "
            f"| {scratch['miou']:.2f} ± {scratch['miou_std']:.2f} "
            f"| {dist['miou']:.2f} ± {dist['miou_std']:.2f} "
            f"| {dist['miou'] - scratch['miou']:+.2f} | {signed} "
            f"| {teacher['miou'] - scratch['miou']:.2f} "
            f"| {' / '.join(f'{g:+.2f}' for g in quarter)} |"
        )
    return "\n".join(lines)


def plot(series: dict[str, list[tuple[int, float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.4), dpi=100)
    for label, points in series.items():
        epochs, means, stds = zip(*points, strict=True)
        left.errorbar(epochs, means, yerr=stds, marker="o", capsize=3, label=label)
    left.set_ylabel("val mIoU")
    left.set_title("student_s and its teacher, trained equally long", fontsize=9)
    left.legend(fontsize=7)
    gain = gains(series)
    if gain:
        epochs, means, stds = zip(*gain, strict=True)
        right.errorbar(epochs, means, yerr=stds, marker="o", capsize=3, color="C2")
    right.axhline(0, color="black", linewidth=0.8)
    right.set_ylabel("DIST gain over scratch (points)")
    right.set_title("distillation gain against schedule", fontsize=9)
    for ax in (left, right):
        ax.set_xlabel("epochs")
        ax.grid(alpha=0.3)
    fig.suptitle("Synthetic 26-class val, 64x128, 3 student seeds (mean ± std)", fontsize=9)
    save_figure(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, nargs="+", help="bench_kd_synthetic.py JSON files")
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args()
    missing = [str(p) for p in args.results if not p.is_file()]
    if missing:
        parser.error(f"no such results file: {', '.join(missing)}")
    series = load(args.results)
    print(table(args.results))
    plot(series, args.figure)
    print(f"wrote {args.figure}")


if __name__ == "__main__":
    main()
