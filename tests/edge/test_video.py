"""Video in, overlay video, masks and summary out; --every, --max-frames, Ctrl-C, size changes."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from segcompress_edge import video as video_mod
from segcompress_edge.cli import main
from segcompress_edge.runtime import load_model

from tests.edge.conftest import FPS, write_video


def _frames(path: Path) -> tuple[int, float, tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f for f in container.decode(stream)]
        return len(frames), float(stream.average_rate), (frames[0].height, frames[0].width)


def test_video_outputs(int8_onnx: Path, video: Path, tmp_path: Path) -> None:
    args = ["run", str(int8_onnx), str(video), "--out", str(tmp_path), "--masks", "npz"]
    assert main([*args, "--threads", "1"]) == 0
    assert _frames(tmp_path / "drive.overlay.mp4") == (12, FPS, (72, 96))
    masks = np.load(tmp_path / "drive.masks.npz")
    assert len(masks.files) == 12 and masks["frame_000000.npy"].shape == (72, 96)
    model = load_model(int8_onnx, threads=1)
    with av.open(str(video)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    # --resize fast (default): swscale's input; the mask agrees with `predict`'s (test_yuv.py
    # holds --resize exact to equality).
    assert np.mean(masks["frame_000000.npy"] == model.predict(first)) >= 0.99
    summary = json.loads((tmp_path / "drive.summary.json").read_text())
    assert summary["frames"] == 12 and summary["complete"] and summary["int8"]
    assert 0 < summary["model_ms_p50"] <= summary["model_ms_p90"]
    assert summary["end_to_end_fps"] > 0 and summary["first_mask_s"] > 0
    assert set(summary["stage_ms_per_frame"]) == set(video_mod.STAGES)
    assert abs(sum(summary["class_share"].values()) - 1) < 1e-3
    series = summary["class_share_over_time"]
    assert len(series["share"]) == 1 and len(series["share"][0]) == len(series["classes"]) == 26


def test_every_and_max_frames(int8_onnx: Path, video: Path, tmp_path: Path) -> None:
    args = ["run", str(int8_onnx), str(video), "--threads", "1", "--masks", "png"]
    assert main([*args, "--out", str(tmp_path / "a"), "--every", "3"]) == 0
    assert _frames(tmp_path / "a" / "drive.overlay.mp4")[:2] == (4, FPS / 3)  # same duration
    pngs = sorted(p.name for p in (tmp_path / "a" / "drive.masks").iterdir())
    assert pngs == [f"frame_{i:06d}.png" for i in (0, 3, 6, 9)]
    assert main([*args, "--out", str(tmp_path / "b"), "--max-frames", "5", "--scale", "0.5"]) == 0
    assert _frames(tmp_path / "b" / "drive.overlay.mp4") == (5, FPS, (36, 48))
    assert Image.open(tmp_path / "b" / "drive.masks" / "frame_000004.png").size == (48, 36)


def _decoded_planes(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray() for f in container.decode(video=0)]


def test_decoder_threads(int8_onnx: Path, video: Path, tmp_path: Path, monkeypatch) -> None:
    """One decoder thread by default, FFmpeg's frame threads with --decoder-threads 0: the same
    frames, so the same masks and overlay."""
    seen = []
    frames = video_mod._frames

    def spy(container, path, options):
        for item in frames(container, path, options):
            ctx = container.streams.video[0].codec_context
            seen.append((ctx.thread_count, str(ctx.thread_type)))
            yield item

    monkeypatch.setattr(video_mod, "_frames", spy)
    args = ["run", str(int8_onnx), str(video), "--threads", "1", "--masks", "npz"]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    assert set(seen) == {(1, seen[0][1])}
    seen.clear()
    assert main([*args, "--out", str(tmp_path / "auto"), "--decoder-threads", "0"]) == 0
    assert seen and all(count != 1 and "AUTO" in kind for count, kind in seen)
    one, auto = (np.load(tmp_path / d / "drive.masks.npz") for d in ("one", "auto"))
    assert one.files == auto.files and all(np.array_equal(one[k], auto[k]) for k in one.files)
    overlays = [_decoded_planes(tmp_path / d / "drive.overlay.mp4") for d in ("one", "auto")]
    assert len(overlays[0]) == 12
    assert all(np.array_equal(a, b) for a, b in zip(*overlays, strict=True))


def test_ctrl_c_leaves_a_playable_file(int8_onnx, video, tmp_path, monkeypatch, capsys) -> None:
    encode = video_mod._Writer.encode

    def interrupted(self, image, ids, index) -> None:
        if self.count == 5:
            raise KeyboardInterrupt
        encode(self, image, ids, index)

    monkeypatch.setattr(video_mod._Writer, "encode", interrupted)
    assert main(["run", str(int8_onnx), str(video), "--out", str(tmp_path)]) == 130
    assert "interrupted" in capsys.readouterr().out
    assert _frames(tmp_path / "drive.overlay.mp4")[0] == 5
    assert json.loads((tmp_path / "drive.summary.json").read_text())["complete"] is False


def test_frame_size_change_is_handled(int8_onnx: Path, tmp_path: Path, capsys) -> None:
    """Two MPEG-TS segments of different sizes, joined as a camera switch would leave them."""
    a = write_video(tmp_path / "a.ts", [(72, 96)] * 4, codec="mpeg2video", fmt="mpegts")
    b = write_video(tmp_path / "b.ts", [(48, 64)] * 4, codec="mpeg2video", fmt="mpegts")
    joined = tmp_path / "joined.ts"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    out = tmp_path / "out"
    assert main(["run", str(int8_onnx), str(joined), "--out", str(out), "--masks", "npz"]) == 0
    with av.open(str(joined)) as container:
        shapes = [(f.height, f.width) for f in container.decode(video=0)]
    assert shapes[0] == (72, 96) and shapes[-1] == (48, 64)
    switch = shapes.index((48, 64))
    count, _, size = _frames(out / "joined.overlay.mp4")
    assert (count, size) == (len(shapes), (72, 96))  # every frame, scaled to the first's size
    masks = np.load(out / "joined.masks.npz")
    assert [masks[k].shape for k in sorted(masks.files)] == shapes  # masks at their own size
    change = json.loads((out / "joined.summary.json").read_text())["size_changes"]
    assert change == [{"frame": switch, "from": [72, 96], "to": [48, 64]}]
    assert f"first at frame {switch} ([72, 96] -> [48, 64])" in capsys.readouterr().out


def test_image_overlay(int8_onnx: Path, tmp_path: Path) -> None:
    Image.fromarray(np.full((30, 40, 3), 128, np.uint8)).save(tmp_path / "x.jpg")
    out = tmp_path / "out"
    assert (
        main(["run", str(int8_onnx), str(tmp_path / "*.jpg"), "--out", str(out), "--overlay"]) == 0
    )
    assert Image.open(out / "x.png").mode == "P" and Image.open(out / "x.png").size == (40, 30)
    assert Image.open(out / "x_overlay.png").size == (40, 30)


@pytest.mark.parametrize("runtime", ["openvino"])
def test_openvino_runs_the_same_file(int8_onnx: Path, video: Path, tmp_path: Path, runtime: str):
    pytest.importorskip("openvino")
    args = ["run", str(int8_onnx), str(video), "--out", str(tmp_path), "--runtime", runtime]
    assert main([*args, "--max-frames", "2", "--masks", "npz"]) == 0
    summary = json.loads((tmp_path / "drive.summary.json").read_text())
    assert summary["runtime"] == "openvino" and summary["frames"] == 2


def test_share_series_windows() -> None:
    """Running sums: 5 frames at 2 frames/s are windows of 2, 2 and the last 1 frame."""
    series = video_mod._ShareSeries(Fraction(2), 2)
    for first in (1.0, 0.0, 0.5, 0.5, 0.25):
        series.add(np.array([first, 1 - first]))
    overall, over_time = series.finish(("road", "sky"))
    assert overall == {"road": 0.45, "sky": 0.55}
    assert over_time["share"] == [[0.5, 0.5], [0.5, 0.5], [0.25, 0.75]]
    assert over_time["window_s"] == 1.0
