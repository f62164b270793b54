"""Inputs for segcompress-edge checks, made with the training package: an exported student
(FP32 and INT8, metadata included; untrained weights, which time like trained ones) and a
synthetic driving clip encoded with PyAV.

Used by ``bench_edge_video.py`` and by CI's ``.ci/edge_check.sh``, which then runs the INT8
file in a fresh venv that has only ``pip install ./edge``::

    python benchmarks/edge_inputs.py OUT_DIR --model student_xs --size 64x64 --video 240x320
"""

from __future__ import annotations

import argparse
from pathlib import Path

import av
import numpy as np
import torch

from segcompress.data.classes import IDD_LEVEL3
from segcompress.deploy.metadata import ModelInfo, inference_checkpoint
from segcompress.deploy.onnx_export import export_checkpoint
from segcompress.deploy.quantize import quantize_onnx
from segcompress.engine.checkpoint import save_checkpoint
from segcompress.models.registry import create_model

CALIBRATION_IMAGES = 8


def make_student(out: Path, model: str, size: tuple[int, int]) -> tuple[Path, Path]:
    """``out/<model>.onnx`` and ``out/<model>.int8.onnx`` at ``size`` (H, W), seed 0."""
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    net = create_model(model).eval()
    info = ModelInfo(classes=IDD_LEVEL3, input_size=size, model_name=model)
    ckpt = out / f"{model}.pt"
    save_checkpoint(inference_checkpoint(net, info), ckpt)
    fp32 = export_checkpoint(ckpt, out / f"{model}.onnx").path
    calib = torch.randn(CALIBRATION_IMAGES, 3, *size)
    int8 = quantize_onnx(fp32, out / f"{model}.int8.onnx", calib).path
    return Path(fp32), Path(int8)


def scene(h: int, w: int) -> np.ndarray:
    """A road scene: sky, horizon, lane marks and a car (the clip pans across it)."""
    frame = np.empty((h, w, 3), np.uint8)
    horizon = h * 9 // 20
    frame[:horizon] = (135, 175, 225)
    frame[horizon:] = (85, 85, 90)
    marks = np.arange(w) % (w // 8) < w // 32
    frame[h * 3 // 4 : h * 3 // 4 + max(2, h // 60), marks] = (240, 240, 240)
    frame[horizon - h // 10 : horizon + h // 12, w // 3 : w // 2] = (170, 30, 35)
    return frame


def write_clip(path: Path, frames: int, size: tuple[int, int], fps: int = 30) -> Path:
    """``frames`` frames of :func:`scene` at ``size`` (H, W), H.264 when available."""
    h, w = size
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width, stream.pix_fmt = h, w, "yuv420p"
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        base = scene(h, w)
        for i in range(frames):
            # The camera pans: shifts of one rendered scene, cheap to make at 1080p.
            frame = av.VideoFrame.from_ndarray(np.roll(base, -i * 4, axis=1), format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def _size(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", default="student_xs")
    parser.add_argument("--size", type=_size, default=(64, 64), help="model input HxW")
    parser.add_argument("--video", type=_size, default=(240, 320), help="clip HxW")
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    fp32, int8 = make_student(args.out, args.model, args.size)
    clip = write_clip(args.out / "clip.mp4", args.frames, args.video)
    print(f"wrote {fp32}, {int8} and {clip}")


if __name__ == "__main__":
    main()
