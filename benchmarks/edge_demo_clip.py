"""The demo's distilled INT8 student on a short synthetic driving clip, run by segcompress-edge.

Renders a few synthetic scenes (the demo's renderer) at 1.5x the clip's size and drives into
each: a crop that narrows towards the road ahead, frame by frame, as a forward-moving camera
sees it. Then runs ``segcompress-edge run`` (a separate process, as on the vehicle) and keeps
the summary, the overlay video and a few overlay frames as PNGs::

    python benchmarks/edge_demo_clip.py runs/demo            # uses runs/demo/deploy/*.int8.onnx
    python benchmarks/edge_demo_clip.py runs/demo --onnx other.int8.onnx --size 720x1280

Writes ``runs/demo/edge/``: ``drive.mp4`` (the clip), ``drive.overlay.mp4``,
``drive.summary.json``, ``drive.masks.npz`` and ``frame_<n>.png``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
from PIL import Image

from segcompress.data.synthetic.layout import render_scene

MARGIN = 1.5  # the rendered scene is this much larger than the clip, room to drive into
ZOOM = 0.35  # how much of the margin each scene's drive uses up


def drive(scene: np.ndarray, size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """``frames`` crops of ``scene`` narrowing towards its lower middle, resized to ``size``."""
    sh, sw = scene.shape[:2]
    h, w = size
    image = Image.fromarray(scene)
    out = []
    for i in range(frames):
        keep = 1 - ZOOM * i / max(1, frames - 1)
        ch, cw = sh * keep, sw * keep
        top, left = (sh - ch) * 0.6, (sw - cw) / 2  # the road ahead sits below the middle
        box = (left, top, left + cw, top + ch)
        out.append(np.asarray(image.resize((w, h), Image.BILINEAR, box=box)))
    return out


def render_clip(path: Path, size: tuple[int, int], scenes: int, frames: int, fps: int) -> Path:
    rng = np.random.default_rng(0)
    h, w = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4")
        stream.rate = fps
        stream.height, stream.width, stream.pix_fmt = h, w, "yuv420p"
        pts = 0
        for _ in range(scenes):
            scene, _labels = render_scene(rng, (int(h * MARGIN), int(w * MARGIN)))
            for rgb in drive(scene, size, frames):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = pts
                pts += 1
                container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def keep_frames(overlay: Path, out: Path, every: int) -> list[Path]:
    """Every ``every``-th overlay frame as a PNG, for a report."""
    kept = []
    with av.open(str(overlay)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == every // 2:
                kept.append(out / f"frame_{i:03d}.png")
                frame.to_image().save(kept[-1])
    return kept


def _size(text: str) -> tuple[int, int]:
    h, w = (int(v) for v in text.lower().split("x"))
    return h, w


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("demo", type=Path, help="the demo's output folder (runs/demo)")
    parser.add_argument("--onnx", type=Path, help="default: DEMO/deploy/student_kd.int8.onnx")
    parser.add_argument("--size", type=_size, default=(360, 640), help="clip HxW")
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--frames", type=int, default=30, help="frames per scene")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    onnx = args.onnx or args.demo / "deploy" / "student_kd.int8.onnx"
    out = args.demo / "edge"
    out.mkdir(parents=True, exist_ok=True)
    clip = render_clip(out / "drive.mp4", args.size, args.scenes, args.frames, args.fps)
    command = [sys.executable, "-m", "segcompress_edge", "run", str(onnx), str(clip)]
    command += ["--out", str(out), "--masks", "npz", "--threads", str(args.threads)]
    subprocess.run([*command, "--overwrite", "--no-progress"], check=True)
    summary = json.loads((out / "drive.summary.json").read_text())
    frames = keep_frames(out / "drive.overlay.mp4", out, args.frames)
    print(
        f"{summary['frames']} frames at {args.size[1]}x{args.size[0]}: "
        f"{summary['end_to_end_fps']} frames/s end to end, model {summary['model_ms_p50']} ms "
        f"p50; {len(frames)} frames kept in {out}"
    )


if __name__ == "__main__":
    main()
