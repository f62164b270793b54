"""Video frames kept in the decoder's YUV 4:2:0 from decoding to encoding.

A 1080p frame converted to RGB, shrunk for the model, blended in RGB and converted back to YUV
for the encoder spends most of its CPU on colour conversions and full-size resampling. Here
swscale makes the model-sized RGB input straight from the decoder's planes
(:func:`model_input`), the mask is upsampled by precomputed indices to the size of each plane
(:class:`NearestUpsampler`), and the palette, converted to YUV once, is blended into the planes
(:class:`YuvPainter`). Blending commutes with the (affine) RGB->YUV conversion, so the result
equals the RGB overlay up to rounding, except that chroma takes the class of one pixel of each
2x2 block where an RGB overlay's conversion would average the block's colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import av
import numpy as np

from segcompress_edge.draw import LEGEND_ROWS, Painter
from segcompress_edge.meta import ClassTable

__all__ = [
    "NearestUpsampler",
    "YuvPainter",
    "as_yuv420p",
    "model_input",
    "nearest_index",
    "plane",
    "rgb_to_yuv",
]

INTERPOLATION = "BILINEAR"  # swscale's filter whose input is closest to Pillow's bilinear
_KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
_BT709 = 1  # AVCOL_SPC_BT709
_FULL_RANGE = 2  # AVCOL_RANGE_JPEG


def as_yuv420p(frame: Any, size: tuple[int, int] | None = None) -> Any:
    """``frame`` as yuv420p (other pixel formats and ``size`` (W, H) go through swscale);
    a yuv420p frame of the right size is returned as it is."""
    name = frame.format.name
    if name == "yuv420p" and (size is None or size == (frame.width, frame.height)):
        return frame
    width, height = size or (frame.width, frame.height)
    return frame.reformat(width=width, height=height, format="yuv420p")


def model_input(frame: Any, input_size: Sequence[int]) -> np.ndarray:
    """The ``H x W x 3`` RGB uint8 model input, resized by swscale from the decoder's planes
    (never a full-size RGB frame)."""
    h, w = int(input_size[0]), int(input_size[1])
    small = frame.reformat(width=w, height=h, format="rgb24", interpolation=INTERPOLATION)
    return small.to_ndarray()


def plane(frame: Any, index: int) -> np.ndarray:
    """A writable ``height x width`` view of one plane of ``frame`` (its padding cut off)."""
    p = frame.planes[index]
    return np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width]


def matrix_name(frame: Any) -> tuple[str, bool]:
    """(YUV matrix, full range?) the frame's tags say; untagged is what swscale assumes."""
    spc = int(getattr(frame, "colorspace", 0) or 0)
    rng = int(getattr(frame, "color_range", 0) or 0)
    return ("bt709" if spc == _BT709 else "bt601"), rng == _FULL_RANGE


def rgb_to_yuv(rgb: np.ndarray, matrix: str = "bt601", full_range: bool = False) -> np.ndarray:
    """``... x 3`` RGB (0..255) as ``... x 3`` float Y, Cb, Cr in the video's code values."""
    kr, kb = _KR_KB[matrix]
    x = np.asarray(rgb, dtype=np.float64) / 255
    y = kr * x[..., 0] + (1 - kr - kb) * x[..., 1] + kb * x[..., 2]
    pb = (x[..., 2] - y) / (2 * (1 - kb))
    pr = (x[..., 0] - y) / (2 * (1 - kr))
    if full_range:
        return np.stack([255 * y, 128 + 255 * pb, 128 + 255 * pr], axis=-1)
    return np.stack([16 + 219 * y, 128 + 224 * pb, 128 + 224 * pr], axis=-1)


def nearest_index(out_len: int, in_len: int) -> np.ndarray:
    """The source pixel nearest each output pixel's centre, for a resize of ``in_len`` to
    ``out_len``."""
    src = ((np.arange(out_len) + 0.5) * (in_len / out_len)).astype(np.int64)
    return np.minimum(src, in_len - 1)


@lru_cache(maxsize=8)
def _indices(low: tuple[int, int], out: tuple[int, int]) -> tuple[np.ndarray, ...]:
    rows, cols = nearest_index(out[0], low[0]), nearest_index(out[1], low[1])
    area = np.outer(np.bincount(rows, minlength=low[0]), np.bincount(cols, minlength=low[1]))
    return rows, cols, area.ravel().astype(np.float64)  # bincount's weights are float64


