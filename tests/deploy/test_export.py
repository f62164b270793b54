"""Export: parity with the unfused PyTorch model, metadata, dynamic shapes, failure handling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from segcompress.deploy.metadata import METADATA_PREFIX
from segcompress.deploy.onnx_export import (
    drop_noop_pads,
    export_checkpoint,
    verification_runtimes,
)
from segcompress.errors import DataError
from segcompress.models.export import INPUT_NAME


def test_export_parity_report(export_report) -> None:
    checks = [(p.runtime, p.inputs) for p in export_report.parity]
    inputs = ["random N(0,1)", "val images"]
    runtimes = verification_runtimes()  # onnxruntime, and openvino when installed
    assert checks == [(rt, label) for rt in runtimes for label in inputs]
    for check in export_report.parity:
        assert check.max_abs_diff <= 1e-3
        assert check.argmax_agreement >= 0.999
    assert export_report.size_bytes == export_report.path.stat().st_size


def test_export_matches_unfused_model_independently(fp32_onnx: Path, trained_model) -> None:
    """Recompute parity here with a plain ORT session, not the library's verifier."""
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = trained_model(x).numpy()
    session = ort.InferenceSession(str(fp32_onnx), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x.numpy()})[0]
    assert got.shape == expected.shape == (3, 26, 64, 64)
    assert np.abs(got - expected).max() <= 1e-3
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.999
    # the trained model is not trivial: it predicts several classes
    assert len(np.unique(expected.argmax(1))) >= 3


def test_fixed_export_has_fixed_hw_dynamic_batch_and_metadata(fp32_onnx: Path) -> None:
    proto = onnx.load(str(fp32_onnx))
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[1:]] == [3, 64, 64]
    assert dims[0].dim_value == 0 and dims[0].dim_param  # symbolic batch
    props = {p.key: p.value for p in proto.metadata_props}
    for key in ("classes", "input_size", "normalization", "model_name", "precision"):
        assert METADATA_PREFIX + key in props
    assert props[METADATA_PREFIX + "precision"] == "fp32"
    external = onnx.TensorProto.EXTERNAL
    assert not any(t.data_location == external for t in proto.graph.initializer)
    onnx.checker.check_model(proto)


def test_fixed_export_drops_the_zero_pad_a_dynamic_one_keeps(
    fp32_onnx: Path, dynamic_onnx: Path
) -> None:
    """At a fixed size that is a multiple of the model's divisor the pad to that multiple is
    zero: the file has no Pad left to copy the image (and, once quantized, to wrap in a
    quantize/dequantize pair). A dynamic file computes its pad at run time and keeps it."""
    assert "Pad" not in {n.op_type for n in onnx.load(str(fp32_onnx)).graph.node}
    assert "Pad" in {n.op_type for n in onnx.load(str(dynamic_onnx)).graph.node}


def test_drop_noop_pads_keeps_a_real_pad() -> None:
    """Only a constant pad of zeros goes; its reader then reads the pad's input."""
    from onnx import TensorProto, helper, numpy_helper

    def graph(pads: list[int]) -> onnx.ModelProto:
        nodes = [
            helper.make_node("Pad", ["x", "pads"], ["p"]),
            helper.make_node("Relu", ["p"], ["y"]),
        ]
        value = helper.make_tensor_value_info
        return helper.make_model(
            helper.make_graph(
                nodes,
                "g",
                [value("x", TensorProto.FLOAT, [1, 1, 2, 2])],
                [value("y", TensorProto.FLOAT, None)],
                [numpy_helper.from_array(np.array(pads, np.int64), "pads")],
            )
        )

    zero, real = graph([0] * 8), graph([0, 0, 0, 0, 0, 0, 1, 1])
    assert (drop_noop_pads(zero), drop_noop_pads(real)) == (1, 0)
    assert [(n.op_type, list(n.input)) for n in zero.graph.node] == [("Relu", ["x"])]
    assert [n.op_type for n in real.graph.node] == ["Pad", "Relu"]


def test_dynamic_export_runs_other_sizes(dynamic_onnx: Path, trained_model) -> None:
    dims = onnx.load(str(dynamic_onnx)).graph.input[0].type.tensor_type.shape.dim
    assert all(d.dim_value == 0 for d in (dims[0], dims[2], dims[3]))
    x = torch.randn(1, 3, 45, 77, generator=torch.Generator().manual_seed(3))
    session = ort.InferenceSession(str(dynamic_onnx), providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x.numpy()})[0]
    with torch.no_grad():
        expected = trained_model(x).numpy()
    assert got.shape == (1, 26, 45, 77)
    assert np.abs(got - expected).max() <= 1e-3


def test_failed_parity_raises_and_leaves_no_file(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "strict.onnx"
    with pytest.raises(DataError, match="differs from PyTorch"):
        export_checkpoint(checkpoint, out, atol=1e-30)
    assert not out.exists()


def test_export_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="checkpoint not found"):
        export_checkpoint(tmp_path / "none.pt", tmp_path / "x.onnx")
