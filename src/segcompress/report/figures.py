"""The demo report's figures: sample grids, training curves, accuracy vs latency, confusions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from segcompress.data.classes import ClassTable
from segcompress.report.content import DETAIL_ROWS, FIGURES, ROWS, bench_rows, mean_score
from segcompress.viz import save_figure

__all__ = ["draw_figures"]


# -- figures -------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _plot_curves(curves: dict[str, list[dict[str, Any]]], path: Path) -> None:
    fig = _figure(11, 3.8)
    loss_ax, miou_ax = fig.subplots(1, 2)
    for run, rows in curves.items():
        loss_ax.plot(
            [r["epoch"] for r in rows], [r.get("train_loss") for r in rows], ".-", label=run
        )
        val = [r for r in rows if r.get("val_miou") is not None]
        miou_ax.plot([r["epoch"] for r in val], [100 * r["val_miou"] for r in val], ".-", label=run)
    loss_ax.set(title="Training loss (KD run: task + distillation)", xlabel="epoch")
    miou_ax.set(title="Validation mIoU (%)", xlabel="epoch")
    for ax in (loss_ax, miou_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, path)


def _plot_tradeoff(inputs: dict[str, Any], path: Path) -> None:
    from matplotlib.ticker import ScalarFormatter

    bench, ev = bench_rows(inputs), inputs["evaluations"]
    fig = _figure(7, 4.2)
    ax = fig.subplots()
    for i, (key, label) in enumerate(ROWS):
        if key not in bench or key not in ev:
            continue
        x, y = bench[key]["latency_p50_ms"], 100 * mean_score(ev[key], "iou")
        ax.scatter([x], [y], s=60, color=f"C{i}", label=f"{label} ({bench[key]['backend']})")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.set(xlabel="latency p50, ms (batch 1, log scale)", ylabel="val mIoU (%)")
    ax.set_title("Accuracy vs latency")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    save_figure(fig, path)


def draw_figures(inputs: dict[str, Any], folder: Path) -> dict[str, Path]:
    from segcompress.viz import plot_comparison, plot_confusion

    folder.mkdir(parents=True, exist_ok=True)
    classes = ClassTable.from_dict(inputs["classes"], source="report inputs")
    s = inputs["samples"]
    paths = {name: folder / f"{name}.png" for name in FIGURES}
    grids = {  # figure: image key, mask keys, column titles
        "samples": (
            "images",
            ("gt", "teacher", "student_scratch", "student_kd"),
            ("Teacher", "Student alone", "Student distilled"),
        ),
        "fixes": (
            "fix_images",
            ("fix_gt", "fix_scratch", "fix_kd"),
            ("Student alone", "Student distilled"),
        ),
    }
    for name, (images, masks, titles) in grids.items():
        plot_comparison(
            list(s[images]),
            [list(m) for m in zip(*(s[k] for k in masks), strict=True)],
            classes,
            paths[name],
            titles=("Input", "Ground Truth", *titles),
        )
    _plot_curves(inputs["curves"], paths["curves"])
    _plot_tradeoff(inputs, paths["tradeoff"])
    for key in DETAIL_ROWS:
        matrix = np.asarray(inputs["evaluations"][key]["confusion"])
        plot_confusion(matrix, classes.names, paths[f"confusion_{key}"])
    return paths
