"""bench_edge: the labels, the limits arithmetic and the target verdicts (no timing)."""

from __future__ import annotations

import pytest
import torch

from segcompress.data.classes import IDD_LEVEL3
from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.onnx_export import export_model
from segcompress.models.registry import create_model
from tests.benchmark_scripts import load_benchmark

edge = load_benchmark("bench_edge")


def _row(arch: str, backend: str, model: str, ms: float, size: str = "256x256") -> dict:
    row = {"arch": arch, "size": size, "backend": backend, "model": model}
    row.update(latency_p50_ms=ms, label=edge._label(row))
    return row


def test_labels_name_runtime_precision_and_quantizer() -> None:
    assert _row("a", "onnx-fp32", "m.onnx", 1)["label"] == "ORT FP32"
    assert _row("a", "openvino-fp32", "m.onnx", 1)["label"] == "OpenVINO FP32"
    assert _row("a", "onnx-int8", "m.onnxruntime-int8.onnx", 1)["label"] == "ORT INT8 (ORT file)"
    nncf = _row("a", "openvino-int8", "m.nncf-int8.onnx", 1)
    assert nncf["label"] == "OpenVINO INT8 (nncf file)"


def test_targets_use_the_fastest_backends() -> None:
    rows = [
        _row("student_s", "onnx-fp32", "s.onnx", 12.0),
        _row("student_s", "openvino-fp32", "s.onnx", 8.0),
        _row("student_s", "onnx-int8", "s.onnxruntime-int8.onnx", 6.0),
        _row("student_s", "openvino-int8", "s.nncf-int8.onnx", 4.0),
        _row("student_s", "openvino-int8", "s.nncf-int8.onnx", 1.0, size="96x128"),  # other size
        _row("student_xs", "onnx-fp32", "x.onnx", 5.0),
        _row("student_xs", "onnx-int8", "x.onnxruntime-int8.onnx", 2.0),
    ]
    for r in rows:
        r["pct_peak_b1"] = 10.0 * r["latency_p50_ms"]
    t = {x["name"].split(" (")[0]: x for x in edge._targets(rows, "256x256")}
    assert t["student_s: best INT8"]["measured"] == pytest.approx(12.0 / 4.0)  # 3x: met
    assert t["student_s: best INT8"]["met"] is True
    assert t["student_s: best INT8 vs best FP32"]["measured"] == pytest.approx(8.0 / 4.0)
    assert t["student_xs: best INT8"]["measured"] == pytest.approx(2.5)
    peak = t["student_s: best INT8 % of INT8 peak"]
    assert peak["measured"] == pytest.approx(40.0) and peak["met"] is True
    assert "student_xs: best INT8 % of INT8 peak" not in t  # student_s's target (and student_q's)


def test_student_q_gets_student_s_targets_and_only_measured_students_count() -> None:
    rows = [
        _row("student_q", "onnx-fp32", "q.onnx", 9.0),
        _row("student_q", "openvino-fp32", "q.onnx", 10.0),
        _row("student_q", "onnx-int8", "q.nncf-int8.onnx", 6.0),
    ]
    for r in rows:
        r["pct_peak_b1"] = 31.0
    t = {x["name"].split(" (")[0]: x for x in edge._targets(rows, "256x256")}
    assert set(t) == {
        "student_q: best INT8",
        "student_q: best INT8 vs best FP32",
        "student_q: best INT8 % of INT8 peak",
    }
    assert t["student_q: best INT8"]["target"] == 3.0
    assert t["student_q: best INT8"]["measured"] == pytest.approx(1.5)
    assert t["student_q: best INT8"]["met"] is False
    assert t["student_q: best INT8 vs best FP32"]["measured"] == pytest.approx(9.0 / 6.0)
    assert t["student_q: best INT8 vs best FP32"]["met"] is True


