"""A prepared split: images and class ids decoded and resized once, stored as memory-mapped arrays.

Decoding full-size JPEGs and colour masks every epoch dominates a CPU training step; the cache does
it once (``segcompress data prepare``). Each entry is keyed by its source files' paths, sizes and
modification times and by the target size; entries whose sources changed are rebuilt when the
split is opened, and a changed file list rebuilds the whole split. Writes go to temporary files
renamed into place, and the index is written last, so an interrupted build is never mistaken for
a complete one. The temporary files are preallocated after a free-space check, so a full disk is
one line naming both sizes rather than a SIGBUS, and they are removed when the build fails.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segcompress.data.checked_array import preallocated_npy
from segcompress.data.formats import DataSpec, Pair
from segcompress.errors import DataError
from segcompress.fileio import atomic_write_bytes, replace_atomic

__all__ = ["SplitCache", "default_cache_dir"]

CACHE_VERSION = 1
LoadFn = Callable[[Pair], tuple[np.ndarray, np.ndarray]]


def default_cache_dir() -> Path:
    """``$SEGCOMPRESS_CACHE``, else ``$XDG_CACHE_HOME/segcompress`` (``~/.cache/segcompress``)."""
    if os.environ.get("SEGCOMPRESS_CACHE"):
        return Path(os.environ["SEGCOMPRESS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "segcompress"


def _signature(pair: Pair) -> list[Any]:
    out: list[Any] = [pair.key]
    for path in (pair.image, pair.mask):
        try:
            st = path.stat()
        except OSError as exc:
            raise DataError(f"{path}: cannot stat ({exc.strerror})") from exc
        out += [str(path.resolve()), st.st_size, st.st_mtime_ns]
    return out


class SplitCache:
    """The cache folder of one (dataset, split, size); ``images`` / ``masks`` are memory maps."""

    def __init__(self, directory: Path, size: tuple[int, int]):
        self.directory = directory
        self.size = size
        self._images: np.ndarray | None = None
        self._masks: np.ndarray | None = None

    @classmethod
    def locate(
        cls, spec: DataSpec, split: str, size: tuple[int, int], cache_dir: Path | None = None
    ) -> SplitCache:
        """The folder for this dataset (by its resolved paths and options), split and size."""
        ident = spec.to_dict()
        ident.pop("holdout")  # a holdout selects entries of the split; the cache holds them all
        for field in ("root", "images", "masks", "classes"):
            if ident.get(field):
                ident[field] = str(Path(ident[field]).resolve())
        if spec.classes:  # the class table's content matters, not just its path
            ident["classes_sha1"] = hashlib.sha1(Path(spec.classes).read_bytes()).hexdigest()
        ident.update(split=split, size=list(size), version=CACHE_VERSION)
        digest = hashlib.sha1(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]
        name = (
            f"{Path(spec.root or spec.images or 'data').name}-{split}-{size[0]}x{size[1]}-{digest}"
        )
        return cls((cache_dir or default_cache_dir()) / name, size)

    # -- files -------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.directory / "index.json"

    def exists(self) -> bool:
        return self.index_path.is_file()

    def read_index(self) -> dict[str, Any]:
        try:
            index = json.loads(self.index_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(
                f"{self.index_path}: unreadable cache index; delete the folder"
            ) from exc
        if index.get("version") != CACHE_VERSION:
            raise DataError(f"{self.directory}: cache of another version; run data prepare again")
        return index

    def _write_index(self, entries: list[list[Any]], bad: dict[str, str]) -> None:
        index = {"version": CACHE_VERSION, "size": list(self.size), "entries": entries, "bad": bad}
        atomic_write_bytes(self.index_path, json.dumps(index).encode())

    # -- building ----------------------------------------------------------------------
    def build(
        self, pairs: Sequence[Pair], load: LoadFn, skip_bad: bool = False, progress: bool = False
    ) -> dict[str, str]:
        """Decode every pair into fresh arrays; returns {file: reason} for pairs skipped as bad."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.index_path.exists():
            self.index_path.unlink()  # the old index must not describe the new arrays
        h, w = self.size
        n = len(pairs)
        tmp_img = self.directory / "images.npy.tmp"
        tmp_msk = self.directory / "masks.npy.tmp"
        try:
            images = preallocated_npy(tmp_img, (n, h, w, 3), np.uint8)
            masks = preallocated_npy(tmp_msk, (n, h, w), np.uint8)
            bad = self._fill(pairs, range(n), images, masks, load, skip_bad, progress)
            images.flush()
            masks.flush()
            del images, masks
        except BaseException:
            tmp_img.unlink(missing_ok=True)
            tmp_msk.unlink(missing_ok=True)
            raise
        replace_atomic(tmp_img, self.directory / "images.npy")
        replace_atomic(tmp_msk, self.directory / "masks.npy")
        self._write_index([_signature(p) for p in pairs], bad)
        self._images = self._masks = None
        return bad

    def sync(self, pairs: Sequence[Pair], load: LoadFn, skip_bad: bool = False) -> int:
        """Bring the cache up to date with the sources; returns how many entries were rebuilt."""
        index = self.read_index()
        current = [_signature(p) for p in pairs]
        stored = index["entries"]
        if [s[0] for s in stored] != [c[0] for c in current] or index["size"] != list(self.size):
            self.build(pairs, load, skip_bad)
            return len(pairs)
        stale = [i for i, (s, c) in enumerate(zip(stored, current, strict=True)) if s != c]
        if not stale:
            return 0
        images = np.load(self.directory / "images.npy", mmap_mode="r+")
        masks = np.load(self.directory / "masks.npy", mmap_mode="r+")
        bad = {k: v for k, v in index["bad"].items() if k not in {pairs[i].key for i in stale}}
        bad.update(self._fill(pairs, stale, images, masks, load, skip_bad, False))
        images.flush()
        masks.flush()
        self._write_index(current, bad)
        self._images = self._masks = None
        return len(stale)

    @staticmethod
    def _fill(
        pairs: Sequence[Pair],
        indices: Sequence[int] | range,
        images: np.ndarray,
        masks: np.ndarray,
        load: LoadFn,
        skip_bad: bool,
        progress: bool,
    ) -> dict[str, str]:
        from tqdm import tqdm

        bad: dict[str, str] = {}
        for i in tqdm(indices, desc="prepare", unit="img", disable=not progress, leave=False):
            try:
                images[i], masks[i] = load(pairs[i])
            except DataError as exc:
                if not skip_bad:
                    raise
                bad[pairs[i].key] = str(exc)
        return bad

    # -- reading -----------------------------------------------------------------------
    def bad_keys(self) -> dict[str, str]:
        return dict(self.read_index()["bad"])

    def get(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Entry ``i`` as (image (H, W, 3), ids (H, W)) uint8 copies."""
        if self._images is None:  # opened lazily, once per DataLoader worker
            self._images = np.load(self.directory / "images.npy", mmap_mode="r")
            self._masks = np.load(self.directory / "masks.npy", mmap_mode="r")
        assert self._masks is not None
        return np.array(self._images[i]), np.array(self._masks[i])

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps must not be pickled into worker processes (that would copy the arrays).
        return {**self.__dict__, "_images": None, "_masks": None}
