"""``segcompress-edge run MODEL.onnx INPUT --out OUT``: masks for images, overlays for videos.

Every failure the user can act on is one line naming the file or flag and the fix, exit 1 (bad
data) or 2 (bad usage); ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from segcompress_edge import __version__
from segcompress_edge.draw import Painter, mask_png_bytes
from segcompress_edge.errors import EdgeError, UsageError
from segcompress_edge.meta import load_class_table
from segcompress_edge.runtime import RUNTIMES, EdgeModel, load_model
from segcompress_edge.video import VideoOptions, run_video, video_outputs

__all__ = ["main", "read_image"]

DEFAULT_THREADS = 2  # inference threads in all, split among the workers unless --threads
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp"})


def read_image(path: Path) -> np.ndarray:
    """An RGB uint8 array, converted as the training package's ``read_image`` does."""
    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(img, dtype=np.int64)
                arr = (arr * 255 // max(int(arr.max()), 255)).astype(np.uint8)
                return np.repeat(arr[:, :, None], 3, axis=2)
            if img.mode == "P":
                img = img.convert("RGBA")
            return np.array(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError) as exc:
        raise EdgeError(f"{path}: not a readable image ({exc.__class__.__name__})") from exc


def _inputs(item: str) -> list[Path]:
    """An image, a video, a folder (its images and videos, recursively) or a glob pattern."""
    path = Path(item)
    if path.is_dir():
        found = sorted(p for p in path.rglob("*") if p.is_file() and _is_image(p))
    elif path.is_file():
        found = [path]
    elif glob.has_magic(item):
        found = sorted(Path(p) for p in glob.glob(item, recursive=True) if Path(p).is_file())
    else:
        raise UsageError(f"{item}: no such file, folder or matching pattern")
    if not found:
        raise UsageError(f"{item}: no images or videos found there")
    return found


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h > 0 and w > 0:
            return h, w
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"expected HxW (e.g. 256x256), got {text!r}")


def _positive(text: str) -> int:
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")


def _count(text: str) -> int:
    if text.isdigit():
        return int(text)
    raise argparse.ArgumentTypeError(f"expected a whole number (0 or more), got {text!r}")


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if 0 < value <= 1:
        return value
    raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")


def _writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise UsageError(
            f"--out {out}: cannot write there ({exc.strerror or exc}); choose another folder"
        ) from exc


def _refuse_existing(targets: Sequence[Path], overwrite: bool) -> None:
    if overwrite:
        return
    for target in targets:
        if target.exists():
            raise UsageError(f"{target}: already exists; pass --overwrite to replace it")


