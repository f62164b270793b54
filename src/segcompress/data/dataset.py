"""The torch Dataset: pairs -> (normalised float image [3, H, W], long class ids [H, W])."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors

from segcompress.data.cache import SplitCache
from segcompress.data.classes import ClassTable
from segcompress.data.formats import DatasetFormat, DataSpec, Pair, SplitListing, open_format
from segcompress.data.io import read_image, read_mask
from segcompress.data.masks import DEFAULT_MAX_UNKNOWN, MaskDecoder
from segcompress.data.transforms import AugmentConfig, build_transform, resize_pair
from segcompress.errors import DataError, UsageError

__all__ = ["SegmentationDataset", "as_spec", "list_pairs", "load_split", "prepare_split"]


class SegmentationDataset(Dataset):
    """One split of a dataset at a fixed size, from the prepared cache when there is one.

    Args:
        fmt: the layout, which gives the class table and the mask kind.
        pairs: the frames, in a fixed order.
        size: (height, width) of every sample.
        train: random augmentation when True; resize only when False.
        skip_bad: replace an unreadable sample by the next good one (with a warning) instead of
            failing; pairs already known to be bad are left out.
    """

    def __init__(
        self,
        fmt: DatasetFormat,
        pairs: list[Pair],
        size: tuple[int, int],
        *,
        train: bool,
        augment: AugmentConfig | None = None,
        skip_bad: bool = False,
        max_unknown: float = DEFAULT_MAX_UNKNOWN,
    ):
        self.format = fmt
        self.pairs = pairs
        self.size = size
        self.train = train
        self.skip_bad = skip_bad
        self.decoder = MaskDecoder(fmt.classes, fmt.mask_kind, max_unknown)
        self.transform = build_transform(size, train, augment)
        self.cache: SplitCache | None = None
        self._cache_rows: list[int] = []
        self.skipped = 0

    def attach_cache(self, cache: SplitCache) -> int:
        """Sync ``cache`` with the sources, then read from it; returns entries rebuilt."""
        rebuilt = cache.sync(self.pairs, self.load_source, self.skip_bad)
        bad = cache.bad_keys()
        self._cache_rows = [i for i, p in enumerate(self.pairs) if p.key not in bad]
        self.pairs = [p for p in self.pairs if p.key not in bad]
        self.skipped += len(bad)
        self.cache = cache
        return rebuilt

    @property
    def classes(self) -> ClassTable:
        return self.format.classes

    def __len__(self) -> int:
        return len(self.pairs)

    def load_source(self, pair: Pair) -> tuple[np.ndarray, np.ndarray]:
        """Read, decode and resize one pair from its files: (image (H, W, 3), ids (H, W))."""
        image = read_image(pair.image)
        ids = self.decoder.decode(read_mask(pair.mask, self.format.mask_kind), str(pair.mask)).ids
        if image.shape[:2] != ids.shape:
            raise DataError(
                f"{pair.mask}: mask is {ids.shape[1]}x{ids.shape[0]} but its image "
                f"{pair.image.name} is {image.shape[1]}x{image.shape[0]}; masks must match "
                "their images pixel for pixel"
            )
        return resize_pair(image, ids, self.size)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` at the dataset size, before augmentation, as uint8 arrays."""
        if self.cache is not None:
            return self.cache.get(self._cache_rows[index])
        return self.load_source(self.pairs[index])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        for attempt in range(len(self)):
            i = (index + attempt) % len(self)
            try:
                image, ids = self.load(i)
                break
            except DataError as exc:
                if not self.skip_bad:
                    raise
                warnings.warn(f"skipping bad sample: {exc}", stacklevel=2)
        else:
            raise DataError("every sample of this split failed to load")
        img = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))
        mask = tv_tensors.Mask(torch.from_numpy(ids))
        img, mask = self.transform(img, mask)
        return img.as_subclass(torch.Tensor), mask.as_subclass(torch.Tensor)

    def describe(self) -> dict[str, Any]:
        """Plain-type facts a checkpoint keeps: format, classes, size."""
        return {
            "format": self.format.name,
            "classes": self.classes.to_dict(),
            "size": list(self.size),
        }


