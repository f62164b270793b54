"""Mask decoding: RGB colour masks and index masks to class-id arrays, by table lookup.

RGB colours are packed into one 24-bit integer and mapped through a 2**24-entry lookup table, so
decoding costs a few vectorised passes however many classes there are (the earlier scripts looped
over every colour for every pixel). Colours or ids outside the table become ``ignore_index`` and
are counted; above ``max_unknown`` (a fraction of the mask) the mask is refused, naming the file
and its most frequent unknown colours, because that means the wrong palette or a lossy mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from segcompress.data.classes import ClassTable
from segcompress.errors import DataError

__all__ = ["DecodedMask", "MaskDecoder", "pack_rgb"]

_UNKNOWN = 254  # lookup-table marker for "not in the palette"; class ids stay below it
DEFAULT_MAX_UNKNOWN = 0.01


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) uint32 with value R << 16 | G << 8 | B."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    packed = rgb[..., 0].astype(np.uint32) << 16
    packed |= rgb[..., 1].astype(np.uint32) << 8
    packed |= rgb[..., 2]
    return packed


@lru_cache(maxsize=8)
def _rgb_lookup(
    colors: tuple[tuple[int, int, int], ...], void: tuple[int, int, int] | None, ignore: int
) -> np.ndarray:
    lut = np.full(1 << 24, _UNKNOWN, dtype=np.uint8)
    for class_id, (r, g, b) in enumerate(colors):
        lut[(r << 16) | (g << 8) | b] = class_id
    if void is not None:
        lut[(void[0] << 16) | (void[1] << 8) | void[2]] = ignore
    lut.setflags(write=False)
    return lut


@dataclass(frozen=True)
class DecodedMask:
    """Class ids (uint8, ``ignore_index`` where unknown/void) and the count of unknown pixels."""

    ids: np.ndarray
    unknown_pixels: int
    top_unknown: tuple[tuple[tuple[int, ...], int], ...] = ()

    @property
    def unknown_fraction(self) -> float:
        return self.unknown_pixels / max(1, self.ids.size)


class MaskDecoder:
    """Turns a mask array into class ids for one class table.

    Args:
        classes: the table; RGB decoding needs its colours.
        kind: ``"rgb"`` (colour masks) or ``"index"`` (masks already hold class ids).
        max_unknown: fraction of unknown pixels above which ``decode`` raises.
    """

    def __init__(self, classes: ClassTable, kind: str, max_unknown: float = DEFAULT_MAX_UNKNOWN):
        if kind not in ("rgb", "index"):
            raise ValueError(f"kind must be 'rgb' or 'index', got {kind!r}")
        if kind == "rgb" and classes.colors is None:
            raise DataError("RGB masks need a class table with colours (add 'color' to each class)")
        if classes.num_classes >= _UNKNOWN:
            raise DataError(f"at most {_UNKNOWN - 1} classes are supported")
        self.classes = classes
        self.kind = kind
        self.max_unknown = max_unknown
        self._lut = (
            _rgb_lookup(classes.colors, classes.void_color, classes.ignore_index)
            if kind == "rgb"
            else None
        )
        index_lut = np.full(256, _UNKNOWN, dtype=np.uint8)
        index_lut[: classes.num_classes] = np.arange(classes.num_classes, dtype=np.uint8)
        index_lut[classes.ignore_index] = classes.ignore_index
        self._index_lut = index_lut

    def decode(self, mask: np.ndarray, source: str = "mask") -> DecodedMask:
        """Decode (H, W, 3) colours or (H, W) ids; ``source`` names the file in errors."""
        if self.kind == "rgb":
            if mask.ndim != 3 or mask.shape[2] != 3:
                raise DataError(
                    f"{source}: expected an RGB colour mask, got shape {mask.shape}; "
                    "masks of this format are colour PNGs in the class palette"
                )
            packed = pack_rgb(mask)
            ids = self._lut[packed]
        else:
            if mask.ndim != 2:
                raise DataError(f"{source}: expected a single-channel index mask, got {mask.shape}")
            packed = mask
            if mask.dtype != np.uint8:  # 16-bit PNGs: values above 255 can only be unknown
                mask = np.where(mask > 255, _UNKNOWN, mask).astype(np.uint8)
            ids = self._index_lut[mask]
        unknown = ids == _UNKNOWN
        n_unknown = int(np.count_nonzero(unknown))
        top: tuple[tuple[tuple[int, ...], int], ...] = ()
        if n_unknown:
            values, counts = np.unique(packed[unknown], return_counts=True)
            order = np.argsort(counts)[::-1][:5]
            top = tuple((self._describe(int(values[i])), int(counts[i])) for i in order)
            ids[unknown] = self.classes.ignore_index
        decoded = DecodedMask(ids=ids, unknown_pixels=n_unknown, top_unknown=top)
        if decoded.unknown_fraction > self.max_unknown:
            raise DataError(
                f"{source}: {100 * decoded.unknown_fraction:.1f}% of pixels are outside the "
                f"class table (most frequent: {self.format_unknown(top)}); check --format / "
                "--classes, or re-save the mask losslessly (PNG, nearest-neighbour resizing)"
            )
        return decoded

    def _describe(self, value: int) -> tuple[int, ...]:
        if self.kind == "rgb":
            return ((value >> 16) & 255, (value >> 8) & 255, value & 255)
        return (value,)

    @staticmethod
    def format_unknown(top: tuple[tuple[tuple[int, ...], int], ...]) -> str:
        """``[((1, 2, 3), 40), ...]`` -> ``"(1,2,3): 40 px, ..."``."""
        parts = [
            f"({','.join(map(str, v))}): {n} px" if len(v) > 1 else f"{v[0]}: {n} px"
            for v, n in top
        ]
        return ", ".join(parts) or "none"
