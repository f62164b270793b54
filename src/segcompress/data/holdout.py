"""A held-out part of the training split, for choosing methods without looking at val.

Methods and hyperparameters picked on the split that is reported overfit that split: its
score then says how well the choice was made, not how well the model generalises. A holdout
file fixes, once and in version control, which training frames are set aside for choosing:

    # segcompress holdout of split 'train': 210 of 1403 frames (15%), whole drives, seed 0
    0/024541
    0/024703
    ...

With ``--holdout FILE`` the training split leaves those frames out, and the split named
``holdout`` is exactly them (``--val-split holdout`` while choosing, ``evaluate --split
holdout``). Frames are held out by whole groups (the folder part of the frame id: a drive in
IDD), because neighbouring frames of one drive are near-duplicates and would leak.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from segcompress.errors import DataError, UsageError

__all__ = ["HOLDOUT_SPLIT", "Holdout", "make_holdout", "read_holdout", "write_holdout"]

HOLDOUT_SPLIT = "holdout"
_HEADER = re.compile(r"#\s*segcompress holdout of split '([^']+)'")


@dataclass(frozen=True)
class Holdout:
    """The frames of ``source`` (a split name) that are held out."""

    source: str
    keys: frozenset[str]

    def resolve(self, split: str) -> tuple[str, bool | None]:
        """(split to list, keep held-out frames?) for ``split``; None: no filtering."""
        if split == HOLDOUT_SPLIT:
            return self.source, True
        if split == self.source:
            return self.source, False
        return split, None


def _group(key: str) -> str:
    """The folder part of a frame id (a drive in IDD); a frame in no folder is its own group."""
    folder, sep, _ = key.rpartition("/")
    return folder if sep else key


def make_holdout(keys: Sequence[str], fraction: float, seed: int = 0) -> list[str]:
    """Frame ids of whole groups, drawn at random until ``fraction`` of the frames are held out."""
    if not 0 < fraction < 1:
        raise UsageError(f"--fraction {fraction}: expected a number between 0 and 1")
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(_group(key), []).append(key)
    order = sorted(groups)
    random.Random(seed).shuffle(order)
    target = round(fraction * len(keys))
    chosen: list[str] = []
    for name in order:
        if len(chosen) >= target:
            break
        chosen += groups[name]
    if not chosen or len(chosen) == len(keys):
        raise UsageError(
            f"--fraction {fraction}: {len(keys)} frames in {len(groups)} groups leave nothing "
            "to train on or nothing held out; choose another fraction"
        )
    return sorted(chosen)


def write_holdout(
    path: str | Path, source: str, keys: Sequence[str], total: int, note: str
) -> None:
    """Write a holdout file (header naming the source split, then one frame id per line)."""
    from segcompress.fileio import atomic_write_bytes

    share = 100 * len(keys) / total
    header = (
        f"# segcompress holdout of split '{source}': {len(keys)} of {total} frames "
        f"({share:.0f}%), {note}\n"
    )
    atomic_write_bytes(path, (header + "".join(f"{k}\n" for k in sorted(keys))).encode())


def read_holdout(path: str | Path) -> Holdout:
    """Read a holdout file; its first line names the split the frames come from."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"--holdout {path}: cannot read ({exc.strerror})") from exc
    match = _HEADER.match(lines[0]) if lines else None
    if match is None:
        raise DataError(
            f"--holdout {path}: first line must be \"# segcompress holdout of split 'NAME'...\"; "
            "make the file with `segcompress data holdout`"
        )
    keys = frozenset(s for line in lines[1:] if (s := line.strip()) and not s.startswith("#"))
    if not keys:
        raise DataError(f"--holdout {path}: lists no frames")
    return Holdout(match.group(1), keys)
