"""Per-operator profiles (``benchmarks/op_profile.py``): the ops the runtime ran, counted and
timed (no timing assertions)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from segcompress.deploy.quantize import runtime_graph
from tests.benchmark_scripts import load_benchmark

op_profile = load_benchmark("op_profile")
CATEGORIES = op_profile.CATEGORIES
op_category = op_profile.op_category
profile_onnxruntime = op_profile.profile_onnxruntime
profile_openvino = op_profile.profile_openvino

X = np.random.default_rng(0).standard_normal((1, 3, 64, 64), dtype=np.float32)


def test_ort_profile_counts_the_nodes_ort_runs(int8_report) -> None:
    """Independent reference: the nodes of the graph ORT serialises after optimisation."""
    profile = profile_onnxruntime(int8_report.path, X, runs=3, warmup=1)
    ran = Counter(n.op_type for n in runtime_graph(int8_report.path).graph.node)
    assert profile.counts["QLinearConv"] == ran["QLinearConv"] > 0
    assert set(profile.counts) <= set(ran)
    assert profile.total_ms > 0 and profile.runs == 3
    by_category = profile.by_category()
    assert list(by_category) == list(CATEGORIES)
    assert sum(by_category.values()) == pytest.approx(profile.total_ms)
    assert by_category["conv"] > 0


def test_ort_profile_fp32_has_no_quantize_steps(fp32_onnx: Path) -> None:
    profile = profile_onnxruntime(fp32_onnx, X, runs=2, warmup=1)
    assert profile.by_category()["quantize"] == 0
    assert "Conv" in profile.counts or "FusedConv" in profile.counts


def test_openvino_profile_reports_integer_kernels(int8_report, fp32_onnx: Path) -> None:
    pytest.importorskip("openvino")
    int8 = profile_openvino(int8_report.path, X, runs=2, warmup=1)
    fp32 = profile_openvino(fp32_onnx, X, runs=2, warmup=1)
    assert int8.by_precision.get("I8", 0) > 0  # convolutions ran in INT8 kernels
    assert "I8" not in fp32.by_precision and fp32.by_precision["f32"] > 0
    assert int8.counts["Convolution"] > 0 and int8.total_ms > 0
    assert sum(int8.by_precision.values()) == pytest.approx(int8.total_ms)
    # the logits' resize, left to torch by the runtime, is timed and counted as a resize
    for profile in (int8, fp32):
        assert profile.counts["Interpolate"] >= 1 and profile.by_precision["torch"] > 0
        assert profile.by_category()["resize"] >= profile.by_precision["torch"]


def test_op_category() -> None:
    assert op_category("com.microsoft:QLinearConv") == "conv"
    assert op_category("Convolution") == "conv"
    assert op_category("DequantizeLinear") == "quantize"
    assert op_category("Reorder") == "layout" and op_category("Transpose") == "layout"
    assert op_category("Interpolate") == "resize" and op_category("Resize") == "resize"
    assert op_category("QLinearConcat") == "concat"
    assert op_category("QLinearMul") == "elementwise"
    assert op_category("SomethingNew") == "other"


def test_traffic_of_a_hand_built_graph() -> None:
    """Conv (8->16, 3x3) then Relu on a 1x8x10x12 input, counted by hand."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    estimate_traffic = op_profile.estimate_traffic

    w = numpy_helper.from_array(np.zeros((16, 8, 3, 3), np.float32), "w")
    b = numpy_helper.from_array(np.zeros(16, np.float32), "b")
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["y"], ["z"]),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8, 10, 12])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 16, 10, 12])],
        [w, b],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x, y = 8 * 10 * 12, 16 * 10 * 12
    # x: written (the caller) + read by Conv; y: written + read by Relu; z: written only
    expected_act = (2 * x + 2 * y + y) * 4
    traffic = estimate_traffic(proto)
    assert traffic.weights == (16 * 8 * 9 + 16) * 4
    assert traffic.activations == expected_act
    int8 = estimate_traffic(proto, activation_bytes=1, weight_bytes=1, batch=8)
    assert int8.activations == 8 * expected_act // 4 and int8.weights == 16 * 8 * 9 + 16
    assert int8.total == int8.weights + int8.activations
    onnx.checker.check_model(proto)
