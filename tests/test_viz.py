"""Pictures: palette colours, overlays and figures that are real PNG files."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from segcompress.data.classes import IDD_LEVEL1
from segcompress.viz import (
    colorize,
    denormalize,
    overlay,
    plot_comparison,
    plot_confusion,
    plot_curves,
)


def test_colorize_uses_the_palette_and_void_for_ignored():
    mask = np.array([[0, 6], [255, 3]])
    rgb = colorize(mask, IDD_LEVEL1)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == IDD_LEVEL1.colors[0]
    assert tuple(rgb[0, 1]) == IDD_LEVEL1.colors[6]
    assert tuple(rgb[1, 0]) == (0, 0, 0)


def test_denormalize_inverts_normalisation_and_overlay_blends():
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    rgb = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    x = (torch.from_numpy(rgb).permute(2, 0, 1) / 255 - torch.tensor(mean)[:, None, None]) / (
        torch.tensor(std)[:, None, None]
    )
    assert np.abs(denormalize(x, mean, std).astype(int) - rgb).max() <= 1
    white = np.full((2, 2, 3), 255, np.uint8)
    black = np.zeros((2, 2, 3), np.uint8)
    assert (overlay(white, black, 0.25) == 191).all()


def test_figures_are_written(tmp_path):
    rows = [
        {"epoch": 1, "train_loss": 2.0, "val_miou": 0.1},
        {"epoch": 2, "train_loss": 1.5},
        {"epoch": 3, "train_loss": 1.0, "val_miou": 0.3},
    ]
    plot_curves(rows, tmp_path / "curves.png")
    plot_confusion(np.eye(7, dtype=np.int64) * 5, IDD_LEVEL1.names, tmp_path / "cm.png")
    image = np.zeros((16, 32, 3), np.uint8)
    masks = [(np.zeros((16, 32), np.int64), np.full((16, 32), 6))]
    plot_comparison([image], masks, IDD_LEVEL1, tmp_path / "cmp.png")
    for name in ("curves.png", "cm.png", "cmp.png"):
        with Image.open(tmp_path / name) as img:
            assert img.format == "PNG" and img.width > 100
