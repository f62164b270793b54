"""Errors a user can cause and fix. The CLI prints them as one line, without a traceback."""

from __future__ import annotations

__all__ = ["DataError", "SegcompressError", "UsageError"]


class SegcompressError(Exception):
    """Base class: a problem the user can fix. ``exit_code`` is what the CLI returns."""

    exit_code: int = 1


class DataError(SegcompressError):
    """Bad or missing data, a corrupt file, a runtime failure (exit 1)."""

    exit_code = 1


class UsageError(SegcompressError):
    """A wrong flag, argument or config value (exit 2)."""

    exit_code = 2
