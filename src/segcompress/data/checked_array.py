"""A cache array on disk that is written without a memory map and read with per-row checksums.

Why: a cache is written once and read for days. Filling it through a memory map turns a full
disk into SIGBUS (the process dies with nothing said, its temporary file left filling the
disk), and a file damaged later (truncated, overwritten) would be read as if it were intact.

How: :class:`ArrayWriter` writes an ``.npy`` file row by row with ``write()`` into a file first
preallocated with ``posix_fallocate``, after comparing its size with the free space; a full
disk is one :class:`~segcompress.errors.DataError` naming both numbers, and the temporary file
is removed on every failure. It records a BLAKE2b digest of every row. :func:`check_size`
compares the file's size with what its index says before anything maps it, and
:func:`row_digest` lets a reader verify each row it reads.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from segcompress.errors import DataError

__all__ = [
    "ArrayWriter",
    "CacheDamaged",
    "check_size",
    "move_aside",
    "preallocated_npy",
    "row_digest",
]

# 16 bytes: collisions by accident are out of reach; the index stays small (32 hex per row).
DIGEST_BYTES = 16


class CacheDamaged(DataError):
    """A cache file that does not hold what its index says (exit 1).

    An error raised in a DataLoader worker is re-raised in the main process as
    ``type(exc)("Caught ... Original Traceback ...")``: the message is cut back to its own
    last line here, so that the user still sees one line.
    """

    def __init__(self, message: str) -> None:
        if "\nOriginal Traceback" in message:
            last = message.strip().splitlines()[-1]
            message = last.split(": ", 1)[1] if last.startswith(type(self).__name__) else last
        super().__init__(message)


def row_digest(row: np.ndarray) -> str:
    """BLAKE2b of a row's bytes (C order), as hex."""
    data = memoryview(np.ascontiguousarray(row)).cast("B")
    return hashlib.blake2b(data, digest_size=DIGEST_BYTES).hexdigest()


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 2**10:.0f} KiB"


def _no_space(folder: Path, needed: int) -> DataError:
    free = shutil.disk_usage(folder).free
    return DataError(
        f"{folder}: the cache needs {_size(needed)} but its disk has {_size(free)} free; free "
        "space there or set SEGCOMPRESS_CACHE to a folder on a larger disk"
    )


class ArrayWriter:
    """Write an ``.npy`` array of ``shape`` row by row into ``tmp`` (context manager).

    On entering, the file's whole size is compared with the free space and preallocated; on
    any exception (a full disk, Ctrl-C, a signal turned into an exception) the temporary file
    is removed. :meth:`finish` renames it to its final name and returns what the index
    records: shape, dtype, the data's offset in the file and one digest per row.
    """

    def __init__(self, tmp: Path, shape: tuple[int, ...], dtype: np.dtype | type) -> None:
        self.tmp = tmp
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
        self.digests: list[str] = []
        self.offset = 0
        self._fh: Any = None

    def __enter__(self) -> ArrayWriter:
        header = {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False}
        header["shape"] = self.shape
        try:
            self._fh = open(self.tmp, "wb")  # closed in finish or __exit__
            np.lib.format.write_array_header_1_0(self._fh, header)
            self.offset = self._fh.tell()
            total = self.offset + self.shape[0] * self.row_bytes
            if shutil.disk_usage(self.tmp.parent).free < total:
                raise _no_space(self.tmp.parent, total)
            self._fh.flush()
            _preallocate(self._fh.fileno(), total)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            if isinstance(exc, OSError):
                raise self._os_error(exc) from exc
            raise
        return self

    def _os_error(self, exc: OSError) -> DataError:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return _no_space(self.tmp.parent, self.offset + self.shape[0] * self.row_bytes)
        return DataError(f"{self.tmp.parent}: cannot write the cache ({exc.strerror or exc})")

    def append(self, rows: np.ndarray) -> None:
        """Write the next rows (their dtype and row shape must be the array's)."""
        rows = np.ascontiguousarray(rows, dtype=self.dtype)
        assert rows.shape[1:] == self.shape[1:], (rows.shape, self.shape)
        if len(self.digests) + len(rows) > self.shape[0]:
            raise ValueError(f"{self.tmp}: more rows than the {self.shape[0]} declared")
        try:
            self._fh.write(memoryview(rows).cast("B"))
        except OSError as exc:
            raise self._os_error(exc) from exc
        self.digests += [row_digest(row) for row in rows]

    def finish(self, final: Path) -> dict[str, Any]:
        """Flush, fsync and rename to ``final``; what an index needs to check the file."""
        if len(self.digests) != self.shape[0]:
            raise ValueError(f"{self.tmp}: {len(self.digests)} of {self.shape[0]} rows written")
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            os.replace(self.tmp, final)
        except OSError as exc:
            raise self._os_error(exc) from exc
        self._fh = None
        return {
            "shape": list(self.shape),
            "dtype": self.dtype.str,
            "offset": self.offset,
            "checksum": "blake2b-128 per row",
            "checksums": self.digests,
        }

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if kind is not None:
            self.tmp.unlink(missing_ok=True)


def preallocated_npy(path: Path, shape: tuple[int, ...], dtype: np.dtype | type) -> np.memmap:
    """A new ``.npy`` file mapped for writing, its free space checked and its blocks reserved
    first (:class:`ArrayWriter`), so that filling the map cannot meet a full disk (SIGBUS)."""
    with ArrayWriter(path, shape, dtype) as writer:
        offset = writer.offset
    return np.memmap(path, np.dtype(dtype), "r+", offset, tuple(shape))


def _preallocate(fd: int, size: int) -> None:
    """Reserve ``size`` bytes: a full disk fails here, not halfway. A file system that cannot
    preallocate is written anyway (``write()`` still reports a full disk as ENOSPC)."""
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise


def check_size(path: Path, meta: dict[str, Any]) -> None:
    """Raise :class:`CacheDamaged` when ``path`` is not the size its index ``meta`` says."""
    itemsize = np.dtype(meta["dtype"]).itemsize
    expected = meta["offset"] + int(np.prod(meta["shape"], dtype=np.int64)) * itemsize
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CacheDamaged(f"{path}: missing, but its index says it is complete") from None
    if size != expected:
        raise CacheDamaged(
            f"{path}: {size:,} bytes, but its index says {expected:,} (truncated or damaged)"
        )


def move_aside(directory: Path) -> Path:
    """Rename a damaged cache folder beside itself (kept, never read again); the new path.

    Another process (a DataLoader worker) may have moved it first: then that copy's path.
    """
    aside = directory.with_name(f"{directory.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        directory.rename(aside)
    except OSError as exc:
        moved = sorted(directory.parent.glob(f"{directory.name}.damaged-*"))
        if moved and not directory.exists():
            return moved[-1]
        raise DataError(
            f"{directory}: damaged, and it cannot be moved aside ({exc.strerror or exc}); "
            "delete that folder, then run the same command again"
        ) from exc
    return aside
