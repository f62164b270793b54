"""Video in, overlay video (and masks, and a JSON summary) out, in a pipeline of threads.

decode | preprocess | model | upsample | overlay + encode run at once, joined by queues of
``QUEUE_DEPTH`` frames, so memory is bounded whatever the video's length or resolution and the
end-to-end rate approaches the slowest stage's (the model's, on a small CPU). numpy, Pillow,
PyAV and the runtimes release the GIL in their heavy loops, so the threads do overlap. The model
stage has ``VideoOptions.workers`` threads, each taking the next frame and handing its logits
on in the frames' order (``pipeline.py``): single-threaded calls side by side spare the
intra-op threads' hand-offs of one call spread over the cores.

On a small CPU every stage competes for the same cores, so what counts is CPU per frame: frames
stay in the decoder's YUV 4:2:0 throughout (``yuv.py``). swscale makes the model's small RGB
input from the planes, the overlay is blended into the planes and handed to the encoder as it
is; no full-size RGB frame is ever made. ``--resize exact`` takes the image path's Pillow
resize instead; the logits are upsampled bilinearly (as for images) when masks are written or
with ``--resize exact``, else the overlay takes the nearest low-resolution class.

The overlay has the input's frame count and rate (with ``--every N``, every Nth frame at 1/N of
the rate: same duration). Ctrl-C, or a decoding error, stops the reader; the frames already done
are encoded and the container is closed, so the file plays.
"""

from __future__ import annotations

import json
import queue
import resource
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from segcompress_edge.draw import mask_png_bytes
from segcompress_edge.errors import EdgeError
from segcompress_edge.pipeline import DONE, Pipeline
from segcompress_edge.prepost import argmax0, preprocess, resize_argmax_counts
from segcompress_edge.progress import Progress
from segcompress_edge.runtime import EdgeModel
from segcompress_edge.yuv import (
    SWS_THREADS,
    NearestUpsampler,
    YuvPainter,
    as_yuv420p,
    model_input,
)

__all__ = ["STAGES", "VideoOptions", "open_video", "run_video", "video_outputs"]

QUEUE_DEPTH = 2
STAGES = ("decode", "resize", "model", "upsample", "overlay", "encode")


@dataclass
class VideoOptions:
    """What to write and how much of the video to read."""

    every: int = 1
    max_frames: int | None = None
    masks: str | None = None  # None, "png" or "npz"
    scale: float = 1.0  # frames are decoded at this fraction of their size
    codec: str = "libx264"
    alpha: float = 0.5
    progress: bool = True
    # "fast": swscale makes the model's input from the decoder's planes; "exact": Pillow's
    # resize of the RGB frame, as for images (masks equal `predict`'s on the decoded frames).
    resize: str = "fast"
    # One encoder thread: with the pipeline's stages filling the cores, the encoder's own
    # frame threads add CPU (and latency) for no gain; 0 lets FFmpeg choose (e.g. for 4K).
    encoder_threads: int = 1
    # One decoder thread, for the same reason: FFmpeg's frame threads cost CPU per frame to
    # hand frames between them (0.5 ms of a 1.2 ms 1080p decode, measured); 0: FFmpeg's choice.
    decoder_threads: int = 1
    # Model workers, each taking the next frame (results keep the frames' order); the model
    # must be loaded with as many workers (``load_model(workers=...)``).
    workers: int = 1

    @property
    def exact_masks(self) -> bool:
        """Upsample the logits bilinearly (as for images) rather than the ids by nearest: for
        ``--resize exact`` and for written masks."""
        return self.resize == "exact" or self.masks is not None


@dataclass
class _Stats:
    """Per-stage wall time and the CPU time of the stage's own thread (a busy machine inflates
    the first, hardly the second; codec and runtime worker threads are in neither). The model's
    are summed over its workers: per call, not per interval between frames."""

    shares: _ShareSeries
    stage_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    stage_cpu_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    model_ms: list[float] = field(default_factory=list)
    size_changes: list[dict[str, Any]] = field(default_factory=list)
    first_mask_s: float | None = None
    first_mask_at: float | None = None  # time.time(), to compare with a launcher's clock
    lock: threading.Lock = field(default_factory=threading.Lock)  # model workers share a stage

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        t0, c0 = time.perf_counter(), time.thread_time()
        yield
        wall = time.perf_counter() - t0
        cpu = time.thread_time() - c0
        with self.lock:
            self.stage_s[name] += wall
            self.stage_cpu_s[name] += cpu
            if name == "model":
                self.model_ms.append(wall * 1e3)


