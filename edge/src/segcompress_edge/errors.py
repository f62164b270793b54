"""The two kinds of failure the command reports as one line: bad data (exit 1), bad usage (2)."""

from __future__ import annotations

__all__ = ["EdgeError", "UsageError"]


class EdgeError(Exception):
    """A file that cannot be used as it is (corrupt video, model without metadata...): exit 1."""

    exit_code = 1


class UsageError(EdgeError):
    """A flag or path the user can fix (existing output, missing runtime...): exit 2."""

    exit_code = 2
