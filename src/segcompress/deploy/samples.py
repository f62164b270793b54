"""Input images for export checks, calibration and agreement tests.

Real images go through the evaluation preprocessing (resize to the model's input size, normalise)
so that what calibration sees is what inference sees; random images stand in when no data is
given (export parity on random inputs, architecture-only benchmarks).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from segcompress.data.dataset import SegmentationDataset, load_split
from segcompress.data.formats import DataSpec
from segcompress.data.transforms import MEAN, STD
from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.runtime import renormalize
from segcompress.errors import DataError, UsageError

__all__ = ["batches", "dataset_for", "dataset_images", "random_images", "smooth_images"]


def dataset_for(info: ModelInfo, spec: DataSpec, split: str, flag: str) -> SegmentationDataset:
    """``split`` of ``spec`` at the model's input size, checked against the model's classes.

    ``flag`` names the command-line flag that gave the data, for error messages.
    """
    if spec.format is None and info.dataset_format:
        spec = dataclasses.replace(spec, format=info.dataset_format)
    try:
        dataset = load_split(spec, split, img_size=info.input_size, train=False)
    except DataError as exc:
        raise DataError(f"{flag} {spec.root}: {exc}") from exc
    if len(dataset) == 0:
        raise DataError(f"{flag} {spec.root}: split '{split}' has no images; give a filled split")
    if dataset.classes.names != info.classes.names:
        raise UsageError(
            f"{flag} {spec.root}: the dataset's {dataset.classes.num_classes} classes differ from "
            f"the model's {info.classes.num_classes}; pass the dataset options (--format, "
            "--level, --void-as-class) the model was trained with"
        )
    return dataset


def dataset_images(dataset: SegmentationDataset, n: int, info: ModelInfo) -> Tensor:
    """``n`` images spread evenly over ``dataset`` (all when it has fewer), in the model's
    normalisation, ``[n, 3, H, W]``."""
    if n <= 0:
        raise UsageError(f"number of images must be positive, got {n}")
    count = min(n, len(dataset))
    index = np.linspace(0, len(dataset) - 1, count).round().astype(int)
    images = torch.stack([dataset[int(i)][0] for i in index])
    return renormalize(images, (MEAN, STD), (info.mean, info.std))


def random_images(n: int, size: tuple[int, int], seed: int = 0) -> Tensor:
    """White-noise N(0, 1) inputs: the extreme case for parity checks (every value unusual)."""
    return torch.randn(n, 3, *size, generator=torch.Generator().manual_seed(seed))


def smooth_images(n: int, size: tuple[int, int], seed: int = 0, cell: int = 8) -> Tensor:
    """Spatially smooth random inputs (a coarse field upsampled plus a little noise), closer to
    photos than white noise: calibration stand-in for architecture-only INT8 timing."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.randn(n, 3, max(size[0] // cell, 1), max(size[1] // cell, 1), generator=g)
    fine = torch.randn(n, 3, *size, generator=g) * 0.3
    return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear") + fine


def batches(images: Tensor, batch: int) -> list[Tensor]:
    """``images`` split into consecutive batches of at most ``batch``."""
    return list(torch.split(images, batch))
