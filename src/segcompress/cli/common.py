"""Argument types and flag groups shared by several commands, so they parse the same way."""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from typing import Any

__all__ = [
    "DATASET_DESTS",
    "add_dataset_args",
    "names_a_dataset",
    "non_negative_float",
    "non_negative_int",
    "parse_size",
    "positive_float",
    "positive_int",
    "resolve_splits",
    "size_arg",
    "spec_from_args",
    "yes_no",
]

# What add_dataset_args (and the commands' own --data flags, dest "root") set: DataSpec's fields,
# kept in the ``data:`` section of a training config.
DATASET_DESTS = (
    "root",
    "format",
    "level",
    "void_as_class",
    "classes",
    "images",
    "masks",
    "image_suffix",
    "mask_suffix",
    "holdout",
    "mask_kind",
)


def parse_size(text: str) -> tuple[int, int]:
    """``256`` -> (256, 256); ``256x512`` -> (height 256, width 512)."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", str(text))
    if not match:
        raise ValueError(f"expected N or HxW (e.g. 256 or 256x512), got {text!r}")
    h = int(match.group(1))
    w = int(match.group(2)) if match.group(2) else h
    if h <= 0 or w <= 0:
        raise ValueError(f"sizes must be positive, got {text!r}")
    return h, w


def size_arg(text: str) -> tuple[int, int]:
    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def key_value(text: str) -> tuple[str, Any]:
    """``base_width=8`` -> ("base_width", 8); the value is read as a YAML scalar."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from exc
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def yes_no(text: str) -> bool:
    if text.lower() in ("true", "yes", "1"):
        return True
    if text.lower() in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from exc
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def add_dataset_args(parser: argparse.ArgumentParser, *, root_required: bool = True) -> None:
    """Flags that say where a dataset is and how to read it (shared by data, train, evaluate).

    With ``root_required`` a positional ``root`` is added (optional, since ``--format folder``
    needs none); otherwise the caller adds its own flag with ``dest="root"`` (e.g. ``--data``).
    A flag that is not typed stays out of the namespace (DataSpec holds the defaults), so that a
    config file's dataset section can fill it in (:func:`spec_from_args`).
    """
    from segcompress.data.formats import FORMAT_NAMES, MASK_KINDS

    group = parser.add_argument_group("dataset")
    if root_required:
        group.add_argument("root", nargs="?", default=None, help="dataset root folder")
    unset = argparse.SUPPRESS
    group.add_argument(
        "--format",
        choices=FORMAT_NAMES,
        default=unset,
        help="dataset layout (detected when omitted)",
    )
    group.add_argument(
        "--level",
        type=int,
        choices=(1, 2, 3),
        default=unset,
        help="IDD label level (format idd; default 3)",
    )
    group.add_argument(
        "--void-as-class",
        action="store_true",
        default=unset,
        help="idd-kaggle: keep black (void) as one more class instead of ignoring it",
    )
    group.add_argument(
        "--classes", metavar="FILE", default=unset, help="class table (YAML/JSON), format folder"
    )
    group.add_argument(
        "--images", metavar="DIR", default=unset, help="image folder (format folder)"
    )
    group.add_argument("--masks", metavar="DIR", default=unset, help="mask folder (format folder)")
    group.add_argument(
        "--mask-kind",
        choices=MASK_KINDS,
        default=unset,
        help="format folder: masks hold class ids (index) or class colours (rgb); "
        "detected from --classes and the first mask when omitted",
    )
    group.add_argument(
        "--image-suffix", metavar="SUFFIX", default=unset, help="suffix stripped from image stems"
    )
    group.add_argument(
        "--mask-suffix", metavar="SUFFIX", default=unset, help="suffix stripped from mask stems"
    )
    group.add_argument(
        "--holdout",
        default=unset,
        metavar="FILE",
        help="frames held out of the training split (split 'holdout'; see `data holdout`)",
    )


def _typed_dataset_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The dataset flags actually given (a ``root`` of None is a --data flag not typed)."""
    given = {k: v for k, v in vars(args).items() if k in DATASET_DESTS}
    if given.get("root") is None:
        given.pop("root", None)
    return given


def names_a_dataset(args: argparse.Namespace) -> bool:
    """Whether the flags typed say where a dataset is (a root, --images or --masks)."""
    return bool({"root", "images", "masks"} & set(_typed_dataset_flags(args)))


def spec_from_args(args: argparse.Namespace, base: Any = None):
    """The DataSpec that the flags of ``add_dataset_args`` describe, over ``base`` (a DataSpec,
    e.g. a config file's dataset section): flags typed override it, the rest comes from it."""
    from segcompress.data.formats import DataSpec

    fields = base.to_dict() if base is not None else {}
    return DataSpec.from_dict({**fields, **_typed_dataset_flags(args)})


def resolve_splits(
    spec: Any, splits: Sequence[str], doing: str, flag: str = "--split"
) -> list[str]:
    """``splits``, or the one split ``all`` of a folder dataset without split sub-folders.

    Such a dataset has no 'val' or 'train' to choose from, so a command that reads one split
    reads it, saying so in one line on stderr (``doing``: e.g. "evaluating it"). Training, which
    needs two splits, does not come here. A holdout file names its own splits: left alone.
    """
    from segcompress.data.formats import FLAT_SPLIT, FolderFormat, open_format
    from segcompress.errors import SegcompressError

    if spec.holdout is not None or all(s == FLAT_SPLIT for s in splits):
        return list(splits)
    try:
        fmt = open_format(spec)
        flat = isinstance(fmt, FolderFormat) and fmt.is_flat
    except (SegcompressError, OSError):  # reported where the dataset is read, in its turn
        return list(splits)
    if not flat:
        return list(splits)
    asked = ",".join(dict.fromkeys(s for s in splits if s != FLAT_SPLIT))
    print(
        f"{flag} {asked}: this dataset has one split, '{FLAT_SPLIT}' (--images and --masks have "
        f"no split sub-folders); {doing}",
        file=sys.stderr,
    )
    return [FLAT_SPLIT]
