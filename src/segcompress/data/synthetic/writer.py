"""The dataset on disk: Kaggle IDD file names, the ``synth.json`` manifest, resumable writes.

Why apart from the drawing: a frame depends only on (seed, split, index) through
:func:`image_rng`, so any file can be regenerated alone and a rerun can prune what another run
left; every file goes through :mod:`segcompress.fileio`, so a kill never leaves half of one.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segcompress.data.classes import IDD_LEVEL3
from segcompress.data.synthetic.layout import check_size, render_scene
from segcompress.errors import DataError, UsageError
from segcompress.fileio import atomic_write, atomic_write_bytes

__all__ = [
    "GENERATOR_VERSION",
    "JPEG_QUALITY",
    "MANIFEST_NAME",
    "SPLITS",
    "UNLABELED",
    "image_rng",
    "is_synthesized",
    "read_manifest",
    "synthesize",
]

GENERATOR_VERSION = 1
"""Bump whenever the pixels change for the same arguments, so cached datasets are rebuilt."""

SPLITS = ("train", "val")
UNLABELED = "unlabeled"
"""The folder of frames written without masks (``n_unlabeled``), for ``distill --unlabeled``."""
_FOLDERS = (*SPLITS, UNLABELED)
MANIFEST_NAME = "synth.json"
JPEG_QUALITY = (55, 95)
"""Inclusive range drawn per image: compression artefacts vary like real data."""

_FILE_NAME = r"\d{7}_(?:leftImg8bit\.jpg|gtFine_polygons\.png)"
# An image or mask of ours, or the temporary file of an interrupted write of one: fileio's
# ``.{name}.<random>.tmp`` (or ``.{name}.tmp``, left by versions before fileio).
_OUR_FILE = re.compile(rf"^(?:{_FILE_NAME}|\.{_FILE_NAME}(?:\.\w+)?\.tmp)$")


def image_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one image: derived from (seed, split, index) alone, so any file can be
    regenerated without the others."""
    return np.random.default_rng([seed, zlib.crc32(split.encode("utf-8")), index])


def _names(index: int) -> tuple[str, str]:
    """The image and mask file names of one id, as in the Kaggle IDD layout."""
    return f"{index:07d}_leftImg8bit.jpg", f"{index:07d}_gtFine_polygons.png"


def _save_image(image: Image.Image, path: Path, what: str, **options: Any) -> None:
    """Encode ``image`` straight into fileio's temporary file (``options`` name the format)."""
    with atomic_write(path, what) as fh:
        image.save(fh, **options)


def _write_manifest(path: Path, data: dict[str, Any]) -> None:
    """Write ``synth.json`` atomically: two-space-indented JSON and a final newline."""
    text = json.dumps(data, indent=2) + "\n"
    atomic_write_bytes(path, text.encode("utf-8"), "synthetic dataset manifest")


def _manifest(
    n_train: int, n_val: int, size: tuple[int, int], seed: int, n_unlabeled: int = 0
) -> dict[str, Any]:
    """The arguments that identify a dataset; ``is_synthesized`` compares these.

    ``n_unlabeled`` is recorded only when non-zero, so manifests written before it existed
    still describe the same dataset."""
    data = {
        "generator": "segcompress.data.synthetic",
        "version": GENERATOR_VERSION,
        "layout": "idd-kaggle",
        "n_train": n_train,
        "n_val": n_val,
        "size": [size[0], size[1]],
        "seed": seed,
    }
    if n_unlabeled:
        data["n_unlabeled"] = n_unlabeled
    return data


