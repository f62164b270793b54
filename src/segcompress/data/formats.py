"""Dataset layouts on disk -> (image, mask) pairs, matched by frame id, never by sort order.

Four layouts are understood (``--format``), and detected from the folder when not given:

- ``idd-kaggle``: ``{root}/{split}/images/<id>_leftImg8bit.jpg`` with
  ``{root}/{split}/rgb_labels/<id>_gtFine_polygons.png`` (RGB masks, IDD level-3 palette).
- ``idd``: ``{root}/leftImg8bit/{split}/<drive>/<id>_leftImg8bit.{png,jpg}`` with
  ``{root}/gtFine/{split}/<drive>/<id>_gtFine_labellevel{1,2,3}Ids.png`` (index masks).
- ``idd-lite``: ``{root}/leftImg8bit/{split}/<drive>/<id>_image.jpg`` with
  ``{root}/gtFine/{split}/<drive>/<id>_label.png`` (index masks, IDD level 1).
- ``folder``: ``--images DIR --masks DIR --classes FILE``; pairs by relative path and stem after
  stripping ``--image-suffix`` / ``--mask-suffix``. Split sub-folders (``DIR/train``) are used
  when both folders have them; otherwise the folders are a single split named ``all``. Masks
  hold class ids (``--mask-kind index``) or class colours (``rgb``), detected when not given
  (see :func:`detect_mask_kind`), so a table may carry colours for pictures only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from segcompress.config import FORMAT_NAMES, MASK_KINDS, DataConfig
from segcompress.data.classes import (
    IDD_LEVEL1,
    IDD_LEVEL2,
    IDD_LEVEL3,
    ClassTable,
    load_class_table,
)
from segcompress.data.io import IMAGE_EXTENSIONS
from segcompress.errors import DataError, UsageError

__all__ = [
    "FLAT_SPLIT",
    "FORMAT_NAMES",
    "MASK_KINDS",
    "DataSpec",
    "DatasetFormat",
    "Pair",
    "Problem",
    "SplitListing",
    "detect_format",
    "detect_mask_kind",
    "open_format",
]

FLAT_SPLIT = "all"  # the one split of a folder dataset without split sub-folders

# Where a dataset lives and how to read it: the run config's data section, one class, so that a
# config opens its dataset as it stands. The data layer and user scripts know it by this name.
DataSpec = DataConfig


@dataclass(frozen=True)
class Pair:
    """One frame: its id (relative, e.g. ``"12/024541"``), its image and its mask."""

    key: str
    image: Path
    mask: Path


@dataclass(frozen=True)
class Problem:
    """Something wrong with one file; ``kind`` is a stable word that tools can match."""

    file: str
    kind: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "kind": self.kind, "detail": self.detail}


@dataclass
class SplitListing:
    """The pairs of one split, and what could not be paired."""

    split: str
    pairs: list[Pair] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ignored_files: int = 0

    def count(self, kind: str) -> int:
        return sum(p.kind == kind for p in self.problems)


def _strip(name: str, suffix: str) -> str | None:
    return name[: -len(suffix)] if suffix and name.endswith(suffix) else None


class DatasetFormat:
    """A layout: where a split's images and masks are, and how a file name gives its frame id."""

    name: str = ""
    mask_kind: str = "index"

    def __init__(self, root: Path, classes: ClassTable):
        self.root = root
        self.classes = classes

    # -- what a layout defines -------------------------------------------------------------
    def split_dirs(self, split: str) -> tuple[Path, Path]:
        raise NotImplementedError

    def splits(self) -> list[str]:
        """Splits with both images and masks (an unlabelled test split is not listed)."""
        raise NotImplementedError

    def image_key(self, rel_stem: str) -> str:
        """Frame id of an image, from its path relative to the image folder without extension."""
        return rel_stem

    def mask_key(self, rel_stem: str) -> str | None:
        """Frame id of a mask, or None when the file is not a mask of this layout."""
        return rel_stem

    # -- shared machinery ------------------------------------------------------------------
    def list_split(self, split: str) -> SplitListing:
        """Pair a split's files by frame id; orphans and duplicate ids become problems."""
        image_dir, mask_dir = self.split_dirs(split)
        if not image_dir.is_dir():
            found = ", ".join(self.splits()) or "none"
            raise DataError(
                f"{image_dir}: no such folder; split '{split}' not found (found: {found})"
            )
        listing = SplitListing(split=split)
        images = self._scan(image_dir, self.image_key, listing, "image")
        masks = self._scan(mask_dir, self.mask_key, listing, "mask") if mask_dir.is_dir() else {}
        for key in sorted(images.keys() - masks.keys()):
            listing.problems.append(
                Problem(str(images[key]), "orphan-image", f"no mask for frame '{key}'")
            )
        for key in sorted(masks.keys() - images.keys()):
            listing.problems.append(
                Problem(str(masks[key]), "orphan-mask", f"no image for frame '{key}'")
            )
        listing.pairs = [Pair(k, images[k], masks[k]) for k in sorted(images.keys() & masks.keys())]
        return listing

    def _scan(self, top: Path, key_of: Any, listing: SplitListing, what: str) -> dict[str, Path]:
        found: dict[str, Path] = {}

        def fail(err: OSError) -> None:
            raise DataError(f"{err.filename}: cannot read folder ({err.strerror}); fix permissions")

        for dirpath, dirnames, filenames in os.walk(top, onerror=fail):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                path = Path(dirpath) / name
                stem, ext = os.path.splitext(name)
                if name.startswith(".") or ext.lower() not in IMAGE_EXTENSIONS:
                    listing.ignored_files += 1
                    continue
                rel = path.relative_to(top).with_name(stem).as_posix()
                key = key_of(rel)
                if key is None:
                    continue
                if key in found:
                    listing.problems.append(
                        Problem(str(path), "duplicate-id", f"{what} id '{key}' also {found[key]}")
                    )
                    continue
                found[key] = path
        return found


