"""Finish and noise: the canvas of looks becomes labels and a lit, textured, noisy RGB image.

Why last and in one place: every texture layer, the shade map, sensor noise, colour grading and
blur are drawn after all geometry, so the labels stay exact while the pixels get harder.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from segcompress.data.synthetic.canvas import Scene
from segcompress.data.synthetic.palette import FINE, VOID

__all__ = ["finish"]


def finish(scene: Scene) -> tuple[np.ndarray, np.ndarray]:
    """Canvas of looks -> labels and a lit, textured, noisy, blurred RGB image."""
    r = scene.rng
    h, w = scene.h, scene.w
    inst = np.asarray(scene.canvas)
    label = np.take(np.asarray(scene.labels, dtype=np.uint8), inst)
    if r.random() < 0.07:  # out-of-ROI strip at the bottom, like IDD's unlabelled margin
        label[h - max(1, int(h * r.uniform(0.03, 0.08))) :] = VOID

    fine = r.standard_normal((h, w), dtype=np.float32)
    blotch = _smooth_noise(r, h, w, max(2.0, w / r.uniform(40, 90)))
    coarse = _smooth_noise(r, h, w, max(4.0, w / r.uniform(6, 16)))
    period_h = r.uniform(2.5, 6.0)
    period_v = r.uniform(2.5, 6.0)
    stripe_h = np.sin(np.arange(h, dtype=np.float32)[:, None] * (2 * math.pi / period_h))
    stripe_v = np.sin(np.arange(w, dtype=np.float32)[None, :] * (2 * math.pi / period_v))
    ramp = np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None]
    layers = (fine, blotch, coarse, stripe_h, stripe_v, ramp)

    # np.take is several times faster than fancy indexing for these per-look lookups.
    amps = np.asarray(scene.tex, dtype=np.float32).T.copy()
    amps[FINE] += r.uniform(0.01, 0.05)  # sensor noise shares the per-pixel noise layer
    lum = np.ones((h, w), dtype=np.float32)
    for amp, layer in zip(amps, layers, strict=True):
        if amp.any():
            lum += np.take(amp, inst) * layer
    lum += r.uniform(0.0, 0.25) * _smooth_noise(r, h, w, max(4.0, w / r.uniform(2, 6)))
    if scene.has_shadow:
        shaded = np.take(np.asarray(scene.shadowed, dtype=bool), inst)
        shade = np.asarray(scene.shade, dtype=np.float32) * (1 / 255)
        lum *= np.where(shaded, shade, np.float32(1.0))

    rgb = np.take(np.asarray(scene.base, dtype=np.float32), inst, axis=0)
    rgb += np.take(np.asarray(scene.delta, dtype=np.float32), inst, axis=0) * blotch[:, :, None]
    rgb *= lum[:, :, None]
    image = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    image = image.point(_grade_lut(r))
    if r.random() < 0.6:
        image = image.filter(ImageFilter.BoxBlur(r.uniform(0.3, 1.0) * w / 512))
    return np.asarray(image), label


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: float) -> np.ndarray:
    """Zero-mean noise with features about ``cell`` pixels wide (bilinear-upsampled)."""
    gh, gw = max(2, int(h / cell) + 2), max(2, int(w / cell) + 2)
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    up = Image.fromarray(grid, "F").resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(up)


def _grade_lut(rng: np.random.Generator) -> list[int]:
    """Exposure, white balance, contrast and gamma as one 768-entry lookup table."""
    x = np.arange(256, dtype=np.float64) / 255
    exposure = rng.uniform(0.75, 1.25)
    gamma = rng.uniform(0.8, 1.25)
    contrast = rng.uniform(0.8, 1.2)
    lut: list[int] = []
    for gain in rng.uniform(0.9, 1.1, 3):
        y = np.clip(x * exposure * gain, 0, 1) ** gamma
        y = np.clip((y - 0.5) * contrast + 0.5, 0, 1)
        lut.extend(np.round(y * 255).astype(np.uint8).tolist())
    return lut