def as_spec(source: DataSpec | str | Path | None, **options: Any) -> DataSpec:
    """A DataSpec from a spec, or from a root path plus DataSpec field options."""
    if isinstance(source, DataSpec):
        if options:
            raise TypeError("pass either a DataSpec or a root with options, not both")
        return source
    unknown = set(options) - set(DataSpec.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown dataset options: {sorted(unknown)}")
    return DataSpec(root=None if source is None else str(source), **options)


def list_pairs(
    spec: DataSpec, split: str, skip_bad: bool = False
) -> tuple[DatasetFormat, SplitListing]:
    """Open the layout and pair a split; orphans and duplicates refuse unless ``skip_bad``."""
    fmt = open_format(spec)
    listing = fmt.list_split(split)
    if listing.problems and not skip_bad:
        first = listing.problems[0]
        counts = ", ".join(
            f"{listing.count(k)} {k}"
            for k in ("orphan-image", "orphan-mask", "duplicate-id")
            if listing.count(k)
        )
        raise DataError(
            f"{first.file}: {first.detail} ({counts} in split '{split}'); fix the dataset "
            "(see `segcompress data check`) or pass --skip-bad to leave them out"
        )
    if not listing.pairs:
        image_dir, _ = fmt.split_dirs(split)
        raise DataError(f"{image_dir}: no image/mask pairs in split '{split}'; check the layout")
    return fmt, listing


def load_split(
    source: DataSpec | str | Path | None,
    split: str,
    *,
    img_size: tuple[int, int] | int,
    train: bool,
    augment: AugmentConfig | None = None,
    skip_bad: bool = False,
    use_cache: bool = True,
    cache_dir: Path | None = None,
    max_unknown: float = DEFAULT_MAX_UNKNOWN,
    **options: Any,
) -> SegmentationDataset:
    """Open one split as a Dataset. A prepared cache (``data prepare``) is used when present.

    Args:
        source: a DataSpec, or the dataset root with DataSpec fields as keyword ``options``
            (``format``, ``level``, ``void_as_class``, ``classes``, ``images``, ``masks``, ...).
        split: e.g. ``"train"`` or ``"val"``.
        img_size: (height, width) or one int for a square.
        train: augment (random scale/crop, flip, colour jitter) when True.
    """
    spec = as_spec(source, **options)
    size = _check_size(img_size)
    fmt, listing = list_pairs(spec, split, skip_bad)
    dataset = SegmentationDataset(
        fmt,
        listing.pairs,
        size,
        train=train,
        augment=augment,
        skip_bad=skip_bad,
        max_unknown=max_unknown,
    )
    dataset.skipped = len(listing.problems)
    if use_cache:
        cache = SplitCache.locate(spec, split, size, cache_dir)
        if cache.exists():
            dataset.attach_cache(cache)
    return dataset


def prepare_split(
    source: DataSpec | str | Path | None,
    split: str,
    *,
    img_size: tuple[int, int] | int,
    skip_bad: bool = False,
    cache_dir: Path | None = None,
    progress: bool = False,
    **options: Any,
) -> tuple[SplitCache, int, dict[str, str]]:
    """Build (or refresh) the cache of one split; returns (cache, pairs, bad files skipped)."""
    spec = as_spec(source, **options)
    size = _check_size(img_size)
    fmt, listing = list_pairs(spec, split, skip_bad)
    dataset = SegmentationDataset(fmt, listing.pairs, size, train=False)
    cache = SplitCache.locate(spec, split, size, cache_dir)
    if cache.exists():
        cache.sync(listing.pairs, dataset.load_source, skip_bad)
    else:
        cache.build(listing.pairs, dataset.load_source, skip_bad, progress)
    return cache, len(listing.pairs), cache.bad_keys()


def _check_size(img_size: tuple[int, int] | int) -> tuple[int, int]:
    size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    if len(size) != 2 or any(not isinstance(s, int) or s <= 0 for s in size):
        raise UsageError(f"--img-size {img_size}: expected a positive size, e.g. 256 or 256x512")
    return size  # type: ignore[return-value]