def _write(path: Path, data: bytes) -> None:
    """Write through a temporary file, so an interrupted run leaves no half-written image."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _run_images(model: EdgeModel, images: list[Path], out: Path, overlay: bool) -> None:
    painter = Painter(model.info.classes)
    for path in images:
        rgb = read_image(path)
        ids = model.predict(rgb)
        _write(out / f"{path.stem}.png", mask_png_bytes(ids, model.info.classes))
        if overlay:
            painter.write_overlay(rgb, ids, out / f"{path.stem}_overlay.png")
    print(f"wrote {len(images)} mask(s) to {out}")


def _run(args: argparse.Namespace) -> int:
    items = [p for item in args.inputs for p in _inputs(item)]
    images = [p for p in items if _is_image(p)]
    videos = [p for p in items if not _is_image(p)]
    out = Path(args.out)
    options = VideoOptions(
        every=args.every,
        max_frames=args.max_frames,
        masks=args.masks,
        codec=args.codec,
        scale=args.scale,
        progress=not args.no_progress,
        resize=args.resize,
        encoder_threads=args.encoder_threads,
        decoder_threads=args.decoder_threads,
        workers=args.workers,
    )
    plans = {v: video_outputs(v, out, options) for v in videos}
    targets = [out / f"{p.stem}.png" for p in images]
    targets += [out / f"{p.stem}_overlay.png" for p in images if args.overlay]
    targets += [t for plan in plans.values() for t in plan.values()]
    if len(set(targets)) < len(targets):
        raise UsageError(f"{args.inputs[0]}: two inputs share a file name; run them separately")
    _refuse_existing(targets, args.overwrite)
    _writable(out)
    classes = load_class_table(args.classes) if args.classes else None
    # Images run one at a time: one worker. By default the workers share two threads.
    workers = args.workers if videos else 1
    model = load_model(
        args.model,
        runtime=args.runtime,
        threads=args.threads or max(1, DEFAULT_THREADS // workers),
        classes=classes,
        img_size=args.img_size,
        workers=workers,
    )
    if images:
        _run_images(model, images, out, args.overlay)
    for video, plan in plans.items():
        try:
            summary = run_video(model, video, plan, options)
        except KeyboardInterrupt:
            print(f"interrupted: the frames done are in {plan['overlay']} (playable)")
            return 130
        print(
            f"{video.name}: {summary['frames']} frames, {summary['end_to_end_fps']} frames/s "
            f"end to end (model alone {summary['model_only_fps']}); wrote {plan['overlay']}"
        )
        if summary["size_changes"]:
            first = summary["size_changes"][0]
            print(
                f"{video.name}: the frame size changed {len(summary['size_changes'])} time(s), "
                f"first at frame {first['frame']} ({first['from']} -> {first['to']}); overlay "
                "frames are scaled to the first frame's size, masks keep each frame's own"
            )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="segcompress-edge",
        description="Run an exported segcompress student (ONNX, FP32 or INT8) on images or video.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="masks for images, overlay video and summary for videos")
    run.add_argument("model", help="ONNX file written by `segcompress export` / `quantize`")
    run.add_argument("inputs", nargs="+", help="image, folder, glob, or video (mp4, mkv, avi...)")
    run.add_argument("--out", required=True, help="output folder")
    run.add_argument("--runtime", choices=RUNTIMES, default="onnxruntime")
    run.add_argument(
        "--workers",
        type=_positive,
        default=2,
        help="video: model workers (2), each taking the next frame; 1: one model call at a time",
    )
    run.add_argument(
        "--threads",
        type=_positive,
        help=f"inference threads of each worker (default: {DEFAULT_THREADS} shared by the workers)",
    )
    run.add_argument("--every", type=_positive, default=1, help="video: every Nth frame")
    run.add_argument("--max-frames", type=_positive, help="video: stop after this many frames")
    run.add_argument("--masks", choices=("png", "npz"), help="video: also write class-id masks")
    run.add_argument(
        "--scale",
        type=_fraction,
        default=1.0,
        help="video: masks and overlay at this fraction of the frame size (0.5: a quarter of "
        "the pixels to upsample, draw and encode; the model sees the scaled frame)",
    )
    run.add_argument(
        "--resize",
        choices=("fast", "exact"),
        default="fast",
        help="video: fast (default) shrinks each frame for the model with swscale, straight from "
        "the decoder's YUV; exact uses Pillow on the RGB frame as for images (masks equal "
        "`segcompress predict`'s on the decoded frames), at more CPU per frame",
    )
    run.add_argument(
        "--encoder-threads",
        type=_count,
        default=1,
        help="video: encoder threads (1; 0: FFmpeg's choice, for 4K on many cores)",
    )
    run.add_argument(
        "--decoder-threads",
        type=_count,
        default=1,
        help="video: decoder threads (1; 0: FFmpeg's choice, for 4K on many cores)",
    )
    run.add_argument("--overlay", action="store_true", help="images: also write overlays")
    run.add_argument("--codec", default="libx264", help="video encoder (libx264; mpeg4...)")
    run.add_argument("--classes", help="class table (JSON/YAML) for ONNX files without metadata")
    run.add_argument("--img-size", type=_size, help="HxW input size for such files")
    run.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--debug", action="store_true", help="show tracebacks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _run(args)
    except EdgeError as exc:
        if args.debug:
            raise
        print(f"segcompress-edge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
