"""Safety of a run folder: one writer at a time, and a folder known writable before training.

Why: hours of training lost at the first checkpoint because the disk is full or read-only, or two
runs silently interleaving checkpoints in one folder, are failures a user only discovers too late.

How: ``RunLock`` holds a ``filelock.FileLock`` (an exclusive ``flock`` on Unix) on ``{out}/.lock``
for the whole run. The kernel drops the lock when its process dies, so a run killed with SIGKILL
never blocks its own ``--resume``; the file only records the holder's pid for the message.
``probe_writable`` writes, fsyncs and deletes a small file (catching read-only, permission and
full-disk errors before any work), and ``check_free_space`` compares the free space with what the
checkpoints will need.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from filelock import FileLock, Timeout

from segcompress.errors import DataError, UsageError
from segcompress.fileio import describe_os_error

__all__ = [
    "LOCK_NAME",
    "PROBE_BYTES",
    "RunLock",
    "check_free_space",
    "probe_writable",
    "remove_stale_temps",
]

LOCK_NAME = ".lock"
# Big enough that a nearly full disk fails the probe, small enough to cost nothing.
PROBE_BYTES = 1 << 20


def probe_writable(out: Path, size: int = PROBE_BYTES) -> None:
    """Create, fill, fsync and remove a file in ``out``; a ``DataError`` names the problem."""
    probe = out / f".write-probe.{os.getpid()}"
    try:
        _write_probe(probe, size)
    except OSError as exc:
        raise DataError(f"--out {out}: cannot write there ({describe_os_error(exc)})") from exc
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)


def _write_probe(path: Path, size: int) -> None:
    with open(path, "wb") as fh:
        fh.write(b"\0" * size)
        fh.flush()
        os.fsync(fh.fileno())


def check_free_space(out: Path, needed: int, what: str) -> None:
    """Refuse to go on when ``out`` has less than ``needed`` bytes free for ``what``."""
    free = shutil.disk_usage(out).free
    if free < needed:
        raise DataError(
            f"--out {out}: only {free / 2**20:.1f} MiB free but {what} need about "
            f"{needed / 2**20:.1f} MiB; free space or choose another --out"
        )


class RunLock:
    """Exclusive lock on a run folder while a process writes into it (context manager).

    Args:
        out: the run folder (must exist when acquiring).
        enabled: False makes every method a no-op (DDP ranks other than 0 write nothing).
    """

    def __init__(self, out: Path, *, enabled: bool = True) -> None:
        self.path = Path(out) / LOCK_NAME
        self.enabled = enabled
        # timeout=0: one attempt; a second run is refused at once rather than left waiting.
        self._lock = FileLock(self.path, timeout=0, on_acquired=_record_pid)

    def acquire(self) -> None:
        if not self.enabled or self._lock.is_locked:
            return
        try:
            self._lock.acquire()
        except Timeout:
            raise UsageError(
                f"--out {self.path.parent}: another segcompress run (pid {_holder(self.path)}) "
                "is writing there; wait for it to finish or choose another --out"
            ) from None

    def release(self) -> None:
        self._lock.release()  # a no-op when not held

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _record_pid(fd: int) -> None:
    """Write this process's pid into the lock file it has just locked, for others' messages."""
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())


def _holder(path: Path) -> str:
    """The pid the holder recorded; "unknown" if it has not written it yet or cannot be read."""
    try:
        return path.read_text("ascii", "replace").strip() or "unknown"
    except OSError:
        return "unknown"


def remove_stale_temps(out: Path, names: tuple[str, ...]) -> list[Path]:
    """Delete temporary files that killed atomic writes of ``names`` left in ``out``.

    Only call this while holding the run's lock: then no live process is writing them.
    """
    stale = [p for name in names for p in out.glob(f".{name}.*tmp*") if p.is_file()]
    for path in stale:
        path.unlink(missing_ok=True)
    return stale
