"""Output safety: full or unwritable folders are caught before training, one run per folder
(stale locks of killed runs do not count), atomic checkpoint writes keep the old file."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from collections import namedtuple

import pytest

import segcompress.engine.outdir as outdir
import segcompress.fileio as fileio
from segcompress.engine.checkpoint import load_checkpoint, save_checkpoint
from segcompress.engine.outdir import LOCK_NAME, RunLock, probe_writable, remove_stale_temps
from segcompress.errors import DataError, UsageError
from tests.engine.tiny import TinySet, tiny_config, tiny_trainer


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_probe_names_the_folder_and_the_fix(tmp_path, monkeypatch, code):
    def fail(path, size):
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(outdir, "_write_probe", fail)
    with pytest.raises(DataError, match=f"--out {tmp_path}: cannot write there") as info:
        probe_writable(tmp_path)
    assert "choose" in str(info.value) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


def test_probe_really_writes_and_cleans_up(tmp_path):
    probe_writable(tmp_path, size=4096)
    assert list(tmp_path.iterdir()) == []
    blocker = tmp_path / "file"
    blocker.write_text("")  # a real fault even as root: a folder below a file
    with pytest.raises(DataError, match="Not a directory; a path component is a file"):
        probe_writable(blocker / "x")


def test_too_little_space_for_checkpoints_stops_before_the_first_step(tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(outdir.shutil, "disk_usage", lambda path: usage(10**9, 10**9, 1000))
    trainer = tiny_trainer(tiny_config(tmp_path / "run"), TinySet(8, 0), TinySet(4, 1))
    with pytest.raises(DataError, match="MiB free but best.pt and checkpoint rewrites need"):
        trainer.fit()
    assert trainer.step == 0  # nothing trained


def test_failed_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    good = {
        "format_version": 1,
        "model_name": "m",
        "model_args": {},
        "model": {},
        "num_classes": 1,
        "classes": {},
    }
    save_checkpoint(good, path)
    before = path.read_bytes()

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(DataError, match="disk is full") as info:
        save_checkpoint({**good, "epoch": 2}, path)
    assert str(path) in str(info.value)
    monkeypatch.undo()
    assert path.read_bytes() == before and load_checkpoint(path)["model_name"] == "m"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary left


def test_a_second_run_on_a_locked_folder_is_refused(tmp_path):
    with RunLock(tmp_path), pytest.raises(UsageError, match=f"pid {os.getpid()}") as info:
        RunLock(tmp_path).acquire()
    assert "\n" not in str(info.value)
    RunLock(tmp_path).acquire()  # released: free again


def test_another_thread_cannot_take_a_held_lock(tmp_path):
    errors: list[BaseException] = []

    def contend() -> None:
        try:
            RunLock(tmp_path).acquire()
        except UsageError as exc:
            errors.append(exc)

    with RunLock(tmp_path):
        thread = threading.Thread(target=contend)
        thread.start()
        thread.join()
    assert len(errors) == 1 and "another segcompress run" in str(errors[0])


def test_lock_held_by_another_process_is_seen_and_freed_by_its_sigkill(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from segcompress.engine.outdir import RunLock\n"
            f"lock = RunLock({str(tmp_path)!r})\nlock.acquire()\n"
            "print('held', flush=True)\ntime.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        for _ in range(2):  # a refused attempt leaves the holder's pid in place
            with pytest.raises(UsageError, match=f"another segcompress run \\(pid {holder.pid}\\)"):
                RunLock(tmp_path).acquire()
    finally:
        holder.kill()  # SIGKILL: no chance to release
        holder.wait()
    with RunLock(tmp_path):  # the kernel dropped the dead holder's lock: its --resume may run
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"


def test_stale_lock_file_of_a_dead_run_does_not_block(tmp_path):
    (tmp_path / LOCK_NAME).write_text("999999\n")  # left by a killed run; nobody holds it
    with RunLock(tmp_path):
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        with pytest.raises(UsageError, match=f"pid {os.getpid()}"):
            RunLock(tmp_path).acquire()


def test_disabled_lock_does_nothing(tmp_path):
    """Non-zero DDP ranks: no lock file, and rank 0's lock does not stop them."""
    other = RunLock(tmp_path, enabled=False)
    other.acquire()
    other.release()
    assert not (tmp_path / LOCK_NAME).exists()
    with RunLock(tmp_path), RunLock(tmp_path, enabled=False):
        pass


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path):
    for name in (".last.pt.abc.tmp", ".log.jsonl.tmp123", "keep.tmp", ".other.pt.x.tmp"):
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temps(tmp_path, ("last.pt", "log.jsonl"))
    assert sorted(p.name for p in removed) == [".last.pt.abc.tmp", ".log.jsonl.tmp123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.x.tmp", "keep.tmp"]