class IddKaggleFormat(DatasetFormat):
    name = "idd-kaggle"
    mask_kind = "rgb"
    image_suffix = "_leftImg8bit"
    mask_suffix = "_gtFine_polygons"

    def split_dirs(self, split: str) -> tuple[Path, Path]:
        return self.root / split / "images", self.root / split / "rgb_labels"

    def splits(self) -> list[str]:
        return sorted(
            p.parent.name
            for p in self.root.glob("*/images")
            if p.is_dir() and (p.parent / "rgb_labels").is_dir()
        )

    def image_key(self, rel_stem: str) -> str:
        return _strip(rel_stem, self.image_suffix) or rel_stem

    def mask_key(self, rel_stem: str) -> str | None:
        return _strip(rel_stem, self.mask_suffix)

    @staticmethod
    def looks_like(root: Path) -> bool:
        return any((p.parent / "rgb_labels").is_dir() for p in root.glob("*/images"))


class _CityscapesLike(DatasetFormat):
    """Official IDD and IDD-Lite: leftImg8bit/{split}/<drive>/..., gtFine/{split}/<drive>/..."""

    image_suffix = ""
    mask_suffix = ""

    def split_dirs(self, split: str) -> tuple[Path, Path]:
        return self.root / "leftImg8bit" / split, self.root / "gtFine" / split

    def splits(self) -> list[str]:
        top, gt = self.root / "leftImg8bit", self.root / "gtFine"
        if not top.is_dir():
            return []
        return sorted(p.name for p in top.iterdir() if p.is_dir() and (gt / p.name).is_dir())

    def image_key(self, rel_stem: str) -> str:
        return _strip(rel_stem, self.image_suffix) or rel_stem

    def mask_key(self, rel_stem: str) -> str | None:
        return _strip(rel_stem, self.mask_suffix)

    @classmethod
    def looks_like(cls, root: Path) -> bool:
        gt = root / "gtFine"
        if not (root / "leftImg8bit").is_dir() or not gt.is_dir():
            return False
        pattern = f"*/*/*{cls.mask_suffix_pattern}.png"
        return next(iter(gt.glob(pattern)), None) is not None


class IddFormat(_CityscapesLike):
    name = "idd"
    image_suffix = "_leftImg8bit"
    mask_suffix_pattern = "_gtFine_labellevel?Ids"

    def __init__(self, root: Path, classes: ClassTable, level: int):
        super().__init__(root, classes)
        self.mask_suffix = f"_gtFine_labellevel{level}Ids"


class IddLiteFormat(_CityscapesLike):
    name = "idd-lite"
    image_suffix = "_image"
    mask_suffix = "_label"
    mask_suffix_pattern = "_label"


