"""INT8 static quantization: QDQ graph, metadata kept, agreement with FP32, bad inputs."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import torch

from segcompress.data.formats import DataSpec
from segcompress.deploy.metadata import METADATA_PREFIX
from segcompress.deploy.quantize import (
    float_output_resizes,
    fp32_op_types,
    quantize_dataset,
    quantize_onnx,
    runtime_graph,
)
from segcompress.deploy.runtime import load_predictor
from segcompress.errors import DataError, UsageError
from tests.deploy.conftest import MEAN


def test_int8_graph_is_qdq_with_per_channel_weights(int8_report) -> None:
    proto = onnx.load(str(int8_report.path))
    counts = int8_report.op_counts
    assert counts["QuantizeLinear"] > 0 and counts["DequantizeLinear"] > 0
    # per-channel: some DequantizeLinear has a vector scale (one per output channel)
    init = {t.name: t for t in proto.graph.initializer}
    scales = [init[n.input[1]] for n in proto.graph.node if n.op_type == "DequantizeLinear"]
    assert any(len(s.dims) == 1 and s.dims[0] > 1 for s in scales)
    assert int8_report.int8_bytes < int8_report.fp32_bytes


def test_int8_keeps_metadata(int8_report, fp32_onnx: Path) -> None:
    predictor = load_predictor(int8_report.path)
    assert predictor.backend == "onnx-int8"
    assert predictor.input_size == (64, 64) and predictor.mean == MEAN
    fp32 = {p.key: p.value for p in onnx.load(str(fp32_onnx)).metadata_props}
    int8 = {p.key: p.value for p in onnx.load(str(int8_report.path)).metadata_props}
    assert int8[METADATA_PREFIX + "precision"] == "int8"
    for key in ("classes", "input_size", "normalization", "model_name"):
        assert int8[METADATA_PREFIX + key] == fp32[METADATA_PREFIX + key]


def test_int8_agrees_with_fp32_on_most_pixels(int8_report, fp32_onnx: Path, synth_root) -> None:
    """Checked on the synthetic val images (not used for calibration) with the briefly trained
    model of conftest; 90% is a loose bound for 30 training steps and 6 calibration images."""
    from segcompress.data import load_split
    from segcompress.deploy.samples import dataset_images

    fp32, int8 = load_predictor(fp32_onnx), load_predictor(int8_report.path)
    val = load_split(synth_root, "val", img_size=(64, 64), train=False, format="idd-kaggle")
    x = dataset_images(val, len(val), fp32.info)
    a, b = fp32(x).argmax(1), int8(x).argmax(1)
    assert len(torch.unique(a)) >= 3  # several classes predicted: a real comparison
    assert (a == b).float().mean() >= 0.9


def test_runtime_graph_uses_integer_kernels(int8_report) -> None:
    """ORT fuses the QDQ groups: convolutions run as QLinearConv; what stays FP32 is named."""
    runtime = runtime_graph(int8_report.path)
    assert int8_report.runtime_ops.get("com.microsoft:QLinearConv", 0) >= 1
    assert int8_report.fp32_ops == fp32_op_types(runtime)
    # the final bilinear upsampling of the logits has no integer kernel in ORT
    assert int8_report.fp32_ops.get("Resize", 0) >= 1


def test_runtime_graph_dequantizes_no_map_to_read_its_shape(int8_report) -> None:
    """The student's resizes have constant scales, so ONNX Runtime's INT8 graph needs no
    ``Shape``: with target sizes it transposed and dequantized a whole map per resize (15 for
    ``student_s``) only to read the batch size. What is left are the stem's quantize step and
    the dequantize step before the float logits resize."""
    runtime = int8_report.runtime_ops
    assert not {"Shape", "Gather"} & set(runtime)
    assert runtime.get("DequantizeLinear", 0) <= 1 and runtime.get("Transpose", 0) <= 2


def test_bilinear_logits_leave_the_file_unrounded(int8_report) -> None:
    """The final bilinear resize has no integer kernel: it is left out of quantization, so the
    graph's output is that float resize, not a quantize/dequantize pair on the full-size
    logits (which only rounded them and cost time)."""
    graph = onnx.load(str(int8_report.path)).graph
    producer = {o: n for n in graph.node for o in n.output}
    assert producer[graph.output[0].name].op_type == "Resize"


@pytest.mark.parametrize(("mode", "expected"), [("linear", ["crop", "r"]), ("nearest", [])])
def test_float_output_resizes_finds_the_logits_resize_and_its_crop(mode, expected) -> None:
    """Conv -> Resize -> Slice -> output: a linear resize and its crop stay float; a nearest
    one (an 8-bit copy in ORT) and the convolution are quantized."""
    from onnx import TensorProto, helper

    nodes = [
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
        helper.make_node("Resize", ["c", "", "scales"], ["r_out"], name="r", mode=mode),
        helper.make_node("Slice", ["r_out", "starts", "ends"], ["y"], name="crop"),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 8, 8])],
    )
    assert float_output_resizes(helper.make_model(graph)) == expected


def test_fp32_op_types_follows_float_tensors() -> None:
    """A hand-made graph: DQ -> Relu -> Q -> DQ -> Shape; only Relu computes on floats."""
    from onnx import TensorProto, helper

    scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.1])
    zero = helper.make_tensor("z", TensorProto.UINT8, [], [0])
    nodes = [
        helper.make_node("DequantizeLinear", ["q", "s", "z"], ["f"]),
        helper.make_node("Relu", ["f"], ["r"]),
        helper.make_node("QuantizeLinear", ["r", "s", "z"], ["q2"]),
        helper.make_node("DequantizeLinear", ["q2", "s", "z"], ["f2"]),
        helper.make_node("Shape", ["f2"], ["shape"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("q", TensorProto.UINT8, [1, 4])],
        [helper.make_tensor_value_info("shape", TensorProto.INT64, [2])],
        [scale, zero],
    )
    assert fp32_op_types(helper.make_model(graph)) == {"Relu": 1}


def test_quantize_dataset_reports_miou(fp32_onnx: Path, synth_root: Path, tmp_path) -> None:
    spec = DataSpec(root=str(synth_root))
    report = quantize_dataset(
        fp32_onnx, tmp_path / "q.onnx", spec, calib_n=4, eval_data=spec, method="entropy"
    )
    assert report.calib_images == 4 and report.method == "entropy"
    assert report.agreement_on == "3 val images"
    assert 0.0 <= report.miou_int8 <= 1.0 and 0.0 <= report.miou_fp32 <= 1.0
    assert report.agreement >= 0.8


def test_empty_calibration_tensor(fp32_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="calibration set is empty"):
        quantize_onnx(fp32_onnx, tmp_path / "q.onnx", torch.zeros(0, 3, 64, 64))


def test_empty_calibration_split(fp32_onnx: Path, synth_root: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    for sub in ("images", "rgb_labels"):
        (empty / "train" / sub).mkdir(parents=True)
    with pytest.raises(DataError, match=r"--calib-data .*empty.*no image/mask pairs"):
        quantize_dataset(fp32_onnx, tmp_path / "q.onnx", DataSpec(root=str(empty)))


def test_requantizing_refused(int8_report, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="already quantized"):
        quantize_onnx(int8_report.path, tmp_path / "q.onnx", torch.zeros(1, 3, 64, 64))


def test_unknown_method(fp32_onnx: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--method"):
        quantize_onnx(fp32_onnx, tmp_path / "q.onnx", torch.zeros(1, 3, 64, 64), method="kl")


def _float_convs(ops: dict[str, int]) -> int:
    return sum(n for op, n in ops.items() if op.split(":")[-1] in ("Conv", "FusedConv"))


def test_only_the_stem_stays_fp32(int8_report, fp32_onnx: Path, tmp_path: Path) -> None:
    """The default keeps the image-reading convolution in FP32 (u8s8 saturation without VNNI);
    every other convolution runs in INT8; ``fp32_stem=False`` quantizes the stem too."""
    from segcompress.deploy.quantize import stem_convolutions

    stem = stem_convolutions(onnx.load(str(fp32_onnx)))
    assert len(stem) == 1
    assert _float_convs(int8_report.fp32_ops) == 1
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    whole = quantize_onnx(fp32_onnx, tmp_path / "all.onnx", images, fp32_stem=False)
    assert _float_convs(whole.fp32_ops) == 0
    qlinear = "com.microsoft:QLinearConv"
    assert whole.runtime_ops[qlinear] == int8_report.runtime_ops[qlinear] + 1
