"""Atomic writes: the old file or the complete new one, never half, and no temporary left."""

from __future__ import annotations

import errno
import os

import pytest

import segcompress.fileio as fileio
from segcompress.errors import DataError


def test_a_failure_inside_the_block_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.json"
    fileio.atomic_write_bytes(path, b"old")
    with pytest.raises(RuntimeError), fileio.atomic_write(path) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("killed mid-write")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.json"]


def test_a_full_disk_is_a_data_error_naming_the_file(tmp_path, monkeypatch):
    path = tmp_path / "model.onnx"
    fileio.atomic_write_bytes(path, b"old")

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(DataError, match=r"model\.onnx: cannot write the ONNX model .*disk is full"):
        fileio.atomic_write_bytes(path, b"new", "ONNX model")
    monkeypatch.undo()
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.onnx"]


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        fileio.atomic_write_bytes(tmp_path / "nope" / "x.txt", b"x")


def test_replace_atomic_moves_a_finished_temporary(tmp_path):
    tmp, path = tmp_path / ".a.npy.tmp1", tmp_path / "a.npy"
    tmp.write_bytes(b"filled in place")
    fileio.replace_atomic(tmp, path)
    assert path.read_bytes() == b"filled in place" and not tmp.exists()
    assert fileio.file_sha256(path) == fileio.file_sha256(path) != fileio.file_sha256(__file__)


def test_written_files_get_the_mode_open_would_give(tmp_path):
    """Not mkstemp's private 0600: reports and results must be readable like any output."""
    import stat

    old = os.umask(0o022)
    try:
        fileio.atomic_write_bytes(tmp_path / "a.json", b"{}")
        plain = tmp_path / "b.json"
        plain.write_bytes(b"{}")
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "a.json").stat().st_mode)
    assert mode == stat.S_IMODE(plain.stat().st_mode) == 0o644