def video_outputs(input_path: Path, out: Path, options: VideoOptions) -> dict[str, Path]:
    """The files a run on ``input_path`` writes under ``out``."""
    stem = input_path.stem
    paths = {"overlay": out / f"{stem}.overlay.mp4", "summary": out / f"{stem}.summary.json"}
    if options.masks == "png":
        paths["masks"] = out / f"{stem}.masks"
    elif options.masks == "npz":
        paths["masks"] = out / f"{stem}.masks.npz"
    return paths


def open_video(path: Path) -> Any:
    """``av.open(path)`` with its first video stream checked, or a one-line EdgeError."""
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise EdgeError(
            f"{path}: cannot read this video ({_reason(exc)}); the file is corrupt, truncated "
            "or not a video"
        ) from exc
    if not container.streams.video:
        container.close()
        raise EdgeError(f"{path}: has no video stream; pass a video (mp4, mkv, avi...)")
    return container


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc).strip().splitlines()[0]


def _frames(container: Any, path: Path, options: VideoOptions) -> Iterator[tuple[int, Any]]:
    """(index, frame) of the frames to process; a decoding error names the frame it hit."""
    stream = container.streams.video[0]
    if options.decoder_threads != 1:
        stream.thread_type = "AUTO"
    stream.codec_context.thread_count = options.decoder_threads
    kept = index = 0
    try:
        for index, frame in enumerate(container.decode(stream)):
            if options.max_frames is not None and kept >= options.max_frames:
                return
            if index % options.every == 0:
                kept += 1
                yield index, frame
    except av.FFmpegError as exc:
        raise EdgeError(
            f"{path}: corrupt or truncated video at frame {index + 1} ({_reason(exc)}); the "
            "frames before it were written"
        ) from exc


def _yuv(frame: Any, scale: float) -> Any:
    """The frame as yuv420p, scaled by FFmpeg's swscale when ``scale`` < 1."""
    if scale == 1:
        return as_yuv420p(frame)
    width, height = (max(2, round(v * scale)) for v in (frame.width, frame.height))
    return as_yuv420p(frame, (width, height))


class _Writer:
    """Overlay video, optional masks; opened on the first frame (its size sets the video's)."""

    def __init__(
        self, paths: dict[str, Path], model: EdgeModel, rate: Fraction, opts: VideoOptions
    ) -> None:
        self.paths = paths
        self.classes = model.info.classes
        self.rate = rate
        self.options = opts
        self.painter = YuvPainter(self.classes, opts.alpha)
        self.container: Any = None
        self.stream: Any = None
        self.size: tuple[int, int] | None = None  # (W, H) of the overlay video
        self.count = 0
        self.zip: zipfile.ZipFile | None = None
        if opts.masks == "png":
            paths["masks"].mkdir(parents=True, exist_ok=True)
        elif opts.masks == "npz":
            self.zip = zipfile.ZipFile(paths["masks"], "w", zipfile.ZIP_DEFLATED, compresslevel=1)

    def _open(self, width: int, height: int) -> None:
        self.size = (width - width % 2, height - height % 2)  # yuv420p needs even sides
        self.container = av.open(str(self.paths["overlay"]), "w")
        self.stream = self.container.add_stream(self.options.codec, rate=self.rate)
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = "yuv420p"
        if self.options.codec == "libx264":
            # The least CPU: the fastest preset at a constant quantiser (CRF's rate control
            # costs CPU every frame that an overlay video does not need).
            self.stream.options = {"preset": "ultrafast", "qp": "25"}
        self.stream.codec_context.time_base = Fraction(1) / self.rate
        self.stream.codec_context.thread_count = self.options.encoder_threads

    def draw(self, frame: Any, colours: list[np.ndarray], shares: np.ndarray) -> Any:
        """The overlay, a yuv420p frame; the encoder scales any other size to the video's
        (PyAV's reformat)."""
        out = self.painter.overlay(frame, colours, shares)
        if self.size is None:
            self._open(out.width, out.height)
            # The planes keep the decoder's values: tag the video with their range and matrix.
            ctx = self.stream.codec_context
            ctx.color_range, ctx.colorspace = out.color_range, out.colorspace
        return out

    def encode(self, frame: Any, ids: np.ndarray | None, index: int) -> None:
        """Encode the overlay; write the mask (``ids``: given when masks are written)."""
        frame.pts = self.count
        self.container.mux(self.stream.encode(frame))
        self.count += 1
        if self.options.masks == "png":
            (self.paths["masks"] / f"frame_{index:06d}.png").write_bytes(
                mask_png_bytes(ids, self.classes)
            )
        elif self.zip is not None:
            with self.zip.open(f"frame_{index:06d}.npy", "w") as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(ids))

    def close(self) -> None:
        """Flush the encoder and close the files: what was written stays playable."""
        if self.container is not None:
            self.container.mux(self.stream.encode(None))
            self.container.close()
        if self.zip is not None:
            self.zip.close()


