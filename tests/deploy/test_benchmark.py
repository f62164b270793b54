"""Benchmark: documented keys and sane values (no timing assertions: the CPU is shared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from segcompress.deploy.benchmark import (
    BENCH_KEYS,
    benchmark,
    format_markdown,
    measure_backend,
    resolve_source,
)
from segcompress.errors import UsageError


def _check_row(row: dict, backend: str, batches: tuple[int, ...]) -> None:
    assert tuple(row) == BENCH_KEYS
    assert row["backend"] == backend
    assert [t["batch"] for t in row["timings"]] == list(batches)
    assert 0 < row["latency_p50_ms"] <= row["latency_p90_ms"]
    assert row["throughput_ips"] > 0 and row["throughput_batch"] == batches[-1]
    assert row["file_mb"] > 0


def test_registry_model_all_default_backends_in_process() -> None:
    options = {"img_size": (64, 64), "batches": (1, 2), "threads": 1, "runs": 2, "warmup": 1}
    rows = benchmark(["student_xs"], isolate=False, calib_n=2, **options)
    by = {r["backend"]: r for r in rows}
    pytest.importorskip("openvino")  # the default backends include OpenVINO's
    assert list(by) == [
        "torch", "torch-cl", "onnx-fp32", "openvino-fp32", "onnx-int8", "openvino-int8"
    ]  # fmt: skip
    for row in rows:
        _check_row(row, row["backend"], (1, 2))
        assert row["params"] > 0 and row["flops"] > 0 and row["isolated"] is False
    assert by["onnx-int8"]["calibration"] == "2 smooth random images"
    assert by["onnx-int8"]["file_mb"] < by["onnx-fp32"]["file_mb"]  # INT8 file smaller
    # both runtimes run the same two files
    assert by["openvino-fp32"]["file_mb"] == by["onnx-fp32"]["file_mb"]
    assert by["openvino-int8"]["file_mb"] == by["onnx-int8"]["file_mb"]
    table = format_markdown(rows)
    assert table.count("\n") == len(rows) + 1 and "student_xs" in table


def test_onnx_file_isolated_measures_memory(int8_report) -> None:
    rows = benchmark(
        [int8_report.path], img_size=(64, 64), batches=(1,), threads=1, runs=3, warmup=1
    )
    pytest.importorskip("openvino")
    assert [r["backend"] for r in rows] == ["onnx-int8", "openvino-int8"]  # the file's own
    for row in rows:
        _check_row(row, row["backend"], (1,))
        assert row["model"] == Path(int8_report.path).name
        assert row["flops"] > 0  # architecture rebuilt from the file's metadata
        assert row["isolated"] is True and row["peak_delta_mb"] is not None
        assert row["peak_rss_mb"] >= row["peak_delta_mb"] >= 0


def test_measure_backend_keys(checkpoint: Path) -> None:
    result = measure_backend(str(checkpoint), "torch", (64, 64), (1,), 1, 2, 0)
    assert set(result) == {"timings", "peak_rss_mb", "peak_delta_mb"}
    assert result["timings"][0]["runs"] == 2


def test_bad_model_and_backend(fp32_onnx: Path) -> None:
    with pytest.raises(UsageError, match="neither a model file nor a registry name"):
        resolve_source("no_such_model")
    with pytest.raises(UsageError, match="--backends"):
        benchmark(["student_xs"], backends=("tensorrt",))
    with pytest.raises(UsageError, match=r"exported for 64x64 inputs; pass --img-size 64x64"):
        benchmark([fp32_onnx], img_size=(128, 128))
