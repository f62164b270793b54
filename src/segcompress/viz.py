"""Pictures of runs and predictions: colour masks, overlays, curves, confusion matrix, sample grids.

Drawing uses matplotlib's Agg backend (no display needed) through its object API, never pyplot's
global state, so it is safe in training loops, tests and worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segcompress.data.classes import ClassTable

__all__ = [
    "colorize",
    "denormalize",
    "overlay",
    "plot_comparison",
    "plot_confusion",
    "plot_curves",
    "save_figure",
]


def colorize(
    mask: np.ndarray, classes: ClassTable, ignore_color: tuple[int, int, int] = (0, 0, 0)
) -> np.ndarray:
    """Class ids [H, W] -> RGB uint8 [H, W, 3] in the table's palette.

    Ids outside the table (the ignore index) get the table's void colour, else ``ignore_color``.
    """
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:] = classes.void_color or ignore_color
    lut[: classes.num_classes] = np.asarray(classes.palette(), dtype=np.uint8)
    return lut[np.clip(np.asarray(mask), 0, 255).astype(np.uint8)]


def denormalize(image: Any, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised float image [3, H, W] (tensor or array) -> RGB uint8 [H, W, 3]."""
    array = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image, np.float32)
    array = (
        array * np.asarray(std, np.float32)[:, None, None]
        + np.asarray(mean, np.float32)[:, None, None]
    )
    return (np.clip(array.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)


def overlay(image: np.ndarray, color_mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a colour mask over an RGB image of the same size."""
    blend = (1 - alpha) * image.astype(np.float32) + alpha * color_mask.astype(np.float32)
    return (blend + 0.5).clip(0, 255).astype(np.uint8)


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def save_figure(fig: Any, path: str | Path) -> None:
    """Render a matplotlib ``Figure`` (no pyplot state) to ``path`` through an atomic write."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from segcompress.fileio import atomic_write

    FigureCanvasAgg(fig)
    path = Path(path)
    with atomic_write(path, "figure") as fh:
        fig.savefig(fh, format=path.suffix.lstrip(".") or "png", bbox_inches="tight")


def plot_curves(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Training loss and validation mIoU per epoch, from the run log's rows."""
    fig = _figure(10, 4)
    loss_ax, miou_ax = fig.subplots(1, 2)
    epochs = [r["epoch"] for r in rows]
    loss_ax.plot(epochs, [r.get("train_loss") for r in rows], marker=".", label="train")
    loss_ax.set(title="Loss", xlabel="epoch")
    evaluated = [r for r in rows if r.get("val_miou") is not None]
    miou_ax.plot(
        [r["epoch"] for r in evaluated], [r["val_miou"] for r in evaluated], marker=".", color="C1"
    )
    miou_ax.set(title="Validation mIoU", xlabel="epoch", ylim=(0, 1))
    for ax in (loss_ax, miou_ax):
        ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_confusion(matrix: Any, names: Sequence[str], path: str | Path) -> None:
    """Row-normalised confusion matrix (each ground-truth class sums to 1; absent rows stay 0)."""
    counts = np.asarray(matrix.detach().cpu() if hasattr(matrix, "detach") else matrix, np.float64)
    totals = counts.sum(1, keepdims=True)
    normalised = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(names)
    side = max(4.0, 0.35 * n + 2)
    fig = _figure(side + 1, side)
    ax = fig.subplots()
    image = ax.imshow(normalised, vmin=0, vmax=1, cmap="Blues")
    ax.set(
        xticks=range(n),
        yticks=range(n),
        xlabel="Predicted",
        ylabel="Ground truth",
        title="Normalised confusion matrix",
    )
    ax.set_xticklabels(names, rotation=90, fontsize=7)
    ax.set_yticklabels(names, fontsize=7)
    if n <= 12:
        for i in range(n):
            for j in range(n):
                color = "white" if normalised[i, j] > 0.5 else "black"
                ax.text(j, i, f"{normalised[i, j]:.2f}", ha="center", va="center", color=color)
    fig.colorbar(image, ax=ax, fraction=0.046)
    save_figure(fig, path)


def plot_comparison(
    images: Sequence[np.ndarray],
    masks: Sequence[Sequence[np.ndarray]],
    classes: ClassTable,
    path: str | Path,
    titles: Sequence[str] = ("Input", "Ground Truth", "Prediction"),
) -> None:
    """One row per image: the image, then each of its masks in colour; legend of shown classes.

    ``masks[i]`` holds the class-id masks of image ``i`` (e.g. ground truth and prediction), one
    column each, titled by ``titles[1:]``.
    """
    from matplotlib.patches import Patch

    rows = len(images)
    cols = 1 + (len(masks[0]) if masks else 0)
    height, width = images[0].shape[:2]
    panel = 3.0
    fig = _figure(cols * panel, rows * panel * height / width)
    axes = np.atleast_2d(fig.subplots(rows, cols, squeeze=False))
    shown: set[int] = set()
    for r in range(rows):
        panels = [images[r], *(colorize(m, classes) for m in masks[r])]
        for m in masks[r]:
            shown.update(int(v) for v in np.unique(m) if v < classes.num_classes)
        for c, picture in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(titles[c])
    palette = classes.palette()
    handles = [
        Patch(color=np.asarray(palette[i]) / 255, label=f"{classes.names[i]} ({i})")
        for i in sorted(shown)
    ]
    if handles:
        # Just below the panels; the tight bounding box on save makes room for it.
        fig.legend(
            handles=handles,
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(4, len(handles)),
            fontsize=7,
        )
    save_figure(fig, path)
