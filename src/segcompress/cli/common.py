"""Argument types and flag groups shared by several commands, so they parse the same way."""

from __future__ import annotations

import argparse
import re

__all__ = [
    "add_dataset_args",
    "non_negative_int",
    "parse_size",
    "positive_int",
    "size_arg",
    "spec_from_args",
]


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
    """
    from segcompress.data.formats import FORMAT_NAMES

    group = parser.add_argument_group("dataset")
    if root_required:
        group.add_argument("root", nargs="?", default=None, help="dataset root folder")
    group.add_argument(
        "--format",
        choices=FORMAT_NAMES,
        default=None,
        help="dataset layout (detected when omitted)",
    )
    group.add_argument(
        "--level", type=int, choices=(1, 2, 3), default=3, help="IDD label level (format idd)"
    )
    group.add_argument(
        "--void-as-class",
        action="store_true",
        help="idd-kaggle: keep black (void) as one more class instead of ignoring it",
    )
    group.add_argument("--classes", default=None, help="class table (YAML/JSON) for format folder")
    group.add_argument("--images", default=None, help="image folder (format folder)")
    group.add_argument("--masks", default=None, help="mask folder (format folder)")
    group.add_argument("--image-suffix", default="", help="suffix stripped from image stems")
    group.add_argument("--mask-suffix", default="", help="suffix stripped from mask stems")
    group.add_argument(
        "--holdout",
        default=None,
        metavar="FILE",
        help="frames held out of the training split (split 'holdout'; see `data holdout`)",
    )


def spec_from_args(args: argparse.Namespace):
    """The DataSpec that the flags of ``add_dataset_args`` describe."""
    from segcompress.data.formats import DataSpec

    return DataSpec.from_dict(vars(args))
