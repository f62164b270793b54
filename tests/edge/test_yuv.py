"""The video path in YUV: overlay equal to the RGB one, fast resize agreeing with the exact one,
nearest upsampling by index tables, other pixel formats converted."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest
from segcompress_edge.cli import main
from segcompress_edge.draw import Painter
from segcompress_edge.prepost import preprocess, resize_argmax
from segcompress_edge.runtime import load_model
from segcompress_edge.yuv import (
    NearestUpsampler,
    YuvPainter,
    as_yuv420p,
    chroma_size,
    matrix_name,
    model_input,
    nearest_index,
    plane,
    rgb_to_yuv,
)

from tests.edge.conftest import FPS, scene, write_video


def _decoded(video: Path, n: int = 12) -> list:
    with av.open(str(video)) as container:
        return [f for _, f in zip(range(n), container.decode(video=0), strict=False)]


def _planes(frame) -> list[np.ndarray]:
    return [plane(frame, i).astype(int) for i in range(3)]


def _block_ids(h: int, w: int, block: int, seed: int = 0) -> np.ndarray:
    """Classes in ``block``-pixel squares (even, so each 2x2 chroma block has one class)."""
    rng = np.random.default_rng(seed)
    low = rng.integers(0, 26, (-(-h // block), -(-w // block))).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(low, block, 0), block, 1)[:h, :w])


def _overlays(onnx: Path, video: Path, block: int, legend: bool) -> tuple[list, list, np.ndarray]:
    """(YUV overlay's planes, RGB overlay's planes after swscale's conversion, ids)."""
    classes = load_model(onnx, threads=1).info.classes
    frame = _decoded(video)[3]
    ids = _block_ids(frame.height, frame.width, block)
    shares = np.bincount(ids.ravel(), minlength=classes.num_classes) / ids.size
    shares = shares if legend else np.zeros(classes.num_classes)
    rgb = Painter(classes).overlay(frame.to_ndarray(format="rgb24"), ids, shares)
    expected = _planes(av.VideoFrame.from_image(rgb).reformat(format="yuv420p"))
    painter = YuvPainter(classes)
    got = _planes(painter.overlay(frame, painter.colours(frame, ids=ids), shares))
    return got, expected, ids


def test_yuv_overlay_equals_the_rgb_overlay(int8_onnx: Path, video: Path) -> None:
    """Blending commutes with the affine RGB->YUV conversion. Luma equals the RGB overlay's
    within 2 code values on every pixel; chroma within 4 inside class regions (the decoded
    frame's own round trip through RGB moves its chroma by up to 6 here). At class borders
    swscale's chroma filters mix neighbouring classes' colours; the YUV path keeps one class
    per 2x2 block."""
    got, expected, ids = _overlays(int8_onnx, video, block=16, legend=False)
    assert [a.shape for a in got] == [b.shape for b in expected]
    assert np.abs(got[0] - expected[0]).max() <= 2
    chroma_ids = ids[::2, ::2]
    window = np.lib.stride_tricks.sliding_window_view(np.pad(chroma_ids, 1, mode="edge"), (3, 3))
    inside = (window == chroma_ids[:, :, None, None]).all(axis=(2, 3))
    assert inside.mean() > 0.2
    for a, b in zip(got[1:], expected[1:], strict=True):
        assert np.abs(a - b)[inside].max() <= 4 and np.abs(a - b).mean() <= 2


def test_yuv_overlay_legend_and_fine_borders(int8_onnx: Path, video: Path) -> None:
    """Legend drawn and classes changing every 3 pixels: luma still within 2 everywhere."""
    got, expected, _ = _overlays(int8_onnx, video, block=3, legend=True)
    assert np.abs(got[0] - expected[0]).max() <= 2
    assert not np.array_equal(*_overlays(int8_onnx, video, block=3, legend=False)[:1], got[:1])


def test_palette_to_yuv_matches_swscale() -> None:
    """Flat 8x8 blocks of random colours: inside each block, our conversion is swscale's
    within 1 code value (at block edges swscale's chroma filter mixes the neighbours)."""
    colours = np.random.default_rng(0).integers(0, 256, (6, 6, 3)).astype(np.uint8)
    rgb = np.repeat(np.repeat(colours, 8, 0), 8, 1)
    expected = _planes(av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p"))
    yuv = rgb_to_yuv(colours)
    assert np.abs(np.rint(yuv[..., 0]) - expected[0][4::8, 4::8]).max() <= 1
    for i in (1, 2):
        assert np.abs(np.rint(yuv[..., i]) - expected[i][2::4, 2::4]).max() <= 1


def test_fast_resize_masks_agree_with_exact(int8_onnx: Path, video: Path) -> None:
    """swscale's resize from YUV and Pillow's from RGB give the same mask on 98% of pixels of
    the small test clip (frames barely larger than the input; the benchmark measures 1080p)."""
    model = load_model(int8_onnx, threads=1)
    info = model.info
    same = total = 0
    for frame in _decoded(video):
        exact = model.predict(frame.to_ndarray(format="rgb24"))
        batch = preprocess(model_input(frame, info.input_size), *_norm(info))
        fast = resize_argmax(model.logits(batch)[0], exact.shape)
        same += int((fast == exact).sum())
        total += exact.size
    assert same / total >= 0.98


def _norm(info) -> tuple:
    return info.input_size, info.mean, info.std


@pytest.mark.parametrize(
    ("low", "size"),
    [((64, 64), (72, 96)), ((7, 5), (36, 48)), ((4, 4), (4, 4)), ((64, 64), (30, 50))],
)
def test_nearest_upsampling(low: tuple[int, int], size: tuple[int, int]) -> None:
    """Runs of repeated rows and columns give the nearest source pixel of every output pixel
    (also where a side shrinks: some source pixels are then skipped)."""
    ids = np.random.default_rng(0).integers(0, 5, low).astype(np.uint8)
    up = NearestUpsampler.upsample(ids, size)
    rows, cols = nearest_index(size[0], low[0]), nearest_index(size[1], low[1])
    assert np.array_equal(up, ids[rows][:, cols])
    wide = NearestUpsampler.columns(ids, size)
    assert np.array_equal(wide, ids[:, cols])
    assert np.array_equal(NearestUpsampler.rows(wide, low, size), up)
    # Each output pixel's source is the cell its centre falls in.
    centre = (np.arange(size[1]) + 0.5) * low[1] / size[1]
    assert np.all((cols <= centre) & (centre < cols + 1))
    counts = NearestUpsampler.counts(ids, size, 5)
    assert np.array_equal(counts, np.bincount(up.ravel(), minlength=5))


def test_chroma_size_and_conversion() -> None:
    assert chroma_size(1080, 1920) == (540, 960) and chroma_size(71, 95) == (36, 48)
    rgb = av.VideoFrame.from_ndarray(scene(0, (72, 96)), format="rgb24")
    assert as_yuv420p(rgb).format.name == "yuv420p"
    yuv = as_yuv420p(rgb)
    assert as_yuv420p(yuv) is yuv and as_yuv420p(yuv, (48, 36)).width == 48


def test_video_runs_exact_and_keeps_frames(int8_onnx: Path, video: Path, tmp_path: Path) -> None:
    """--resize exact: masks equal `predict` on each decoded frame; frame count and rate kept."""
    args = ["run", str(int8_onnx), str(video), "--threads", "1", "--masks", "npz"]
    assert main([*args, "--out", str(tmp_path), "--resize", "exact"]) == 0
    masks = np.load(tmp_path / "drive.masks.npz")
    model = load_model(int8_onnx, threads=1)
    for i, frame in enumerate(_decoded(video)):
        expected = model.predict(frame.to_ndarray(format="rgb24"))
        assert np.array_equal(masks[f"frame_{i:06d}.npy"], expected), i
    summary = json.loads((tmp_path / "drive.summary.json").read_text())
    assert summary["resize"] == "exact" and summary["mask_upsampling"] == "bilinear"
    with av.open(str(tmp_path / "drive.overlay.mp4")) as container:
        stream = container.streams.video[0]
        assert sum(1 for _ in container.decode(stream)) == 12 and stream.average_rate == FPS


def test_full_range_mjpeg_video(int8_onnx: Path, tmp_path: Path) -> None:
    """A yuvj420p (full-range) MJPEG clip: converted, blended with full-range colours."""
    clip = tmp_path / "cam.avi"
    container = av.open(str(clip), "w")
    stream = container.add_stream("mjpeg", rate=FPS)
    stream.height, stream.width, stream.pix_fmt = 72, 96, "yuvj420p"
    for i in range(4):
        frame = av.VideoFrame.from_ndarray(scene(i, (72, 96)), format="rgb24")
        container.mux(stream.encode(frame.reformat(format="yuvj420p")))
    container.mux(stream.encode(None))
    container.close()
    assert (
        main(["run", str(int8_onnx), str(clip), "--out", str(tmp_path / "o"), "--threads", "1"])
        == 0
    )
    summary = json.loads((tmp_path / "o" / "cam.summary.json").read_text())
    assert summary["frames"] == 4 and summary["mask_upsampling"] == "nearest"
    with av.open(str(tmp_path / "o" / "cam.overlay.mp4")) as container:
        frame = next(container.decode(video=0))
    assert int(frame.color_range) == 2  # full range, as the planes' values are


def test_odd_sized_video(int8_onnx: Path, tmp_path: Path) -> None:
    clip = write_video(tmp_path / "odd.mp4", [(71, 95)] * 3)
    assert main(["run", str(int8_onnx), str(clip), "--out", str(tmp_path / "o")]) == 0
    with av.open(str(tmp_path / "o" / "odd.overlay.mp4")) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 3 and (frames[0].height, frames[0].width) == (70, 94)


def test_overlay_from_the_low_resolution_mask(int8_onnx: Path, video: Path) -> None:
    """The nearest path: each plane is half the frame (rounded down) plus the class colour of
    the nearest mask pixel at that plane's size; the colour planes are built at the mask's
    rows and repeated only in the overlay."""
    painter = YuvPainter(load_model(int8_onnx, threads=1).info.classes)
    frame = _decoded(video, 1)[0]
    low = np.random.default_rng(3).integers(0, 26, (40, 40)).astype(np.uint8)
    colours = painter.colours(frame, low=low)
    assert all(c.wide.shape[0] == 40 for c in colours)
    src = _planes(frame)
    got = _planes(painter.overlay(frame, colours, np.zeros(26)))
    luts = painter.luts(*matrix_name(frame))
    for i, lut in enumerate(luts):
        size = src[i].shape
        expected = src[i] // 2 + lut[NearestUpsampler.upsample(low, size)].astype(int)
        assert np.array_equal(got[i], expected), i


def test_overlay_reuses_its_frame(int8_onnx: Path, video: Path) -> None:
    """One output frame per size, written again each call (the encoder has copied it)."""
    painter = YuvPainter(load_model(int8_onnx, threads=1).info.classes)
    frames = _decoded(video, 2)
    none = np.zeros(26)
    first = painter.overlay(frames[0], painter.colours(frames[0], ids=_block_ids(72, 96, 8)), none)
    y0 = plane(first, 0).copy()
    again = painter.overlay(frames[1], painter.colours(frames[1], ids=_block_ids(72, 96, 4)), none)
    assert again is first and not np.array_equal(plane(again, 0), y0)
    small = as_yuv420p(frames[0], (48, 36))
    other = painter.overlay(small, painter.colours(small, ids=_block_ids(36, 48, 8)), none)
    assert other is not first and (other.width, other.height) == (48, 36)
