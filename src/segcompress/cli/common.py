"""Argument types and flag groups shared by several commands, so they parse the same way."""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from segcompress.config import DATASET_KEYS, DataConfig

__all__ = [
    "ARG_TYPES",
    "fraction",
    "int_list",
    "names_a_dataset",
    "non_negative_float",
    "non_negative_int",
    "parse_size",
    "positive_float",
    "positive_int",
    "resolve_splits",
    "scale_range",
    "scales",
    "size_arg",
    "spec_from_args",
    "yes_no",
]

_Number = TypeVar("_Number", int, float)


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


def _parsed(text: str, kind: Callable[[str], _Number], expected: str) -> _Number:
    """``kind(text)``, or the argparse error saying ``expected``: each number type below
    parses this way and then checks its own range."""
    try:
        return kind(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from exc


def positive_float(text: str) -> float:
    value = _parsed(text, float, "a positive number")
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
    value = _parsed(text, float, "a number >= 0")
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def positive_int(text: str) -> int:
    value = _parsed(text, int, "a positive integer")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def scale_range(text: str) -> tuple[float, float]:
    """``0.5,2`` -> (0.5, 2.0)."""
    low, sep, high = text.partition(",")
    try:
        values = (positive_float(low), positive_float(high)) if sep else None
    except argparse.ArgumentTypeError:
        values = None
    if values is None or values[0] > values[1]:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH with 0 < LOW <= HIGH, got {text!r}")
    return values


def scales(text: str) -> list[float]:
    """``0.75,1,1.5`` -> [0.75, 1.0, 1.5]."""
    return [positive_float(part) for part in text.split(",")]


def fraction(text: str) -> float:
    """A number in (0, 1]."""
    value = positive_float(text)
    if value > 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in (0, 1], got {text!r}")
    return value


def int_list(text: str) -> tuple[int, ...]:
    """``1,8`` -> (1, 8): positive integers."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,8, got {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"batch sizes must be positive, got {text!r}")
    return values


def non_negative_int(text: str) -> int:
    value = _parsed(text, int, "a whole number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _typed_dataset_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The dataset flags actually given (a ``root`` of None is a --data flag not typed)."""
    given = {k: v for k, v in vars(args).items() if k in DATASET_KEYS}
    if given.get("root") is None:
        given.pop("root", None)
    return given


# The argument types a config field may name (``config.flag(parse=...)``).
ARG_TYPES = {
    "size": size_arg,
    "scale_range": scale_range,
    "scales": scales,
    "yes_no": yes_no,
    "non_negative_float": non_negative_float,
}


def names_a_dataset(args: argparse.Namespace) -> bool:
    """Whether the flags typed say where a dataset is (a root, --images or --masks)."""
    return bool({"root", "images", "masks"} & set(_typed_dataset_flags(args)))


def spec_from_args(args: argparse.Namespace, base: DataConfig | None = None) -> DataConfig:
    """The dataset that the flags of ``add_dataset_args`` describe, over ``base`` (e.g. a config
    file's ``data:`` section): flags typed override it, the rest comes from it."""
    return dataclasses.replace(base or DataConfig(), **_typed_dataset_flags(args))


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