def test_bound_arithmetic(tmp_path) -> None:
    import onnx

    torch.manual_seed(0)
    info = ModelInfo(classes=IDD_LEVEL3, input_size=(32, 32), model_name="student_xs")
    path = tmp_path / "xs.onnx"
    export_model(create_model("student_xs").eval(), path, info)
    fp32 = onnx.load(str(path))
    row = {"backend": "onnx-int8", "flops": 2e9, "latency_p50_ms": 10.0}
    row["timings"] = [{"batch": 1, "mean_ms": 10.0}, {"batch": 8, "mean_ms": 40.0}]
    out = edge._bound(row, fp32, {"fp32": 100.0, "int8": 400.0}, gbps=10.0)
    assert out["gops_b1"] == pytest.approx(200.0)  # 2 GFLOP in 10 ms
    assert out["pct_peak_b1"] == pytest.approx(50.0)
    assert out["gops_b8"] == pytest.approx(400.0) and out["pct_peak_b8"] == pytest.approx(100.0)
    fp = edge._bound({**row, "backend": "onnx-fp32"}, fp32, {"fp32": 100.0, "int8": 1}, 10.0)
    assert fp["traffic_mb_b1"] == pytest.approx(4 * out["traffic_mb_b1"])  # 4 bytes against 1
    assert out["memory_bound_ms_b8"] > out["memory_bound_ms_b1"] > 0


def test_files_record_model_arguments_so_flops_are_the_variant_s(tmp_path) -> None:
    """A ``NAME:width_mult=2`` student's files carry its model_args: GOP/s and % of peak are
    computed from its own FLOPs, not from the default width's."""
    from segcompress.deploy import benchmark as harness

    size = (32, 32)
    files = edge._files("student_q:width_mult=2", size, tmp_path)
    wide = harness._costs(create_model("student_q", width_mult=2).eval(), size)
    default = harness._costs(create_model("student_q").eval(), size)
    for path in files.values():
        params, flops, _ = harness._onnx_costs(path, size)
        assert (params, flops) == wide != default


def _profile(arch: str, file: str, runtime: str, total: float, conv: float) -> dict:
    rest = total - conv
    by_category = {"conv": conv, "resize": rest / 2, "quantize": rest / 2}
    return {"arch": arch, "size": "256x256", "file": file, "runtime": runtime,
            "total_ms": total, "by_category": by_category}  # fmt: skip


def test_ceiling_is_ort_fp32_time_over_int8_convolution_time() -> None:
    """The ceiling divides the ORT FP32 file's kernel time (never another runtime's FP32) by the
    INT8 file's convolution time; the convolutions' share of the peak uses the student's FLOPs."""
    profs = [
        _profile("student_s", "fp32", "onnxruntime", 12.0, 8.0),
        _profile("student_s", "fp32", "openvino", 20.0, 10.0),  # not the reference
        _profile("student_s", "onnxruntime", "onnxruntime", 6.0, 3.0),
        _profile("student_s", "nncf", "openvino", 5.0, 4.0),
        _profile("student_xs", "fp32", "onnxruntime", 4.0, 2.0),
        _profile("student_xs", "onnxruntime", "onnxruntime", 4.0, 1.0),
    ]
    rows = [
        {"arch": "student_s", "size": "256x256", "flops": 1.5e9},
        {"arch": "student_xs", "size": "256x256", "flops": 0.2e9},
    ]
    out = {(c["arch"], c["runtime"]): c for c in edge.ceilings(profs, rows, {"int8": 1000.0})}
    assert set(out) == {
        ("student_s", "onnxruntime"),
        ("student_s", "openvino"),
        ("student_xs", "onnxruntime"),
    }  # one row per INT8 profile, none for FP32 ones
    ort = out["student_s", "onnxruntime"]
    assert ort["profiled_speedup"] == pytest.approx(2.0)
    assert ort["conv_speedup"] == pytest.approx(8.0 / 3.0)
    assert ort["ceiling_speedup"] == pytest.approx(4.0)
    assert ort["conv_share"] == pytest.approx(0.5)
    assert ort["conv_pct_int8_peak"] == pytest.approx(50.0)  # 1.5 GFLOP in 3 ms = 500 GOP/s
    ov = out["student_s", "openvino"]
    assert ov["ceiling_speedup"] == pytest.approx(3.0)  # 12 / 4: ORT's FP32, not OpenVINO's 20
    assert ov["conv_speedup"] == pytest.approx(2.0)
    xs = out["student_xs", "onnxruntime"]
    assert xs["ceiling_speedup"] == pytest.approx(4.0)
    assert xs["conv_pct_int8_peak"] == pytest.approx(20.0)  # its own FLOPs, not student_s's
