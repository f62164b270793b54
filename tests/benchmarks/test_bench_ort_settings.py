"""bench_ort_settings: every setting really changes ORT's graph and none changes the outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmark_scripts import load_benchmark

bench = load_benchmark("bench_ort_settings")


def test_rows_cover_every_file_and_setting_with_equal_outputs() -> None:
    rows = bench.measure(["student_xs"], (32, 32), threads=1, rounds=1, runs=1)
    keys = {(r["file"], r["setting"]) for r in rows}
    assert keys == {(f, s) for f in bench.FILES for s in bench.SETTINGS}
    assert all(r["max_abs_diff_vs_all"] <= bench.MAX_DIFF for r in rows)
    base = next(r for r in rows if r["file"] == "FP32" and r["setting"] == "all")
    assert base["speedup_vs_fp32_all"] == pytest.approx(1.0)
    assert all(r["p50_ms"] > 0 for r in rows)


def test_disabling_the_nhwc_transformer_keeps_int8_convolutions_in_nchw(tmp_path: Path) -> None:
    """ORT's optimized INT8 graph, saved under two settings: at "all" the NHWC transformer
    runs QLinearConv channels-last; the setting that disables it leaves every one NCHW."""
    import onnx

    files = bench.build_files("student_xs", (32, 32), tmp_path)

    def channels_last_convs(setting: str) -> int:
        saved = tmp_path / f"{setting}.onnx"
        bench.open_session(files[bench.FILES["INT8"]], setting, threads=1, saved=saved)
        graph = onnx.load(saved).graph
        return sum(
            1
            for node in graph.node
            if node.op_type == "QLinearConv"
            and any(a.name == "channels_last" and a.i == 1 for a in node.attribute)
        )

    assert channels_last_convs("all") > 0
    assert channels_last_convs("all, no NHWC transformer") == 0