class NearestUpsampler:
    """Class ids of a low-resolution mask at a frame's luma and chroma sizes, by nearest
    neighbour through index tables computed once per size (two ``np.take``: a gather of the
    columns, then whole rows)."""

    @staticmethod
    def upsample(low: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        rows, cols, _ = _indices(low.shape, size)
        return np.take(np.take(low, cols, axis=1), rows, axis=0)

    @staticmethod
    def counts(low: np.ndarray, size: tuple[int, int], num_classes: int) -> np.ndarray:
        """Pixel count of each class in :meth:`upsample`'s result, from the cells' areas."""
        area = _indices(low.shape, size)[2]
        counts = np.bincount(low.ravel(), weights=area, minlength=num_classes)
        return counts[:num_classes].astype(np.int64)


def chroma_size(height: int, width: int) -> tuple[int, int]:
    return (height + 1) // 2, (width + 1) // 2


class YuvPainter:
    """:class:`Painter`'s overlay (mask blended over the frame, legend of the classes in view)
    drawn into yuv420p planes: the palette and the legend rows are converted to YUV once.

    The blend ``(1 - alpha) * frame + alpha * colour`` is split into two uint8 terms that
    cannot overflow: the frame's, rounded down (a shift for alpha 1/2), and the colour's,
    rounded, looked up per class at low resolution before the upsampling."""

    def __init__(self, classes: ClassTable, alpha: float = 0.5) -> None:
        self.classes = classes
        self.alpha = alpha
        self.rgb = Painter(classes, alpha)
        base = np.floor((1 - alpha) * np.arange(256))
        self._base = base.astype(np.uint8)
        self._room = 255 - int(base[-1])  # the most the colour's term may add
        self._luts: dict[tuple[str, bool], list[np.ndarray]] = {}
        self._rows: dict[tuple[int, int, str, bool], list[np.ndarray]] = {}
        self._spare: Any = None

    def luts(self, matrix: str, full_range: bool) -> list[np.ndarray]:
        """Per plane, alpha times the palette colour of each class id (256 entries, uint8)."""
        key = (matrix, full_range)
        if key not in self._luts:
            rgb = np.frombuffer(self.rgb.palette, np.uint8).reshape(256, 3)
            yuv = np.clip(np.rint(rgb_to_yuv(rgb, matrix, full_range)), 0, 255)
            scaled = np.minimum(np.rint(self.alpha * yuv), self._room).astype(np.uint8)
            self._luts[key] = [np.ascontiguousarray(scaled[:, i]) for i in range(3)]
        return self._luts[key]

    def colours(
        self, frame: Any, low: np.ndarray | None = None, ids: np.ndarray | None = None
    ) -> list[np.ndarray]:
        """The colour term of each plane of ``frame``: from the model's low-resolution class
        ids ``low`` by nearest neighbour (the lookup done on the small mask), or from ``ids``
        at the frame's size (chroma: the top-left pixel of each 2x2 block)."""
        luts = self.luts(*matrix_name(frame))
        if ids is not None:
            chroma = ids[::2, ::2]
            return [np.take(luts[0], ids)] + [np.take(luts[i], chroma) for i in (1, 2)]
        if low is None:
            raise ValueError("colours() needs low or ids")
        sizes = [(frame.height, frame.width)] + [chroma_size(frame.height, frame.width)] * 2
        return [
            NearestUpsampler.upsample(np.take(lut, low), n)
            for lut, n in zip(luts, sizes, strict=True)
        ]

    def _row(self, class_id: int, height: int, matrix: str, full: bool) -> list[np.ndarray]:
        """A legend row as Y, U, V arrays (chroma: the mean of each 2x2 block, the last
        row or column repeated where a side is odd)."""
        key = (class_id, height, matrix, full)
        if key not in self._rows:
            row = np.asarray(self.rgb._row(class_id, height))
            rh, rw = row.shape[:2]
            padded = np.pad(row, ((0, rh % 2), (0, rw % 2), (0, 0)), mode="edge")
            yuv = rgb_to_yuv(padded, matrix, full)
            h, w = padded.shape[:2]
            chroma = yuv.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
            planes = [yuv[:rh, :rw, 0], chroma[..., 1], chroma[..., 2]]
            self._rows[key] = [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in planes]
        return self._rows[key]

    def overlay(self, frame: Any, colours: list[np.ndarray], shares: np.ndarray) -> Any:
        """A yuv420p frame (the same object each call: encode it before the next) with
        ``frame`` (yuv420p) blended with :meth:`colours`, and the legend of the classes with
        the largest ``shares``."""
        out = self._frame(frame.width, frame.height)
        matrix, full = matrix_name(frame)
        for i, colour in enumerate(colours):
            src, dst = plane(frame, i), plane(out, i)
            if self.alpha == 0.5:
                np.right_shift(src, 1, out=dst)
            else:
                np.copyto(dst, np.take(self._base, src))
            dst += colour
        self._legend(out, shares, matrix, full)
        out.colorspace, out.color_range = frame.colorspace, frame.color_range
        return out

    def _frame(self, width: int, height: int) -> Any:
        """The previous call's frame, for the next overlay: a fresh 1080p buffer would cost
        its pages' first-touch faults every frame. Its previous contents are encoded by then;
        should an encoder still hold a reference, ``make_writable`` gives it a copy."""
        spare = self._spare
        if spare is None or (spare.width, spare.height) != (width, height):
            spare = self._spare = av.VideoFrame(width, height, "yuv420p")
        spare.make_writable()
        return spare

    def _legend(self, out: Any, shares: np.ndarray, matrix: str, full: bool) -> None:
        planes = [plane(out, i) for i in range(3)]
        y = 4
        for class_id in np.argsort(-shares, kind="stable")[:LEGEND_ROWS]:
            if shares[class_id] <= 0:
                break
            rows = self._row(int(class_id), out.height, matrix, full)
            # Clipped at the frame's edges, as a paste is; y and x = 4 are even, so the
            # chroma rows start on a 2x2 block.
            h, w = (
                min(n, room)
                for n, room in zip(rows[0].shape, (out.height - y, out.width - 4), strict=True)
            )
            if h <= 0 or w <= 0:
                break
            planes[0][y : y + h, 4 : 4 + w] = rows[0][:h, :w]
            ch, cw = (h + 1) // 2, (w + 1) // 2
            for i in (1, 2):
                planes[i][y // 2 : y // 2 + ch, 2 : 2 + cw] = rows[i][:ch, :cw]
            y += rows[0].shape[0] + rows[0].shape[0] % 2
