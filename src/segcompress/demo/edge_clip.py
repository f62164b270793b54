"""A short synthetic driving clip for the demo, and a strip of its overlay frames for the report.

The demo's own scene renderer draws each scene at 1.5x the clip's size; the clip then drives
into it (a crop narrowing towards the road ahead, frame by frame), as a forward-moving camera
sees it. ``segcompress-edge`` runs the distilled INT8 student on it (``EdgeVideo`` stage).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from segcompress.data.synthetic.layout import render_scene

__all__ = ["drive", "edge_line", "frame_strip", "render_clip"]

MARGIN = 1.5  # the rendered scene is this much larger than the clip, room to drive into
ZOOM = 0.35  # how much of that room each scene's drive uses


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
        out.append(
            np.asarray(image.resize((w, h), Image.BILINEAR, (left, top, left + cw, top + ch)))
        )
    return out


def render_clip(
    path: Path, size: tuple[int, int], scenes: int, frames: int, fps: int, seed: int
) -> Path:
    """``scenes`` synthetic scenes, ``frames`` frames each, as an H.264 (else MPEG-4) video."""
    import av

    rng = np.random.default_rng(seed)
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


def frame_strip(overlay: Path, out: Path, every: int) -> int:
    """The middle frame of every ``every`` overlay frames, side by side in one PNG; returns how
    many frames it shows."""
    import av

    kept = []
    with av.open(str(overlay)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i % every == every // 2:
                kept.append(frame.to_image())
    strip = Image.new("RGB", (sum(k.width for k in kept) + 4 * (len(kept) - 1), kept[0].height))
    x = 0
    for image in kept:
        strip.paste(image, (x, 0))
        x += image.width + 4
    strip.save(out)
    return len(kept)


def edge_line(inputs: dict[str, Any]) -> str:
    """The report's line: what segcompress-edge did with the INT8 student on the clip."""
    e = inputs["edge"]
    return (
        f"segcompress-edge (numpy, Pillow, ONNX Runtime, PyAV; no torch) ran the distilled INT8 "
        f"student on a {e['frames']}-frame synthetic driving clip ({e['size'][1]}x{e['size'][0]})"
        f" at {e['end_to_end_fps']:.1f} frames/s end to end with {e['threads']} threads (decoding,"
        f" masks, overlay and encoding included; model {e['model_ms_p50']:.1f} ms p50): "
        f"{e['command']}"
    )
