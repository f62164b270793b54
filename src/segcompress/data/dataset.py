"""The torch Dataset: pairs -> (normalised float image [3, H, W], long class ids [H, W])."""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from segcompress.data.cache import SplitCache
from segcompress.data.classes import ClassTable
from segcompress.data.formats import DatasetFormat, DataSpec, Pair, SplitListing, open_format
from segcompress.data.holdout import HOLDOUT_SPLIT, read_holdout
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
        self.transform = build_transform(size, train, augment, fmt.classes.ignore_index)
        self.cache: SplitCache | None = None
        self._cache_rows: list[int] = []
        self.skipped = 0

    def attach_cache(self, cache: SplitCache, split_pairs: list[Pair] | None = None) -> int:
        """Sync ``cache`` with the sources, then read from it; returns entries rebuilt.

        ``split_pairs``: every pair of the split the cache holds, when this dataset is a part
        of it (a holdout, or the training split without its holdout).
        """
        source = split_pairs if split_pairs is not None else self.pairs
        rebuilt = cache.sync(source, self.load_source, self.skip_bad)
        bad = cache.bad_keys()
        row = {p.key: i for i, p in enumerate(source)}
        kept = [p for p in self.pairs if p.key not in bad]
        self.skipped += len(self.pairs) - len(kept)
        self.pairs = kept
        self._cache_rows = [row[p.key] for p in kept]
        self.cache = cache
        return rebuilt

    def subset(self, indices: list[int]) -> SegmentationDataset:
        """The same split restricted to ``indices`` (in that order), sharing its cache."""
        part = copy.copy(self)
        part.pairs = [self.pairs[i] for i in indices]
        if self.cache is not None:
            part._cache_rows = [self._cache_rows[i] for i in indices]
        return part

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

    def load_good(self, index: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(index actually read, image, ids): with ``skip_bad`` a bad sample is replaced by the
        next good one, and callers pairing samples with other data need to know which."""

        def warn(_: int, exc: DataError) -> None:
            # stacklevel 4: past the helper and load_good, to the line that asked for the sample
            warnings.warn(f"skipping bad sample: {exc}", stacklevel=4)

        return load_skipping_bad(
            index,
            len(self),
            self.load,
            self.skip_bad,
            warn,
            "every sample of this split failed to load",
        )

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        _, image, ids = self.load_good(index)
        return self.transform(*to_tensors(image, ids))

    def describe(self) -> dict[str, Any]:
        """Plain-type facts a checkpoint keeps: format, classes, size."""
        return {
            "format": self.format.name,
            "classes": self.classes.to_dict(),
            "size": list(self.size),
        }


def to_tensors(image: np.ndarray, ids: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 arrays (H, W, 3) and (H, W) -> tensors [3, H, W] and [H, W], sharing memory."""
    return torch.from_numpy(image).permute(2, 0, 1), torch.from_numpy(ids)


def load_skipping_bad(
    index: int,
    count: int,
    load: Callable[[int], tuple[np.ndarray, np.ndarray]],
    skip_bad: bool,
    skipped: Callable[[int, DataError], None],
    none_left: str,
) -> tuple[int, np.ndarray, np.ndarray]:
    """(index read, image, ids) of sample ``index`` of ``count``; with ``skip_bad`` a sample that
    fails is handed to ``skipped`` and the next one (wrapping round) read instead. Labelled and
    unlabelled datasets skip alike, so cached teacher targets pair with either."""
    for attempt in range(count):
        i = (index + attempt) % count
        try:
            return (i, *load(i))
        except DataError as exc:
            if not skip_bad:
                raise
            skipped(i, exc)
    raise DataError(none_left)


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


def _select(spec: DataSpec, split: str) -> tuple[str, Callable[[str], bool] | None]:
    """The split whose files hold ``split``, and which of its frame ids belong to it."""
    if spec.holdout is None:
        if split == HOLDOUT_SPLIT:
            raise UsageError(
                "split 'holdout' needs --holdout FILE (make one with `segcompress data holdout`)"
            )
        return split, None
    holdout = read_holdout(spec.holdout)
    source, keep = holdout.resolve(split)
    if keep is None:
        return split, None
    return source, lambda key: (key in holdout.keys) == keep


def _list(
    spec: DataSpec, split: str, skip_bad: bool
) -> tuple[DatasetFormat, SplitListing, list[Pair]]:
    """(layout, listing of ``split``, every pair of the split on disk that holds it)."""
    source, select = _select(spec, split)
    fmt = open_format(spec)
    listing = fmt.list_split(source)
    if listing.problems and not skip_bad:
        first = listing.problems[0]
        counts = ", ".join(
            f"{listing.count(k)} {k}"
            for k in ("orphan-image", "orphan-mask", "duplicate-id")
            if listing.count(k)
        )
        raise DataError(
            f"{first.file}: {first.detail} ({counts} in split '{source}'); fix the dataset "
            "(see `segcompress data check`) or pass --skip-bad to leave them out"
        )
    every = listing.pairs
    if select is not None:
        listed = read_holdout(spec.holdout).keys  # type: ignore[arg-type]
        missing = listed - {p.key for p in every}
        if missing and not skip_bad:
            raise DataError(
                f"--holdout {spec.holdout}: {len(missing)} listed frames are not in split "
                f"'{source}' (e.g. {sorted(missing)[0]}); make the file again for this dataset"
            )
        listing = SplitListing(split, [p for p in every if select(p.key)], listing.problems)
    if not listing.pairs:
        image_dir, _ = fmt.split_dirs(source)
        raise DataError(f"{image_dir}: no image/mask pairs in split '{split}'; check the layout")
    return fmt, listing, every


def list_pairs(
    spec: DataSpec, split: str, skip_bad: bool = False
) -> tuple[DatasetFormat, SplitListing]:
    """Open the layout and pair a split; orphans and duplicates refuse unless ``skip_bad``.

    With ``spec.holdout``, the holdout's source split leaves its frames out and the split
    ``holdout`` is them (see :mod:`segcompress.data.holdout`).
    """
    fmt, listing, _ = _list(spec, split, skip_bad)
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
    fmt, listing, every = _list(spec, split, skip_bad)
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
        cache = SplitCache.locate(spec, _select(spec, split)[0], size, cache_dir)
        if cache.exists():
            dataset.attach_cache(cache, every)
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
    fmt, _, every = _list(spec, split, skip_bad)
    dataset = SegmentationDataset(fmt, every, size, train=False)
    cache = SplitCache.locate(spec, _select(spec, split)[0], size, cache_dir)
    if cache.exists():
        cache.sync(every, dataset.load_source, skip_bad)
    else:
        cache.build(every, dataset.load_source, skip_bad, progress)
    return cache, len(every), cache.bad_keys()


def _check_size(img_size: tuple[int, int] | int) -> tuple[int, int]:
    size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
    if len(size) != 2 or any(not isinstance(s, int) or s <= 0 for s in size):
        raise UsageError(f"--img-size {img_size}: expected a positive size, e.g. 256 or 256x512")
    return size  # type: ignore[return-value]
