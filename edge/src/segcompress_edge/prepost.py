"""Numpy pre- and postprocessing, the one implementation that ``segcompress predict`` (ONNX
backends) and ``segcompress-edge`` share, so both give the same mask for the same file.

Preprocessing is training's: Pillow's bilinear resize to the model's input size, ``/255``, then
``(x - mean) / std`` in float32. Postprocessing resizes the logits back to the frame bilinearly
(half-pixel centres, borders clamped: torch's ``align_corners=False``) *before* the argmax.

At 1080p that resize would touch 26 x 2 M floats per frame. :func:`resize_argmax` skips it where
it cannot change the answer: an output pixel interpolates four neighbouring low-resolution
logit vectors with non-negative weights, so when all four share their argmax the blend has it
too. Only pixels whose four neighbours disagree (class borders) are interpolated in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image

__all__ = ["argmax0", "preprocess", "resize_argmax", "resize_argmax_counts", "source_index"]

CHUNK_PIXELS = 1 << 15  # border pixels interpolated at once (4 x C floats each)


def preprocess(
    image: np.ndarray, input_size: Sequence[int], mean: Sequence[float], std: Sequence[float]
) -> np.ndarray:
    """A ``[1, 3, H, W]`` float32 batch for an RGB uint8 ``h x w x 3`` image."""
    h, w = int(input_size[0]), int(input_size[1])
    if image.shape[:2] != (h, w):
        image = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR), dtype=np.uint8)
    lut = _normalise_lut(tuple(float(v) for v in mean), tuple(float(v) for v in std))
    x = np.empty((1, 3, h, w), dtype=np.float32)
    for c in range(3):
        np.take(lut[c], image[:, :, c], out=x[0, c])
    return x


@lru_cache(maxsize=8)
def _normalise_lut(mean: tuple[float, ...], std: tuple[float, ...]) -> np.ndarray:
    """``(v / 255 - mean) / std`` for each uint8 ``v`` and channel, in training's float32
    steps, so each entry is bit for bit what the arithmetic on a pixel gives: one lookup per
    pixel instead of three passes over the batch."""
    x = np.tile(np.arange(256, dtype=np.float32), (3, 1))
    x /= np.float32(255)
    x -= np.asarray(mean, dtype=np.float32)[:, None]
    x /= np.asarray(std, dtype=np.float32)[:, None]
    return x


def source_index(out_len: int, in_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each output pixel: the lower source index, the upper one and the upper one's
    weight, as torch's bilinear ``align_corners=False`` computes them."""
    scale = np.float32(in_len / out_len)
    src = (np.arange(out_len, dtype=np.float32) + np.float32(0.5)) * scale - np.float32(0.5)
    src = np.maximum(src, np.float32(0))
    lo = np.minimum(src.astype(np.int64), in_len - 1)
    hi = np.minimum(lo + 1, in_len - 1)
    return lo, hi, (src - lo).astype(np.float32)


def argmax0(logits: np.ndarray) -> np.ndarray:
    """``logits.argmax(0)`` as uint8 (first maximum wins), in contiguous passes per class:
    several times faster than numpy's strided reduction over the first axis.

    The argmax is the last class that beat the running maximum strictly, and later classes
    have larger ids: so it is the largest ``c * (logits[c] > max(logits[:c]))``, kept with
    ``np.maximum`` (branch-free passes, where masked copies would branch per pixel)."""
    best = logits[0].copy()
    ids = np.zeros(best.shape, dtype=np.uint8)
    higher = np.empty(best.shape, dtype=bool)
    beat = higher.view(np.uint8)
    for c in range(1, len(logits)):
        np.greater(logits[c], best, out=higher)
        np.maximum(best, logits[c], out=best)
        np.multiply(beat, np.uint8(c), out=beat)  # c where class c beat the classes before it
        np.maximum(ids, beat, out=ids)
    return ids


def _spans(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """For each source index 0..n-1, the first output pixel that maps to it and how many do."""
    first = np.searchsorted(index, np.arange(n), "left")
    return first, np.searchsorted(index, np.arange(n), "right") - first


def resize_argmax(logits: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """``argmax`` over classes of ``logits [C, h, w]`` resized bilinearly to ``size`` (H, W),
    as uint8 class ids (see the module docstring)."""
    return resize_argmax_counts(logits, size)[0]


def resize_argmax_counts(logits: np.ndarray, size: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`resize_argmax` and the pixel count of each class in it (from the cells, not by
    counting 2 M pixels again)."""
    c, in_h, in_w = logits.shape
    out_h, out_w = int(size[0]), int(size[1])
    low = argmax0(logits)
    if (in_h, in_w) == (out_h, out_w):
        return low, np.bincount(low.ravel(), minlength=c)[:c]
    y0, y1, wy = source_index(out_h, in_h)
    x0, x1, wx = source_index(out_w, in_w)
    row_first, row_n = _spans(y0, in_h)
    col_first, col_n = _spans(x0, in_w)
    # A cell (y, x) is settled when its four neighbours (as each output pixel picks them) agree.
    ny = np.minimum(np.arange(in_h) + 1, in_h - 1)
    nx = np.minimum(np.arange(in_w) + 1, in_w - 1)
    settled = (low == low[:, nx]) & (low == low[ny]) & (low == low[ny][:, nx])
    out = np.take(np.take(low, x0, axis=1), y0, axis=0)  # faster than low[y0][:, x0]
    area = np.outer(row_n, col_n).ravel()
    counts = np.bincount(low.ravel(), weights=area, minlength=c)[:c].astype(np.int64)
    cy, cx = np.nonzero(~settled)
    per_cell = row_n[cy] * col_n[cx]
    total = int(per_cell.sum())
    if total == 0:
        return out, counts
    # Every output pixel of the unsettled cells, cell by cell, row-major inside each cell.
    cell = np.repeat(np.arange(len(cy)), per_cell)
    k = np.arange(total) - np.repeat(np.cumsum(per_cell) - per_cell, per_cell)
    rows = row_first[cy][cell] + k // col_n[cx][cell]
    cols = col_first[cx][cell] + k % col_n[cx][cell]
    counts -= np.bincount(low[cy, cx][cell], minlength=c)[:c]
    flat = logits.reshape(c, in_h * in_w)
    for s in range(0, total, CHUNK_PIXELS):
        r, q = rows[s : s + CHUNK_PIXELS], cols[s : s + CHUNK_PIXELS]
        top, bot, left, right = y0[r] * in_w, y1[r] * in_w, x0[q], x1[q]
        fx, fy = wx[q], wy[r]
        upper = flat[:, top + left] * (1 - fx) + flat[:, top + right] * fx
        lower = flat[:, bot + left] * (1 - fx) + flat[:, bot + right] * fx
        out[r, q] = (upper * (1 - fy) + lower * fy).argmax(0)
    counts += np.bincount(out[rows, cols], minlength=c)[:c]
    return out, counts
