"""Output safety: full or unwritable folders are caught before training, one run per folder
(stale locks of killed runs do not count), atomic checkpoint writes keep the old file."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
import sys
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
    with RunLock(tmp_path), pytest.raises(UsageError, match=f"pid {os.getpid()}"):
        RunLock(tmp_path).acquire()
    RunLock(tmp_path).acquire()  # released: free again


def test_lock_held_by_another_process_is_seen(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            f"fd = os.open({str(tmp_path / LOCK_NAME)!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match="another segcompress run"):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(tmp_path)  # the holder died (like a SIGKILLed run): no stale lock
    lock.acquire()
    lock.release()


def test_stale_lock_file_of_a_dead_run_does_not_block(tmp_path):
    (tmp_path / LOCK_NAME).write_text("999999\n")  # left by a killed run; nobody flocks it
    with RunLock(tmp_path):
        fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR)
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)
        assert (tmp_path / LOCK_NAME).read_text() == f"{os.getpid()}\n"


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path):
    for name in (".last.pt.abc.tmp", ".log.jsonl.tmp123", "keep.tmp", ".other.pt.x.tmp"):
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temps(tmp_path, ("last.pt", "log.jsonl"))
    assert sorted(p.name for p in removed) == [".last.pt.abc.tmp", ".log.jsonl.tmp123"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.pt.x.tmp", "keep.tmp"]
