"""Masks as pictures: palette PNGs, colour overlays and a legend of the classes in view.

Everything is done by Pillow's C code on whole frames (palette lookup, blend, paste), so a 1080p
overlay costs a few milliseconds rather than numpy's float blend of 6 M values.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from segcompress_edge.meta import ClassTable

__all__ = ["Painter", "mask_png_bytes"]

LEGEND_ROWS = 8  # classes listed, by pixel share in the frame


def _palette_bytes(classes: ClassTable) -> bytes:
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[:] = classes.void_color
    lut[: classes.num_classes] = np.asarray(classes.palette, dtype=np.uint8)
    return lut.tobytes()


def _palette_image(ids: np.ndarray, palette: bytes) -> Image.Image:
    img = Image.frombytes("P", (ids.shape[1], ids.shape[0]), np.ascontiguousarray(ids).tobytes())
    img.putpalette(palette)
    return img


def mask_png_bytes(ids: np.ndarray, classes: ClassTable) -> bytes:
    """A palette PNG, as ``segcompress predict`` writes: class ids as pixel values shown in the
    class colours (ids outside the table: the void colour)."""
    lut = np.zeros((256, 3), dtype=np.uint8)
    lut[: classes.num_classes] = np.asarray(classes.palette, dtype=np.uint8)
    img = _palette_image(ids, lut.tobytes())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class Painter:
    """Draws masks over frames of one size class: cached palette, font and legend rows."""

    def __init__(self, classes: ClassTable, alpha: float = 0.5) -> None:
        self.classes = classes
        self.alpha = alpha
        self.palette = _palette_bytes(classes)
        self._rows: dict[tuple[int, int], Image.Image] = {}

    def _row(self, class_id: int, height: int) -> Image.Image:
        """One legend row (colour swatch and name) for frames ``height`` pixels tall."""
        size = max(12, height // 45)
        key = (class_id, size)
        if key not in self._rows:
            font = ImageFont.load_default(size=size)
            name = self.classes.names[class_id]
            width = int(font.getlength(name)) + size * 2
            row = Image.new("RGB", (width, size + 6), (0, 0, 0))
            draw = ImageDraw.Draw(row)
            draw.rectangle((3, 3, size, size + 2), fill=self.classes.palette[class_id])
            draw.text((size + 6, 2), name, fill=(255, 255, 255), font=font)
            self._rows[key] = row
        return self._rows[key]

    def overlay(self, frame: np.ndarray, ids: np.ndarray, shares: np.ndarray) -> Image.Image:
        """``frame`` with ``ids`` blended over it and the most common classes listed."""
        base = Image.fromarray(frame)
        colour = _palette_image(ids, self.palette).convert("RGB")
        out = Image.blend(base, colour, self.alpha)
        y = 4
        for class_id in np.argsort(-shares, kind="stable")[:LEGEND_ROWS]:
            if shares[class_id] <= 0:
                break
            row = self._row(int(class_id), frame.shape[0])
            out.paste(row, (4, y))
            y += row.height
        return out

    def write_overlay(self, frame: np.ndarray, ids: np.ndarray, path: Path) -> None:
        shares = np.bincount(ids.ravel(), minlength=256)[: self.classes.num_classes]
        self.overlay(frame, ids, shares.astype(np.float64)).save(path, format="PNG")
