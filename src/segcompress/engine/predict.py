"""Predicting on image files: colour masks at the original resolution, overlays, comparisons.

Each image is resized to the checkpoint's input size and normalised as in training; the logits
are resized back (bilinearly, before the argmax) so the mask matches the original picture.
"""

from __future__ import annotations

import glob
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from segcompress.data.classes import ClassTable
from segcompress.data.io import IMAGE_EXTENSIONS, read_image, read_mask
from segcompress.data.masks import MaskDecoder
from segcompress.errors import DataError, UsageError
from segcompress.viz import colorize, overlay, plot_comparison

__all__ = ["expand_inputs", "find_ground_truth", "predict_files", "predict_image"]


def expand_inputs(inputs: Sequence[str]) -> list[Path]:
    """Files, folders (searched recursively for images) and glob patterns -> image paths."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
            )
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(item):
            found += sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
        else:
            raise UsageError(f"{item}: no such file, folder or matching pattern")
    if not found:
        raise UsageError(f"no images found in {', '.join(inputs)}")
    return found


def predict_image(
    model: torch.nn.Module,
    image: np.ndarray,
    input_size: Sequence[int],
    mean: Sequence[float],
    std: Sequence[float],
    device: torch.device,
) -> np.ndarray:
    """Class ids (uint8, the image's own height and width) for an RGB uint8 image."""
    h, w = image.shape[:2]
    resized = np.array(
        Image.fromarray(image).resize((input_size[1], input_size[0]), Image.BILINEAR)
    )
    x = torch.from_numpy(resized).permute(2, 0, 1).float().div(255)
    x = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    with torch.no_grad():
        logits = model(x[None].to(device)).float()
        logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
    return logits.argmax(1)[0].to(torch.uint8).cpu().numpy()


def _frame_id(stem: str) -> str:
    return stem.split("_", 1)[0]


def find_ground_truth(image: Path, gt_dir: Path) -> Path | None:
    """The mask of ``image`` in ``gt_dir``: same stem, else same frame id (text before the first
    underscore, e.g. ``024541`` of ``024541_leftImg8bit`` and ``024541_gtFine_polygons``)."""
    candidates = [p for p in gt_dir.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS]
    for match in (
        lambda p: p.stem == image.stem,
        lambda p: _frame_id(p.stem) == _frame_id(image.stem),
    ):
        hits = [p for p in candidates if match(p)]
        if len(hits) == 1:
            return hits[0]
    return None


def _read_ground_truth(path: Path, classes: ClassTable) -> np.ndarray:
    """Index masks as they are; colour masks decoded with the class table's palette."""
    try:
        raw, kind = read_mask(path, "index"), "index"
    except DataError:
        raw, kind = read_mask(path, "rgb"), "rgb"
    return MaskDecoder(classes, kind, max_unknown=1.0).decode(raw, str(path)).ids


def predict_files(
    model: torch.nn.Module,
    state: dict[str, Any],
    images: Sequence[Path],
    out: Path,
    *,
    device: torch.device,
    with_overlay: bool = False,
    gt_dir: Path | None = None,
    alpha: float = 0.5,
) -> list[Path]:
    """Write ``{stem}.png`` colour masks (and overlays / comparisons); returns the files written."""
    classes = ClassTable.from_dict(state["classes"])
    norm = state["normalization"]
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for path in images:
        image = read_image(path)
        ids = predict_image(model, image, state["input_size"], norm["mean"], norm["std"], device)
        color = colorize(ids, classes)
        Image.fromarray(color).save(out / f"{path.stem}.png")
        written.append(out / f"{path.stem}.png")
        if with_overlay:
            Image.fromarray(overlay(image, color, alpha)).save(out / f"{path.stem}_overlay.png")
            written.append(out / f"{path.stem}_overlay.png")
        if gt_dir is not None:
            gt_path = find_ground_truth(path, gt_dir)
            if gt_path is None:
                raise DataError(f"{gt_dir}: no ground-truth mask found for {path.name}")
            gt = _read_ground_truth(gt_path, classes)
            if gt.shape != ids.shape:
                raise DataError(f"{gt_path}: mask size {gt.shape} differs from {path.name}'s")
            figure = out / f"{path.stem}_compare.png"
            titles = ("Input", "Ground Truth", "Predicted")
            plot_comparison([image], [(gt, ids)], classes, figure, titles=titles)
            written.append(figure)
    return written
