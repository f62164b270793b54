"""Writing files so that a reader never sees half of one, and naming what went wrong.

Every file the package writes (checkpoints, configs, logs, caches, ONNX models, reports,
synthetic images) goes through :func:`atomic_write`: a temporary file in the same folder,
flushed and fsynced, renamed over the target, then the folder fsynced, so that a crash or a
kill leaves the old file or the complete new one. A failed write (full disk, lost permission)
is a ``DataError`` naming the file, with the previous file intact.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from segcompress.errors import DataError

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "describe_os_error",
    "file_sha256",
    "fsync_folder",
    "replace_atomic",
]

_HINTS = {
    errno.ENOSPC: "the disk is full; free space or choose another --out",
    errno.EDQUOT: "the disk quota is exhausted; free space or choose another --out",
    errno.EROFS: "the file system is read-only; choose another --out",
    errno.EACCES: "permission denied; choose a folder you can write to",
    errno.EPERM: "permission denied; choose a folder you can write to",
    errno.ENOTDIR: "a path component is a file, not a folder; choose another --out",
}


def describe_os_error(exc: OSError) -> str:
    """``strerror`` plus what to do about it, for one-line messages."""
    hint = _HINTS.get(exc.errno or 0, "choose another --out")
    return f"{exc.strerror or exc}; {hint}"


def fsync_folder(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _default_mode() -> int:
    """0666 less the process umask: what a plain ``open(path, "w")`` creates."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str | Path, what: str = "file") -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` only once the block ends without error.

    The temporary file is ``.{name}.<random>.tmp`` beside ``path``, the pattern that
    ``engine.outdir.remove_stale_temps`` clears after a killed run.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise DataError(f"{path}: {path.parent} is not a folder; choose another output path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise DataError(f"{path}: cannot write the {what} ({describe_os_error(exc)})") from exc
    try:
        # mkstemp creates the file private (0600); give it the mode open() would have.
        os.fchmod(fd, _default_mode())
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise DataError(
            f"{path}: cannot write the {what} ({describe_os_error(exc)}); the previous file, "
            "if any, is unchanged"
        ) from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)


def atomic_write_bytes(path: str | Path, data: bytes, what: str = "file") -> None:
    """Write ``data`` to ``path`` through :func:`atomic_write`."""
    with atomic_write(path, what) as fh:
        fh.write(data)


def replace_atomic(tmp: str | Path, path: str | Path) -> None:
    """Rename a finished temporary file (e.g. a memory map filled in place) over ``path``."""
    path = Path(path)
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_folder(path.parent)


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes: its identity, whatever its path or time stamp."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
