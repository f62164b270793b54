"""The ``segcompress`` command: a thin layer that parses flags, calls the library and prints.

Each command group lives in its own module with a ``register(subparsers)`` function that adds its
parsers and sets ``func`` (called with the parsed namespace, returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
from collections.abc import Sequence

from segcompress import __version__
from segcompress.errors import SegcompressError

__all__ = ["build_parser", "main"]

# Modules under segcompress.cli that add subcommands, in the order --help lists them.
COMMAND_MODULES = ("data", "train", "evaluate", "models", "deploy", "demo")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segcompress",
        description="Train, distil, evaluate and deploy driving-scene segmentation models.",
    )
    parser.add_argument("--version", action="version", version=f"segcompress {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"segcompress.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 data/runtime, 2 usage, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except SegcompressError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"segcompress: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # A file system refusal no library layer turned into a DataError (an output path below a
        # regular file, a full disk): still one line naming the path, never a traceback.
        if args.debug:
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"segcompress: error: {where}{exc.strerror or exc}; check the path", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("segcompress: interrupted", file=sys.stderr)
        return 130
