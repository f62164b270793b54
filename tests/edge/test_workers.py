"""Model workers taking frames in turn: order, count and masks as with one worker; a worker's
error is the usual one line and exit 1, and nothing hangs."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from segcompress_edge.cli import main
from segcompress_edge.errors import EdgeError
from segcompress_edge.pipeline import DONE, Pipeline
from segcompress_edge.runtime import EdgeModel

HANG_S = 60  # far above any of these runs: past it, the run counts as hung


def _finishes(fn: Callable[[], Any]) -> Any:
    """``fn()``'s result, failing the test (not hanging it) if it does not return in time."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    thread.join(HANG_S)
    assert not thread.is_alive(), "hung"
    return result[0]


def _ordered(
    workers: int, items: list[int], fn: Callable[[int], int], seen: Callable[[int], None]
) -> tuple[list, Pipeline]:
    """Push ``items`` through an ordered stage; what came out (DONE excluded, each also passed
    to ``seen`` as it comes) and the pipe."""
    pipe = Pipeline()
    source: queue.Queue = queue.Queue(2)
    sink: queue.Queue = queue.Queue(2)
    pipe.ordered_stage("model", workers, source, sink, fn)

    def feed() -> None:
        for item in [*items, DONE]:
            if not pipe.put(source, item):
                return

    pipe.spawn("feed", feed)

    def drain() -> list:
        out = []
        while (item := pipe.get(sink)) is not DONE:
            seen(item)
            out.append(item)
        pipe.join()
        return out

    return _finishes(drain), pipe


def test_ordered_stage_keeps_order_with_a_slow_worker() -> None:
    """Worker 0 is slow, so the others finish later items first: they still come out in
    order, each once, and no result runs further ahead of the one handed on than the workers
    and the sink's two places allow (memory stays bounded)."""
    finished = {"most": -1}
    lock = threading.Lock()

    def fn(x: int) -> int:
        if threading.current_thread().name == "model-0":
            time.sleep(0.02)
        with lock:
            finished["most"] = max(finished["most"], x)
        return x

    lead: list[int] = []
    out, pipe = _ordered(3, list(range(40)), fn, lambda y: lead.append(finished["most"] - y))
    assert out == list(range(40)) and pipe.error is None
    assert max(lead) <= 3 + 2


def test_ordered_stage_error_stops_without_hanging() -> None:
    def fn(x: int) -> int:
        if x == 7:
            raise EdgeError("model.onnx: onnxruntime failed")
        time.sleep(0.005)
        return x

    out, pipe = _ordered(2, list(range(100)), fn, lambda _: None)
    assert isinstance(pipe.error, EdgeError) and out == list(range(len(out)))
    assert len(out) <= 7
    assert not any(t.is_alive() for t in pipe.threads)


def _decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]


def _run(int8_onnx: Path, video: Path, out: Path, *flags: str) -> tuple[dict, list, dict]:
    args = ["run", str(int8_onnx), str(video), "--out", str(out), "--masks", "npz"]
    assert _finishes(lambda: main([*args, "--no-progress", *flags])) == 0
    masks = np.load(out / "drive.masks.npz")
    summary = json.loads((out / "drive.summary.json").read_text())
    return {k: masks[k] for k in masks.files}, _decoded(out / "drive.overlay.mp4"), summary


def test_workers_give_the_single_worker_masks(int8_onnx, video, tmp_path, monkeypatch) -> None:
    """Two workers, one of them slow (so frames finish out of order): the same masks bit for
    bit, the same overlay frames in the same order, count and rate, as one worker."""
    single = _run(int8_onnx, video, tmp_path / "one", "--workers", "1", "--threads", "1")
    logits = EdgeModel.logits

    def slow_first_worker(self: EdgeModel, batch: np.ndarray) -> np.ndarray:
        if threading.current_thread().name == "model-0":
            time.sleep(0.03)
        return logits(self, batch)

    monkeypatch.setattr(EdgeModel, "logits", slow_first_worker)
    two = _run(int8_onnx, video, tmp_path / "two", "--workers", "2")
    assert sorted(two[0]) == sorted(single[0]) and len(single[0]) == 12
    for name, mask in single[0].items():
        assert np.array_equal(two[0][name], mask), name
    assert len(two[1]) == len(single[1]) == 12
    for a, b in zip(two[1], single[1], strict=True):
        assert np.array_equal(a, b)
    assert two[2]["fps_out"] == single[2]["fps_out"] and two[2]["frames"] == 12


def test_worker_error_is_one_line(int8_onnx, video, tmp_path, monkeypatch, capsys) -> None:
    calls = {"n": 0}
    lock = threading.Lock()
    logits = EdgeModel.logits

    def failing(self: EdgeModel, batch: np.ndarray) -> np.ndarray:
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n == 8:
            raise EdgeError(f"{self.path}: onnxruntime failed on a {list(batch.shape)} batch")
        return logits(self, batch)

    monkeypatch.setattr(EdgeModel, "logits", failing)
    out = tmp_path / "o"
    args = ["run", str(int8_onnx), str(video), "--out", str(out), "--no-progress"]
    assert _finishes(lambda: main(args)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "onnxruntime failed" in err, err
    summary = json.loads((out / "drive.summary.json").read_text())
    assert summary["complete"] is False and summary["frames"] < 12
    if summary["frames"]:  # the frames done, playable (the error may come before the first)
        assert len(_decoded(out / "drive.overlay.mp4")) == summary["frames"]


@pytest.mark.parametrize("runtime", ["openvino"])
def test_openvino_workers(int8_onnx, video, tmp_path, runtime) -> None:
    """One compiled model, an infer request per worker: the single worker's masks."""
    pytest.importorskip("openvino")
    common = ["--runtime", runtime]
    one = _run(int8_onnx, video, tmp_path / "one", *common, "--workers", "1")
    two = _run(int8_onnx, video, tmp_path / "two", *common, "--workers", "2")
    assert all(np.array_equal(two[0][k], v) for k, v in one[0].items()) and len(two[0]) == 12