def _peak_rss_mb() -> int:
    """This process's peak resident memory: VmHWM (Linux; ru_maxrss would include the peak of
    the process that launched it, which execve carries over), else ru_maxrss (kilobytes)."""
    try:
        status = Path("/proc/self/status").read_text()
        return round(int(status.split("VmHWM:")[1].split()[0]) / 1024)
    except (OSError, IndexError, ValueError):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if values else None


class _ShareSeries:
    """Per-class pixel share, overall and averaged over one-second windows of the output video,
    kept as running sums: an hour of video adds 3600 short rows, not 100 000 arrays."""

    def __init__(self, rate: Fraction, num_classes: int) -> None:
        self.per_window = max(1, round(float(rate)))
        self.window_s = self.per_window / float(rate)
        self.total = np.zeros(num_classes)
        self.window = np.zeros(num_classes)
        self.frames = 0
        self.rows: list[list[float]] = []

    def add(self, shares: np.ndarray) -> None:
        self.total += shares
        self.window += shares
        self.frames += 1
        if self.frames % self.per_window == 0:
            self._close_window(self.per_window)

    def _close_window(self, n: int) -> None:
        self.rows.append([round(float(v), 4) for v in self.window / n])
        self.window[:] = 0

    def finish(self, names: tuple[str, ...]) -> tuple[dict[str, float], dict[str, Any]]:
        """(overall share per class, the windows' series) for the summary."""
        if self.frames % self.per_window:
            self._close_window(self.frames % self.per_window)
        overall = self.total / max(1, self.frames)
        shares = {n: round(float(v), 4) for n, v in zip(names, overall, strict=True)}
        series = {"window_s": self.window_s, "classes": list(names), "share": self.rows}
        return (shares if self.frames else {}), series


def _norm(info: Any) -> tuple[Any, Any, Any]:
    return info.input_size, info.mean, info.std


