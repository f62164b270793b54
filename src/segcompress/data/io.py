"""Reading images and masks from disk, with every PIL mode converted or refused explicitly.

A user's dataset holds what it holds: grayscale or RGBA photos, palette or 16-bit masks, a
truncated JPEG in a folder of thousands. Each is either converted where the meaning is clear or
refused with the file named, never passed on silently.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from segcompress.errors import DataError

__all__ = ["IMAGE_EXTENSIONS", "read_image", "read_mask"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def _open(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()  # decode now, so truncated files fail here with the file named
        return img
    except FileNotFoundError as exc:
        raise DataError(f"{path}: file not found") from exc
    except PermissionError as exc:
        raise DataError(f"{path}: permission denied; make the file readable") from exc
    except UnidentifiedImageError as exc:
        raise DataError(
            f"{path}: not a readable image (empty or corrupt); replace or remove it"
        ) from exc
    except (
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombWarning,
        Image.DecompressionBombError,
    ) as exc:
        raise DataError(f"{path}: cannot decode image ({exc}); replace or remove it") from exc


def read_image(path: str | Path) -> np.ndarray:
    """An (H, W, 3) uint8 RGB array. Grayscale, palette, RGBA and 16-bit images are converted."""
    path = Path(path)
    img = _open(path)
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit (or 32-bit int) grayscale: keep the top 8 bits of the used range.
        arr = np.asarray(img, dtype=np.int64)
        peak = max(1, int(arr.max()))
        arr = (arr * 255 // max(peak, 255)).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    if img.mode == "F":
        raise DataError(f"{path}: floating-point images are not supported; save it as 8-bit RGB")
    if img.mode != "RGB":
        img = img.convert("RGBA").convert("RGB") if img.mode == "P" else img.convert("RGB")
    return np.array(img, dtype=np.uint8)  # a writable copy: torch refuses read-only arrays


def read_mask(path: str | Path, kind: str) -> np.ndarray:
    """The raw mask: (H, W, 3) uint8 colours for ``kind="rgb"``, (H, W) ids for ``"index"``."""
    path = Path(path)
    img = _open(path)
    mode = img.mode
    if kind == "rgb":
        if mode in ("RGB", "RGBA", "P"):
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
        raise DataError(
            f"{path}: a {mode} mask cannot hold palette colours; this format expects RGB colour "
            "masks (for class-id masks use --format folder, with --mask-kind index)"
        )
    if mode in ("L", "P"):
        return np.asarray(img, dtype=np.uint8)  # palette PNGs store the class id as the index
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        return np.asarray(img, dtype=np.int64)
    if mode in ("RGB", "RGBA"):
        arr = np.asarray(img, dtype=np.uint8)[..., :3]
        if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
            return np.ascontiguousarray(arr[..., 0])  # grey saved as RGB: the id is any channel
        raise DataError(
            f"{path}: colour mask found where class-id masks are expected; give a class table "
            "with colours (--classes) and --mask-kind rgb to decode colours"
        )
    raise DataError(f"{path}: unsupported mask mode {mode}; save masks as 8-bit PNG")
