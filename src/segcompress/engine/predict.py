"""Predicting on image files: colour masks at the original resolution, overlays, comparisons.

Each image is resized to the model's input size and normalised as in training; the logits are
resized back (bilinearly, before the argmax) so the mask matches the original picture. That
resize is done in strips of rows (:func:`resize_argmax`), so memory stays bounded on 1920x1080
and 4K frames: full-resolution logits of a 26-class model at 4K would take 860 MB.
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
from segcompress_edge.prepost import preprocess

from segcompress.data.classes import ClassTable
from segcompress.data.io import IMAGE_EXTENSIONS, read_image, read_mask
from segcompress.data.masks import MaskDecoder
from segcompress.errors import DataError, UsageError
from segcompress.fileio import atomic_write
from segcompress.viz import colorize, overlay, plot_comparison

__all__ = [
    "expand_inputs",
    "predict_files",
    "predict_image",
    "resize_argmax",
    "save_mask",
]

STRIP_BYTES = 32 * 2**20  # float32 logits held at once while resizing to full resolution


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
    """Class ids (uint8, the image's own height and width) for an RGB uint8 image; resized and
    normalised by segcompress-edge's ``preprocess``, the vehicle's own code."""
    h, w = image.shape[:2]
    x = torch.from_numpy(preprocess(image, input_size, mean, std))
    with torch.no_grad():
        logits = model(x.to(device)).float()
    return resize_argmax(logits[0], (h, w))


def resize_argmax(
    logits: torch.Tensor, size: tuple[int, int], max_bytes: int = STRIP_BYTES
) -> np.ndarray:
    """``argmax`` of ``logits [C, h, w]`` resized bilinearly to ``size``, as uint8 class ids.

    Equal to ``F.interpolate(..., "bilinear", align_corners=False).argmax(0)``, but computed
    in strips of output rows with ``grid_sample`` at the same sampling positions, so at most
    ``max_bytes`` of full-resolution logits exist at once.
    """
    c, in_h, in_w = logits.shape
    h, w = size
    rows = max(1, max_bytes // max(1, 4 * c * w))
    # Pixel-centre sampling positions of align_corners=False, clamped to the border as
    # F.interpolate does, expressed in grid_sample's [-1, 1] coordinates.
    xs = ((torch.arange(w, dtype=torch.float32) + 0.5) * in_w / w - 0.5).clamp(0, in_w - 1)
    gx = (xs + 0.5) * 2 / in_w - 1
    out = np.empty((h, w), dtype=np.uint8)
    src = logits[None].float()
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        ys = ((torch.arange(y0, y1, dtype=torch.float32) + 0.5) * in_h / h - 0.5).clamp(0, in_h - 1)
        gy = (ys + 0.5) * 2 / in_h - 1
        grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], dim=-1)[None]
        strip = F.grid_sample(
            src, grid.to(src.device), mode="bilinear", padding_mode="border", align_corners=False
        )
        out[y0:y1] = strip[0].argmax(0).to(torch.uint8).cpu().numpy()
    return out


def _frame_id(stem: str) -> str:
    return stem.split("_", 1)[0]


class _GroundTruth:
    """Masks under a folder, indexed once by stem and by frame id."""

    def __init__(self, gt_dir: Path):
        files = [p for p in sorted(gt_dir.rglob("*")) if p.suffix.lower() in IMAGE_EXTENSIONS]
        self.by_stem: dict[str, list[Path]] = {}
        self.by_frame: dict[str, list[Path]] = {}
        for path in files:
            self.by_stem.setdefault(path.stem, []).append(path)
            self.by_frame.setdefault(_frame_id(path.stem), []).append(path)

    def find(self, image: Path) -> Path | None:
        """The mask of ``image``: same stem, else same frame id (text before the first
        underscore, e.g. ``024541`` of ``024541_leftImg8bit`` and ``024541_gtFine_polygons``)."""
        for hits in (
            self.by_stem.get(image.stem, []),
            self.by_frame.get(_frame_id(image.stem), []),
        ):
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


def save_mask(ids: np.ndarray, classes: ClassTable, path: Path) -> None:
    """A palette PNG: class ids as pixel values, shown in the class colours (ignore: black).

    One file serves people (it looks like a colour mask) and tools (``evaluate --predictions``
    reads the ids).
    """
    img = Image.frombytes("P", (ids.shape[1], ids.shape[0]), np.ascontiguousarray(ids).tobytes())
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: classes.num_classes] = np.array(classes.palette(), dtype=np.uint8)
    img.putpalette(palette.ravel().tolist())
    with atomic_write(path, "mask") as fh:
        img.save(fh, format="PNG")


def predict_files(
    predictor: Any,
    images: Sequence[Path],
    out: Path,
    *,
    with_overlay: bool = False,
    gt_dir: Path | None = None,
    alpha: float = 0.5,
) -> list[Path]:
    """Write ``{stem}.png`` masks (and overlays / comparisons) with a runtime ``Predictor``
    (``segcompress.load_predictor``); returns the files written."""
    classes = predictor.classes
    out.mkdir(parents=True, exist_ok=True)
    truth = _GroundTruth(gt_dir) if gt_dir is not None else None
    written: list[Path] = []
    for path in images:
        image = read_image(path)
        ids = predictor.predict_image(image)
        save_mask(ids, classes, out / f"{path.stem}.png")
        written.append(out / f"{path.stem}.png")
        if with_overlay:
            color = colorize(ids, classes)
            with atomic_write(out / f"{path.stem}_overlay.png", "overlay") as fh:
                Image.fromarray(overlay(image, color, alpha)).save(fh, format="PNG")
            written.append(out / f"{path.stem}_overlay.png")
        if truth is not None:
            gt_path = truth.find(path)
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