class FolderFormat(DatasetFormat):
    name = "folder"

    def __init__(
        self,
        images: Path,
        masks: Path,
        classes: ClassTable,
        image_suffix: str,
        mask_suffix: str,
        mask_kind: str | None = None,
    ):
        super().__init__(images, classes)
        self.images, self.masks = images, masks
        self.image_suffix, self.mask_suffix = image_suffix, mask_suffix
        if mask_kind is not None:
            self.mask_kind = mask_kind  # given: replaces the detection below

    @cached_property
    def mask_kind(self) -> str:  # type: ignore[override]
        """``index`` or ``rgb``: as given, else detected from the table and the first mask."""
        return detect_mask_kind(self.classes, self._first_mask())

    def _first_mask(self) -> Path | None:
        for split in self.splits():
            for dirpath, dirnames, filenames in os.walk(self.split_dirs(split)[1]):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                        return Path(dirpath) / name
        return None

    def _split_folders(self) -> list[str]:
        return sorted(
            p.name for p in self.images.iterdir() if p.is_dir() and (self.masks / p.name).is_dir()
        )

    @property
    def is_flat(self) -> bool:
        """No split sub-folders in both --images and --masks: one split, named ``all``."""
        return not self._split_folders()

    def splits(self) -> list[str]:
        return self._split_folders() or [FLAT_SPLIT]

    def split_dirs(self, split: str) -> tuple[Path, Path]:
        if self.is_flat:
            if split == FLAT_SPLIT:
                return self.images, self.masks
            raise DataError(
                f"{self.images}: no split '{split}' (found: {FLAT_SPLIT}, as --images and "
                "--masks have no split sub-folders); put each split in matching sub-folders "
                "(e.g. train/, val/), or hold frames out with `segcompress data holdout --split "
                f"{FLAT_SPLIT}` and pass --train-split {FLAT_SPLIT} --val-split holdout "
                "--holdout FILE"
            )
        if split not in self.splits():
            raise DataError(
                f"{self.images}: no split '{split}' (found: {', '.join(self.splits())}); put each "
                "split in matching sub-folders of --images and --masks (e.g. train/, val/)"
            )
        return self.images / split, self.masks / split

    def image_key(self, rel_stem: str) -> str:
        return _strip(rel_stem, self.image_suffix) or rel_stem

    def mask_key(self, rel_stem: str) -> str | None:
        return _strip(rel_stem, self.mask_suffix) or rel_stem


def detect_mask_kind(classes: ClassTable, mask: Path | None) -> str:
    """How a folder dataset's masks hold their classes: ``index`` (ids) or ``rgb`` (colours).

    A table without colours means ids. With colours, one mask decides: 8- and 16-bit grey masks
    hold ids; RGB masks hold colours, unless they are grey (R = G = B) in values that are no
    class colour; a palette (P) mask holds ids, unless the colours its palette draws are the
    table's colours under other ids. Without a readable mask: ``rgb``, and reading the masks
    later names the problem.
    """
    from PIL import Image

    if classes.colors is None:
        return "index"
    if mask is None:
        return "rgb"
    try:
        with Image.open(mask) as img:
            if img.mode in ("L", "I;16", "I;16B", "I;16L", "I"):
                return "index"
            if img.mode == "P":
                return _palette_mask_kind(classes, np.asarray(img), img.getpalette() or [])
            if img.mode not in ("RGB", "RGBA"):
                return "rgb"
            colours = _colours(np.asarray(img.convert("RGB"), dtype=np.uint8))
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return "rgb"
    grey = all(r == g == b for r, g, b in colours)
    return "index" if grey and not colours <= _table_colours(classes) else "rgb"


def _table_colours(classes: ClassTable) -> set[tuple[int, int, int]]:
    void = [classes.void_color] if classes.void_color is not None else []
    return {*(classes.colors or ()), *void}


def _colours(rgb: np.ndarray) -> set[tuple[int, int, int]]:
    from segcompress.data.masks import pack_rgb

    return {((v >> 16) & 255, (v >> 8) & 255, v & 255) for v in map(int, np.unique(pack_rgb(rgb)))}