def read_manifest(out: str | Path) -> dict[str, Any] | None:
    """The manifest of a synthetic dataset folder, or None when it is missing or unreadable."""
    try:
        data = json.loads((Path(out) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_synthesized(
    out: str | Path,
    *,
    n_train: int,
    n_val: int,
    size: tuple[int, int] = (256, 512),
    seed: int = 0,
    n_unlabeled: int = 0,
) -> bool:
    """True when ``out`` holds a complete dataset written by this generator version with these
    arguments, so a caller may reuse it instead of regenerating."""
    data = read_manifest(out)
    if data is None or not data.get("complete"):
        return False
    expected = _manifest(n_train, n_val, (int(size[0]), int(size[1])), seed)
    same = all(data.get(k) == v for k, v in expected.items())
    return same and data.get("n_unlabeled", 0) == n_unlabeled


def _check_args(n_train: Any, n_val: Any, seed: Any, n_unlabeled: Any = 0) -> None:
    """UsageError for counts or seeds that are not non-negative integers."""
    for name, value in (("n_train", n_train), ("n_val", n_val), ("n_unlabeled", n_unlabeled)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise UsageError(f"{name} must be an integer >= 0, got {value!r}")
    if n_train + n_val < 1:
        raise UsageError("n_train + n_val must be at least 1 (nothing to generate)")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UsageError(f"seed must be an integer >= 0, got {seed!r}")


def synthesize(
    out: str | Path,
    *,
    n_train: int,
    n_val: int,
    size: tuple[int, int] = (256, 512),
    seed: int = 0,
    n_unlabeled: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Write a synthetic dataset in the Kaggle IDD layout and return a summary.

    ``{out}/{split}/images/{id:07d}_leftImg8bit.jpg`` and
    ``{out}/{split}/rgb_labels/{id:07d}_gtFine_polygons.png`` (RGB in the IDD level-3 palette,
    void black); train ids are 0..n_train-1 and val ids continue after them. ``n_unlabeled``
    more frames go to ``{out}/unlabeled/images`` without masks (ids after val): the frames a
    vehicle records but nobody labels, for ``distill --unlabeled``. ``{out}/synth.json``
    records the arguments and is marked complete only after the last file is written. Files of an
    earlier synthetic run in ``out`` that the new arguments do not produce are removed.
    """
    _check_args(n_train, n_val, seed, n_unlabeled)
    h, w = check_size(size)
    n_train, n_val, seed, n_unlabeled = int(n_train), int(n_val), int(seed), int(n_unlabeled)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise UsageError(f"out {root} is a file; give a folder for the dataset")
    if root.is_dir() and any(root.iterdir()) and read_manifest(root) is None:
        raise UsageError(
            f"out {root} is not empty and holds no {MANIFEST_NAME}; give an empty or new folder"
        )
    manifest = _manifest(n_train, n_val, (h, w), seed, n_unlabeled)
    lut = np.zeros((256, 3), dtype=np.uint8)  # void and unknown ids -> void colour (black)
    lut[:] = IDD_LEVEL3.void_color or (0, 0, 0)
    lut[: IDD_LEVEL3.num_classes] = np.asarray(IDD_LEVEL3.colors, dtype=np.uint8)
    jobs = [("train", i, i) for i in range(n_train)]
    jobs += [("val", i, n_train + i) for i in range(n_val)]
    jobs += [(UNLABELED, i, n_train + n_val + i) for i in range(n_unlabeled)]
    start = time.perf_counter()
    try:
        for split in SPLITS:
            (root / split / "images").mkdir(parents=True, exist_ok=True)
            (root / split / "rgb_labels").mkdir(parents=True, exist_ok=True)
        if n_unlabeled:
            (root / UNLABELED / "images").mkdir(parents=True, exist_ok=True)
        _write_manifest(root / MANIFEST_NAME, {**manifest, "complete": False})
        iterator: Any = jobs
        if progress:
            from tqdm import tqdm

            iterator = tqdm(jobs, desc="synthesize", unit="img")
        for split, index, file_id in iterator:
            rng = image_rng(seed, split, index)
            image, label = render_scene(rng, (h, w))
            quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
            image_name, label_name = _names(file_id)
            _save_image(
                Image.fromarray(image, "RGB"),
                root / split / "images" / image_name,
                "synthetic image",
                format="JPEG",
                quality=quality,
            )
            if split == UNLABELED:
                continue
            _save_image(
                Image.fromarray(np.take(lut, label, axis=0), "RGB"),
                root / split / "rgb_labels" / label_name,
                "synthetic mask",
                format="PNG",
            )
        _remove_stale(
            root,
            {split: {_names(fid) for s, _, fid in jobs if s == split} for split in _FOLDERS},
        )
        seconds = time.perf_counter() - start
        _write_manifest(root / MANIFEST_NAME, {**manifest, "complete": True})
    except OSError as exc:
        raise DataError(f"{root}: cannot write the synthetic dataset ({exc})") from exc
    return {
        "out": str(root),
        "n_train": n_train,
        "n_val": n_val,
        "size": [h, w],
        "seed": seed,
        "n_unlabeled": n_unlabeled,
        "version": GENERATOR_VERSION,
        "seconds": round(seconds, 3),
    }


def _remove_stale(root: Path, keep: dict[str, set[tuple[str, str]]]) -> None:
    """Drop files from an earlier, different run (and temp files of an interrupted one)."""
    for path in root.glob(f".{MANIFEST_NAME}.*tmp"):
        path.unlink()
    for split in _FOLDERS:
        wanted = {name for pair in keep[split] for name in pair}
        for folder in ("images", "rgb_labels"):
            if not (root / split / folder).is_dir():
                continue
            for path in (root / split / folder).iterdir():
                if _OUR_FILE.match(path.name) and path.name not in wanted:
                    path.unlink()
