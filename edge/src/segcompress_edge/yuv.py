"""Video frames kept in the decoder's YUV 4:2:0 from decoding to encoding.

A 1080p frame converted to RGB, shrunk for the model, blended in RGB and converted back to YUV
for the encoder spends most of its CPU on colour conversions and full-size resampling. Here
swscale makes the model-sized RGB input straight from the decoder's planes
(:func:`model_input`), the mask is upsampled to the size of each plane by repeating runs of
rows and columns whose lengths are computed once per size (:class:`NearestUpsampler`), and the
palette, converted to YUV once, is blended into the planes (:class:`YuvPainter`). Blending
commutes with the (affine) RGB->YUV conversion, so the result equals the RGB overlay up to
rounding, except that chroma takes the class of one pixel of each 2x2 block where an RGB
overlay's conversion would average the block's colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any, NamedTuple

import av
import numpy as np

from segcompress_edge.draw import LEGEND_ROWS, Painter
from segcompress_edge.meta import ClassTable

__all__ = [
    "SWS_THREADS",
    "LowColour",
    "NearestUpsampler",
    "YuvPainter",
    "as_yuv420p",
    "model_input",
    "nearest_index",
    "plane",
    "rgb_to_yuv",
    "runs",
]

INTERPOLATION = "BILINEAR"  # swscale's filter whose input is closest to Pillow's bilinear
# swscale on the calling thread: its own slice threads (PyAV's default, one per core) cost as
# much CPU and more in hand-offs, beside the pipeline's busy stages (0.6 ms of 19 per 1080p
# frame end to end, measured).
SWS_THREADS = 1
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
    return frame.reformat(width=width, height=height, format="yuv420p", threads=SWS_THREADS)


def model_input(frame: Any, input_size: Sequence[int]) -> np.ndarray:
    """The ``H x W x 3`` RGB uint8 model input, resized by swscale from the decoder's planes
    (never a full-size RGB frame)."""
    h, w = int(input_size[0]), int(input_size[1])
    small = frame.reformat(
        width=w, height=h, format="rgb24", interpolation=INTERPOLATION, threads=SWS_THREADS
    )
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


class Runs(NamedTuple):
    """Nearest-neighbour resize of a low-resolution array to one plane's size, as runs:
    :func:`nearest_index` never decreases, so each source row covers ``rows[r]`` consecutive
    output rows and each source column ``cols[c]`` consecutive output columns (0 where a side
    shrinks). ``areas``/``codes``: the cells' few distinct areas, and for each cell its area's
    index times 256, to count classes by area with one integer ``bincount``."""

    rows: np.ndarray
    cols: np.ndarray
    areas: np.ndarray
    codes: np.ndarray


@lru_cache(maxsize=8)
def runs(low: tuple[int, int], out: tuple[int, int]) -> Runs:
    """The :class:`Runs` of a ``low`` (h, w) to ``out`` (H, W) resize, computed once per size."""
    rows = np.bincount(nearest_index(out[0], low[0]), minlength=low[0])
    cols = np.bincount(nearest_index(out[1], low[1]), minlength=low[1])
    areas, index = np.unique(np.outer(rows, cols).ravel(), return_inverse=True)
    return Runs(rows, cols, areas, index.astype(np.intp) * 256)


class NearestUpsampler:
    """Class ids (or any values) of a low-resolution mask at a frame's luma and chroma sizes,
    by nearest neighbour: two ``np.repeat`` by the :class:`Runs`' lengths (copies of runs,
    where an index table's ``np.take`` gathers pixel by pixel). :meth:`columns` and
    :meth:`rows` are its two halves: the overlay repeats the rows as it blends, so no
    full-size colour plane waits in a queue."""

    @staticmethod
    def columns(low: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """``low`` (h x w) resized to ``size[1]`` columns; still h rows."""
        return np.repeat(low, runs(low.shape, size).cols, axis=1)

    @staticmethod
    def rows(wide: np.ndarray, low_shape: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
        """:meth:`columns`' result resized to ``size[0]`` rows."""
        return np.repeat(wide, runs(low_shape, size).rows, axis=0)

    @staticmethod
    def upsample(low: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        wide = NearestUpsampler.columns(low, size)
        return NearestUpsampler.rows(wide, low.shape, size)

    @staticmethod
    def counts(low: np.ndarray, size: tuple[int, int], num_classes: int) -> np.ndarray:
        """Pixel count of each class (ids < 256) in :meth:`upsample`'s result, from the cells'
        areas: per distinct area, the classes' cells counted, times the area."""
        r = runs(low.shape, size)
        cells = np.bincount(r.codes + low.ravel(), minlength=len(r.areas) * 256)
        counts = r.areas @ cells.reshape(len(r.areas), 256)
        return counts[:num_classes].astype(np.int64)


class LowColour(NamedTuple):
    """A plane's colour term with only its columns at the plane's size (``wide``: one row per
    row of the model's mask), the rows repeated when :meth:`full` is called."""

    wide: np.ndarray
    low_shape: tuple[int, int]
    size: tuple[int, int]

    def full(self) -> np.ndarray:
        return NearestUpsampler.rows(self.wide, self.low_shape, self.size)


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
    ) -> list[Any]:
        """The colour term of each plane of ``frame``: from the model's low-resolution class
        ids ``low`` by nearest neighbour (the lookup done on the small mask; each a
        :class:`LowColour` whose rows :meth:`overlay` repeats as it blends), or from ``ids``
        at the frame's size (chroma: the top-left pixel of each 2x2 block)."""
        luts = self.luts(*matrix_name(frame))
        if ids is not None:
            chroma = ids[::2, ::2]
            return [np.take(luts[0], ids)] + [np.take(luts[i], chroma) for i in (1, 2)]
        if low is None:
            raise ValueError("colours() needs low or ids")
        sizes = [(frame.height, frame.width)] + [chroma_size(frame.height, frame.width)] * 2
        return [
            LowColour(NearestUpsampler.columns(np.take(lut, low), n), low.shape, n)
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
            dst += colour.full() if isinstance(colour, LowColour) else colour
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