def _palette_mask_kind(classes: ClassTable, ids: np.ndarray, palette: list[int]) -> str:
    """``rgb`` when the palette draws the ids a P mask uses in table colours of other ids."""
    colours = np.zeros((256, 3), dtype=np.uint8)
    raw = np.asarray(palette, dtype=np.uint8).reshape(-1, 3)[:256]
    colours[: len(raw)] = raw
    used = [int(i) for i in np.unique(ids)]
    drawn = {i: tuple(int(c) for c in colours[i]) for i in used}
    table = classes.colors or ()
    as_ids = all(
        i == classes.ignore_index or (i < len(table) and drawn[i] == table[i]) for i in used
    )
    in_table = set(drawn.values()) <= _table_colours(classes)
    return "rgb" if in_table and not as_ids else "index"


_DETECTABLE = {"idd-kaggle": IddKaggleFormat, "idd": IddFormat, "idd-lite": IddLiteFormat}


def detect_format(root: str | Path) -> str:
    """The layout name of ``root``; a clear error when none or several layouts match."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass the dataset root")
    matches = [name for name, cls in _DETECTABLE.items() if cls.looks_like(root)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(f"{root}: layout is ambiguous ({' or '.join(matches)}); pass --format")
    raise DataError(
        f"{root}: unknown dataset layout; expected one of {', '.join(_DETECTABLE)} "
        "(see README), or pass --format folder --images DIR --masks DIR --classes FILE"
    )


def open_format(spec: DataSpec) -> DatasetFormat:
    """Build the layout a spec describes, checking its flags."""
    name = spec.format
    if name is None:
        if spec.images or spec.masks:
            name = "folder"
        elif spec.root is None:
            raise UsageError("no dataset given; pass a dataset root (or --images/--masks)")
        else:
            name = detect_format(spec.root)
    if name not in FORMAT_NAMES:
        raise UsageError(
            f"--format {name}: unknown format; choose one of {', '.join(FORMAT_NAMES)}"
        )
    if spec.void_as_class and name != "idd-kaggle":
        raise UsageError("--void-as-class applies to --format idd-kaggle only")
    if spec.mask_kind is not None and spec.mask_kind not in MASK_KINDS:
        raise UsageError(f"--mask-kind {spec.mask_kind}: choose one of {', '.join(MASK_KINDS)}")
    if name == "folder":
        return _open_folder(spec)
    if spec.classes is not None:
        raise UsageError(f"--classes applies to --format folder; {name} has its own class table")
    if spec.root is None:
        raise UsageError(f"--format {name} needs a dataset root")
    root = Path(spec.root)
    if not root.is_dir():
        raise DataError(f"{root}: no such folder; pass the dataset root")
    fmt: DatasetFormat
    if name == "idd-kaggle":
        table = IDD_LEVEL3.with_void_class() if spec.void_as_class else IDD_LEVEL3
        fmt = IddKaggleFormat(root, table)
    elif name == "idd-lite":
        fmt = IddLiteFormat(root, IDD_LEVEL1)
    else:
        tables = {1: IDD_LEVEL1, 2: IDD_LEVEL2, 3: IDD_LEVEL3}
        if spec.level not in tables:
            raise UsageError(f"--level {spec.level}: IDD has label levels 1, 2 and 3")
        fmt = IddFormat(root, tables[spec.level], spec.level)
    if spec.mask_kind not in (None, fmt.mask_kind):
        raise UsageError(
            f"--mask-kind {spec.mask_kind} applies to --format folder; {name} masks are "
            f"{fmt.mask_kind}"
        )
    return fmt


def _open_folder(spec: DataSpec) -> FolderFormat:
    missing = [
        flag
        for flag, v in (
            ("--images", spec.images),
            ("--masks", spec.masks),
            ("--classes", spec.classes),
        )
        if not v
    ]
    if missing:
        raise UsageError(f"--format folder needs {', '.join(missing)}")
    images, masks = Path(spec.images), Path(spec.masks)  # type: ignore[arg-type]
    for flag, path in (("--images", images), ("--masks", masks)):
        if not path.is_dir():
            raise DataError(f"{flag} {path}: no such folder")
    table = load_class_table(spec.classes)  # type: ignore[arg-type]
    if spec.mask_kind == "rgb" and not table.has_colors:
        raise UsageError(
            f"--mask-kind rgb: {spec.classes} has no colours; add 'color' to each class, or "
            "use --mask-kind index for masks of class ids"
        )
    return FolderFormat(
        images, masks, table, spec.image_suffix, spec.mask_suffix, mask_kind=spec.mask_kind
    )
