"""segcompress-edge's numpy pre/postprocessing against the training package's torch code."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from segcompress_edge.prepost import argmax0, preprocess, resize_argmax, resize_argmax_counts

from segcompress.engine.predict import resize_argmax as torch_resize_argmax


def _smooth_logits(rng: np.random.Generator, c: int, h: int, w: int) -> np.ndarray:
    """Logits with regions and borders, as a segmentation model's are (not white noise)."""
    coarse = torch.from_numpy(rng.normal(size=(1, c, max(2, h // 6), max(2, w // 6))))
    fine = F.interpolate(coarse.float(), size=(h, w), mode="bilinear")[0].numpy() * 3
    return (fine + rng.normal(size=(c, h, w)).astype(np.float32) * 0.05).astype(np.float32)


def _differ_only_on_ties(logits: np.ndarray, size: tuple[int, int], a, b) -> None:
    full = F.interpolate(torch.from_numpy(logits)[None], size=size, mode="bilinear")[0]
    rows, cols = np.nonzero(a != b)
    picked = full[:, rows, cols]
    n = torch.arange(len(rows))
    ours, theirs = (torch.from_numpy(m[rows, cols].astype(np.int64)) for m in (a, b))
    gap = (picked[ours, n] - picked[theirs, n]).abs()
    assert len(rows) == 0 or gap.max().item() < 1e-5
    assert len(rows) <= a.size * 1e-3


@pytest.mark.parametrize(
    ("c", "low", "size"),
    [(26, (64, 64), (72, 96)), (7, (32, 48), (33, 50)), (5, (16, 16), (270, 480))],
)
def test_resize_argmax_matches_torch(c: int, low: tuple[int, int], size: tuple[int, int]) -> None:
    rng = np.random.default_rng(c)
    logits = _smooth_logits(rng, c, *low)
    ours = resize_argmax(logits, size)
    theirs = torch_resize_argmax(torch.from_numpy(logits), size)
    full = F.interpolate(torch.from_numpy(logits)[None], size=size, mode="bilinear")[0]
    assert ours.shape == size and ours.dtype == np.uint8
    _differ_only_on_ties(logits, size, ours, theirs)
    _differ_only_on_ties(logits, size, ours, full.argmax(0).numpy().astype(np.uint8))
    assert len(np.unique(ours)) > 1  # real borders were resolved, not one class everywhere


def test_resize_argmax_noise_every_pixel_interpolated() -> None:
    """White noise: almost no settled cells, so the interpolation path carries the result."""
    logits = np.random.default_rng(3).normal(size=(4, 9, 7)).astype(np.float32)
    full = F.interpolate(torch.from_numpy(logits)[None], size=(40, 30), mode="bilinear")[0]
    assert (resize_argmax(logits, (40, 30)) == full.argmax(0).numpy()).all()


def test_preprocess_is_trainings_bit_for_bit() -> None:
    """The former torch preprocessing of ``segcompress predict`` (before it shared this one)."""
    image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    mean, std = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)
    resized = np.array(Image.fromarray(image).resize((48, 40), Image.BILINEAR))
    x = torch.from_numpy(resized).permute(2, 0, 1).float().div(255)
    x = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    ours = preprocess(image, (40, 48), mean, std)
    assert ours.shape == (1, 3, 40, 48) and ours.dtype == np.float32
    assert np.array_equal(ours[0], x.numpy())


@pytest.mark.parametrize(("low", "size"), [((64, 64), (1080, 1920)), ((40, 30), (20, 17))])
def test_counts_are_the_masks_own(low: tuple[int, int], size: tuple[int, int]) -> None:
    """Up- and downsampling: per-class counts from the cells equal counting the mask."""
    logits = _smooth_logits(np.random.default_rng(1), 9, *low)
    ids, counts = resize_argmax_counts(logits, size)
    assert np.array_equal(counts, np.bincount(ids.ravel(), minlength=9))
    assert np.array_equal(ids, resize_argmax(logits, size))


@pytest.mark.parametrize("c", [1, 2, 6, 26])
def test_argmax0_first_maximum_wins(c: int) -> None:
    rng = np.random.default_rng(2)
    logits = rng.integers(0, 3, (c, 20, 20)).astype(np.float32)  # ties
    assert np.array_equal(argmax0(logits), logits.argmax(0))
    logits = rng.standard_normal((c, 33, 17)).astype(np.float32)
    assert np.array_equal(argmax0(logits), logits.argmax(0))
    assert argmax0(logits).dtype == np.uint8