def _expected(stream: Any, options: VideoOptions) -> int | None:
    total = int(stream.frames or 0)
    if total <= 0:
        return options.max_frames
    kept = -(-total // options.every)
    return min(kept, options.max_frames) if options.max_frames is not None else kept


def run_video(
    model: EdgeModel, path: Path, paths: dict[str, Path], options: VideoOptions
) -> dict[str, Any]:
    """Process ``path`` into ``paths`` (see :func:`video_outputs`); returns the summary also
    written to ``paths["summary"]``. Raises EdgeError for a bad video and KeyboardInterrupt
    after closing the files when interrupted."""
    launched = time.perf_counter()
    container = open_video(path)
    stream = container.streams.video[0]
    in_rate = Fraction(stream.average_rate or stream.guessed_rate or 25)
    rate = in_rate / options.every
    stats = _Stats(shares=_ShareSeries(rate, model.info.classes.num_classes))
    pipe = Pipeline()
    queues = [queue.Queue(QUEUE_DEPTH) for _ in range(4)]

    def decode() -> None:
        shape: tuple[int, ...] | None = None
        try:
            frames = _frames(container, path, options)
            while True:
                with stats.timed("decode"):
                    item = next(frames, None)
                    frame = None if item is None else _yuv(item[1], options.scale)
                if item is None or frame is None:
                    break
                index, size = item[0], (frame.height, frame.width)
                if shape is not None and size != shape:
                    change = {"frame": index, "from": list(shape), "to": list(size)}
                    stats.size_changes.append(change)
                shape = size
                if not pipe.put(queues[0], (index, frame)):
                    return
        except BaseException as exc:
            pipe.fail(exc)
        finally:
            pipe.put(queues[0], DONE) if not pipe.stop.is_set() else None

    def timed(name: str, fn: Callable) -> Callable:
        def run(item: tuple) -> tuple:
            with stats.timed(name):
                return fn(item)

        return run

    num_classes = model.info.classes.num_classes

    def upsample(item: tuple) -> tuple:
        index, frame, logits = item
        size = (frame.height, frame.width)
        if options.exact_masks:
            ids, counts = resize_argmax_counts(logits[0], size)
            colours = writer.painter.colours(frame, ids=ids)
        else:
            low = argmax0(logits[0])
            ids, counts = None, NearestUpsampler.counts(low, size, num_classes)
            colours = writer.painter.colours(frame, low=low)
        if stats.first_mask_s is None:
            stats.first_mask_s = time.perf_counter() - launched
            stats.first_mask_at = time.time()
        return index, frame, ids, colours, counts[:num_classes] / (size[0] * size[1])

    info = model.info

    def resize(item: tuple) -> tuple:
        frame = item[1]
        if options.resize == "exact":
            rgb = frame.reformat(format="rgb24", threads=SWS_THREADS).to_ndarray()
            return (*item, model.preprocess(rgb))
        return (*item, preprocess(model_input(frame, info.input_size), *_norm(info)))

    def infer(item: tuple) -> tuple:
        return (*item[:2], model.logits(item[2]))

    writer = _Writer(paths, model, rate, options)
    pipe.spawn("decode", decode)
    pipe.stage("resize", queues[0], queues[1], timed("resize", resize))
    pipe.ordered_stage("model", options.workers, queues[1], queues[2], timed("model", infer))
    pipe.stage("upsample", queues[2], queues[3], timed("upsample", upsample))
    bar = Progress(_expected(stream, options), path.name, enabled=options.progress)
    started = time.perf_counter()
    cpu_start = time.process_time()
    interrupted = False
    try:
        while (item := pipe.get(queues[3])) is not DONE:
            index, frame, ids, colours, shares = item
            with stats.timed("overlay"):
                out = writer.draw(frame, colours, shares)
            with stats.timed("encode"):
                writer.encode(out, ids, index)
            stats.shares.add(shares)
            bar.update(writer.count)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        pipe.join()
        with stats.timed("encode"):
            writer.close()
        container.close()
        bar.close()
    wall = time.perf_counter() - started
    summary = _summary(model, path, paths, stats, writer.count, wall, rate, options)
    summary["peak_rss_mb"] = _peak_rss_mb()
    summary["process_cpu_ms_per_frame"] = round(
        (time.process_time() - cpu_start) * 1e3 / max(1, writer.count), 3
    )
    summary["complete"] = not interrupted and pipe.error is None
    paths["summary"].write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    if interrupted:
        raise KeyboardInterrupt
    if pipe.error is not None:
        raise pipe.error
    return summary


def _summary(
    model: EdgeModel,
    path: Path,
    paths: dict[str, Path],
    stats: _Stats,
    frames: int,
    wall: float,
    rate: Fraction,
    options: VideoOptions,
) -> dict[str, Any]:
    info = model.info
    stage_ms = {k: round(v * 1e3 / max(1, frames), 3) for k, v in stats.stage_s.items()}
    cpu_ms = {k: round(v * 1e3 / max(1, frames), 3) for k, v in stats.stage_cpu_s.items()}
    share, series = stats.shares.finish(info.classes.names)
    model_fps = round(1e3 / float(np.mean(stats.model_ms)), 2) if stats.model_ms else None
    return {
        "input": str(path),
        "model": str(model.path),
        "runtime": model.runtime,
        "int8": info.int8,
        "input_size": list(info.input_size),
        "resize": options.resize,
        "mask_upsampling": "bilinear" if options.exact_masks else "nearest",
        "frames": frames,
        "fps_out": float(rate),
        "model_ms_p50": _percentile(stats.model_ms, 50),
        "model_ms_p90": _percentile(stats.model_ms, 90),
        "model_only_fps": model_fps,
        "end_to_end_fps": round(frames / wall, 2) if wall > 0 else None,
        "wall_s": round(wall, 3),
        "first_mask_s": None if stats.first_mask_s is None else round(stats.first_mask_s, 3),
        "first_mask_at": stats.first_mask_at,
        "stage_ms_per_frame": stage_ms,
        "stage_thread_cpu_ms_per_frame": cpu_ms,
        "size_changes": stats.size_changes,
        "class_share": share,
        "class_share_over_time": series,
        "outputs": {k: str(v) for k, v in paths.items()},
    }
