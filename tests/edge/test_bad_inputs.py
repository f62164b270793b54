"""Every bad input is one line on stderr naming the file or flag and the fix, exit 1 or 2."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import onnx
import pytest
from segcompress_edge.cli import main
from segcompress_edge.errors import EdgeError
from segcompress_edge.meta import read_model_info

from segcompress.data.classes import IDD_LEVEL3


def _fails(args: list[str], capsys: pytest.CaptureFixture, code: int, *needles: str) -> str:
    assert main(["run", *args, "--threads", "1", "--no-progress"]) == code
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    return err


def test_truncated_video(int8_onnx: Path, video: Path, tmp_path: Path, capsys) -> None:
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    _fails(
        [str(int8_onnx), str(cut), "--out", str(tmp_path / "o")], capsys, 1, "cut.mp4", "truncated"
    )


def test_not_a_video(int8_onnx: Path, tmp_path: Path, capsys) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("not a video\n" * 50)
    _fails(
        [str(int8_onnx), str(fake), "--out", str(tmp_path / "o")],
        capsys,
        1,
        "notes.mp4",
        "not a video",
    )


def test_not_an_onnx_model(video: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"\x00\x01garbage" * 100)
    _fails(
        [str(model), str(video), "--out", str(tmp_path / "o")], capsys, 1, "model.onnx", "export"
    )


def test_onnx_without_metadata_needs_classes(int8_onnx, video, tmp_path, capsys) -> None:
    proto = onnx.load(str(int8_onnx))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    out = str(tmp_path / "o")
    _fails([str(bare), str(video), "--out", out], capsys, 2, "bare.onnx", "--classes")
    table = tmp_path / "classes.json"
    table.write_text(json.dumps(IDD_LEVEL3.to_dict()))
    assert main(["run", str(bare), str(video), "--out", out, "--classes", str(table)]) == 0


def test_missing_runtime(int8_onnx, video, tmp_path, capsys, monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a)
    )
    args = [str(int8_onnx), str(video), "--out", str(tmp_path / "o"), "--runtime", "openvino"]
    _fails(args, capsys, 2, "--runtime openvino", "pip install")


def test_unwritable_out(int8_onnx: Path, video: Path, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out = blocker / "out"
    _fails([str(int8_onnx), str(video), "--out", str(out)], capsys, 2, f"--out {out}")


def test_nothing_overwritten_without_overwrite(int8_onnx, video, tmp_path, capsys) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "drive.summary.json").write_text("mine")
    args = [str(int8_onnx), str(video), "--out", str(out)]
    _fails(args, capsys, 2, "drive.summary.json", "--overwrite")
    assert (out / "drive.summary.json").read_text() == "mine"
    assert not (out / "drive.overlay.mp4").exists()
    assert main(["run", *args, "--overwrite"]) == 0
    assert json.loads((out / "drive.summary.json").read_text())["frames"] == 12


@pytest.mark.parametrize("cut", [0.5, 0.97])
def test_truncated_onnx_metadata_read(int8_onnx: Path, tmp_path: Path, cut: float) -> None:
    """The protobuf reader itself names a cut file (ONNX Runtime is not asked first)."""
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(int8_onnx.read_bytes()[: int(int8_onnx.stat().st_size * cut)])
    with pytest.raises(EdgeError, match=r"cut\.onnx: not a readable ONNX model"):
        read_model_info(bad)
