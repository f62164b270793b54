"""Fixtures for segcompress-edge: the deploy tests' small student (trained a few steps, exported
with metadata, quantized) and short videos encoded here with PyAV, so nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from tests.deploy.conftest import (  # noqa: F401  (fixtures, used by name)
    checkpoint,
    export_report,
    fp32_onnx,
    info,
    int8_report,
    synth_root,
    trained_model,
)

FPS = 12


def scene(index: int, size: tuple[int, int]) -> np.ndarray:
    """A driving-like frame: sky, road and a box that moves with ``index``."""
    h, w = size
    frame = np.zeros((h, w, 3), np.uint8)
    frame[: h // 2] = (120, 160, 220)
    frame[h // 2 :] = (90, 90, 90)
    x = (index * 7) % max(1, w - w // 4)
    frame[h // 2 - h // 8 : h // 2 + h // 8, x : x + w // 4] = (200, 30, 30)
    return frame


def write_video(
    path: Path, sizes: list[tuple[int, int]], codec: str = "mpeg4", fmt: str | None = None
) -> Path:
    """One frame per entry of ``sizes`` (H, W) at ``FPS``; a size change starts a new stream
    segment (only containers that allow it, e.g. MPEG-TS, keep it)."""
    container = av.open(str(path), "w", format=fmt)
    stream = container.add_stream(codec, rate=FPS)
    stream.height, stream.width = sizes[0]
    stream.pix_fmt = "yuv420p"
    for i, size in enumerate(sizes):
        frame = av.VideoFrame.from_ndarray(scene(i, size), format="rgb24")
        frame.pts = i
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()
    return path


@pytest.fixture(scope="session")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames of 72x96 (not the model's 64x64), 12 frames/s, MPEG-4 in MP4."""
    return write_video(tmp_path_factory.mktemp("video") / "drive.mp4", [(72, 96)] * 12)


@pytest.fixture(scope="session")
def int8_onnx(int8_report) -> Path:  # noqa: F811  (the imported fixture, by name)
    return int8_report.path
