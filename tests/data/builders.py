"""Small datasets on disk, in every supported layout, built by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from segcompress.data.classes import IDD_LEVEL3


def random_ids(rng: np.random.Generator, shape: tuple[int, int], num_classes: int) -> np.ndarray:
    """Blocky random class ids (8x8 blocks), so nearest resizing keeps every class visible."""
    h, w = shape
    small = rng.integers(0, num_classes, size=((h + 7) // 8, (w + 7) // 8), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8), dtype=np.uint8))[:h, :w]


def ids_to_rgb(ids: np.ndarray, colors=IDD_LEVEL3.colors, void=(0, 0, 0)) -> np.ndarray:
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(colors)] = np.array(colors, dtype=np.uint8)
    palette[255] = void
    return palette[ids]


def image_for(ids: np.ndarray) -> np.ndarray:
    """An RGB image whose red channel encodes the class id, to check image/mask alignment."""
    img = np.zeros((*ids.shape, 3), dtype=np.uint8)
    img[..., 0] = (ids.astype(np.int32) * 9) % 256
    img[..., 1] = 100
    return img


def save(path: Path, array: np.ndarray, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)
    return path


def make_kaggle(
    root: Path,
    split: str,
    keys: list[str],
    shape: tuple[int, int] = (32, 48),
    seed: int = 0,
    image_ext: str = ".png",
) -> dict[str, np.ndarray]:
    """The idd-kaggle layout; returns the ground-truth ids per key (255 = void)."""
    rng = np.random.default_rng(seed)
    truth = {}
    for key in keys:
        ids = random_ids(rng, shape, IDD_LEVEL3.num_classes)
        ids[:4] = 255  # a void strip
        save(root / split / "images" / f"{key}_leftImg8bit{image_ext}", image_for(ids))
        save(root / split / "rgb_labels" / f"{key}_gtFine_polygons.png", ids_to_rgb(ids))
        truth[key] = ids
    return truth


def make_cityscapes_like(
    root: Path,
    split: str,
    keys: list[str],
    image_suffix: str,
    mask_suffix: str,
    num_classes: int,
    shape: tuple[int, int] = (32, 48),
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Official IDD / IDD-Lite layout: keys are "<drive>/<id>"; masks are index PNGs."""
    rng = np.random.default_rng(seed)
    truth = {}
    for key in keys:
        ids = random_ids(rng, shape, num_classes)
        save(root / "leftImg8bit" / split / f"{key}{image_suffix}.jpg", image_for(ids), quality=95)
        save(root / "gtFine" / split / f"{key}{mask_suffix}.png", ids)
        truth[key] = ids
    return truth
