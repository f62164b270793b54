"""Per-class pixel statistics of a split and class weights computed from them.

Counts are taken at the masks' own resolution. Weights are never hard-coded: they come from the
training split, and are cached beside the prepared data keyed by the masks' sizes and mtimes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from segcompress.data.cache import default_cache_dir
from segcompress.data.classes import ClassTable
from segcompress.data.formats import DataSpec, Pair
from segcompress.data.io import read_mask
from segcompress.data.masks import MaskDecoder
from segcompress.errors import UsageError
from segcompress.fileio import atomic_write_bytes

__all__ = ["WEIGHT_METHODS", "ClassStats", "class_weights", "compute_stats", "split_stats"]

WEIGHT_METHODS = ("median-freq", "inverse-log")


@dataclass(frozen=True)
class ClassStats:
    """Pixel counts per class, plus the pixels of the images in which each class occurs."""

    classes: ClassTable
    pixels: np.ndarray  # (C,) int64
    image_pixels: np.ndarray  # (C,) int64: total pixels of images containing the class
    ignored: int
    images: int

    @property
    def shares(self) -> np.ndarray:
        total = self.pixels.sum()
        return self.pixels / total if total else np.zeros_like(self.pixels, dtype=float)

    def to_dict(self) -> dict:
        return {
            "images": self.images,
            "ignored_pixels": self.ignored,
            "classes": [
                {"id": i, "name": n, "pixels": int(p), "share": float(s)}
                for i, (n, p, s) in enumerate(
                    zip(self.classes.names, self.pixels, self.shares, strict=True)
                )
            ],
        }


def compute_stats(
    pairs: Sequence[Pair], decoder: MaskDecoder, progress: bool = False
) -> ClassStats:
    """Count class pixels over the masks of ``pairs`` (unknown values count as ignored)."""
    from tqdm import tqdm

    c = decoder.classes.num_classes
    pixels = np.zeros(c, dtype=np.int64)
    image_pixels = np.zeros(c, dtype=np.int64)
    ignored = 0
    for pair in tqdm(pairs, desc="stats", unit="mask", disable=not progress, leave=False):
        ids = decoder.decode(read_mask(pair.mask, decoder.kind), str(pair.mask)).ids
        counts = np.bincount(ids.ravel(), minlength=256)
        pixels += counts[:c]
        image_pixels += np.where(counts[:c] > 0, ids.size, 0)
        ignored += int(ids.size - counts[:c].sum())
    return ClassStats(decoder.classes, pixels, image_pixels, ignored, len(pairs))


def class_weights(stats: ClassStats, method: str) -> np.ndarray:
    """Per-class loss weights (float32).

    - ``median-freq`` (Eigen & Fergus 2015): freq_c = pixels_c / image_pixels_c,
      weight_c = median(freq) / freq_c over classes that occur; classes that never occur get 0.
    - ``inverse-log`` (ENet, Paszke et al. 2016): weight_c = 1 / ln(1.02 + share_c).
    """
    if method == "median-freq":
        present = stats.pixels > 0
        freq = np.zeros(len(stats.pixels))
        freq[present] = stats.pixels[present] / stats.image_pixels[present]
        weights = np.zeros(len(stats.pixels))
        weights[present] = np.median(freq[present]) / freq[present]
        return weights.astype(np.float32)
    if method == "inverse-log":
        return (1.0 / np.log(1.02 + stats.shares)).astype(np.float32)
    raise UsageError(f"--class-weights {method}: choose one of {', '.join(WEIGHT_METHODS)}")


def split_stats(
    spec: DataSpec,
    split: str,
    *,
    skip_bad: bool = False,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> ClassStats:
    """Statistics of a split, cached (keyed by the masks' paths, sizes and mtimes)."""
    from segcompress.data.dataset import list_pairs

    fmt, listing = list_pairs(spec, split, skip_bad)
    decoder = MaskDecoder(fmt.classes, fmt.mask_kind, max_unknown=1.0)
    key = hashlib.sha1()
    key.update(json.dumps(fmt.classes.to_dict(), sort_keys=True).encode())
    for pair in listing.pairs:
        st = pair.mask.stat()
        key.update(f"{pair.mask.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    path = (cache_dir or default_cache_dir()) / "stats" / f"{key.hexdigest()[:20]}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return ClassStats(
            fmt.classes,
            np.array(data["pixels"], dtype=np.int64),
            np.array(data["image_pixels"], dtype=np.int64),
            int(data["ignored"]),
            int(data["images"]),
        )
    stats = compute_stats(listing.pairs, decoder, progress)
    payload = {
        "pixels": stats.pixels.tolist(),
        "image_pixels": stats.image_pixels.tolist(),
        "ignored": stats.ignored,
        "images": stats.images,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, json.dumps(payload).encode())
    except OSError:
        pass  # a read-only cache only costs a recount next time
    return stats
