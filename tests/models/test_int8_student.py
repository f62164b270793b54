"""student_q: the graph it exports is the one its design promises; it runs in INT8 end to end."""

from __future__ import annotations

import onnx
import pytest
import torch
import torch.nn.functional as F

from segcompress.data.classes import IDD_LEVEL3
from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.onnx_export import export_model
from segcompress.deploy.quantize import fp32_op_types, op_type_counts, quantize_onnx, runtime_graph
from segcompress.deploy.samples import smooth_images
from segcompress.errors import UsageError
from segcompress.models import create_model
from tests.models.helpers import randomize_bn

SIZE = (64, 96)


def _export(
    tmp_path, upsample: str, decoder_upsample: str = "nearest"
) -> tuple[torch.nn.Module, object]:
    torch.manual_seed(0)
    model = create_model(
        "student_q",
        num_classes=IDD_LEVEL3.num_classes,
        upsample=upsample,
        decoder_upsample=decoder_upsample,
    )
    randomize_bn(model)
    model.eval()
    path = tmp_path / f"{upsample}-{decoder_upsample}.onnx"
    export_model(
        model, path, ModelInfo(classes=IDD_LEVEL3, input_size=SIZE, model_name="student_q")
    )
    return model, path


@pytest.mark.parametrize(
    ("upsample", "decoder"),
    [("bilinear", "nearest"), ("nearest", "nearest"), ("nearest", "bilinear")],
)
def test_exported_graph_has_no_gates_pooling_or_feature_concat(tmp_path, upsample, decoder):
    """Only convolutions, ReLU, additions and one resize per level (plus the logits' resize);
    no concatenation at all (the resizes have constant scales, so no size arithmetic). Each
    resize has the mode its argument asks for: the decoder's four, then the logits'."""
    _, path = _export(tmp_path, upsample, decoder)
    proto = onnx.load(str(path))
    counts = op_type_counts(proto)
    assert set(counts) == {"Conv", "Relu", "Add", "Resize"}
    assert counts["Resize"] == 5  # 4 decoder levels + the logits
    assert counts["Conv"] == 19  # 5 strided + 5 encoder blocks + 4 lateral + 4 decoder + head
    onnx_mode = {"nearest": b"nearest", "bilinear": b"linear"}
    modes = [
        next(a.s for a in node.attribute if a.name == "mode")
        for node in proto.graph.node
        if node.op_type == "Resize"
    ]
    assert modes == [onnx_mode[decoder]] * 4 + [onnx_mode[upsample]]


def test_int8_file_runs_everything_but_the_stem_in_integers(tmp_path):
    """With nearest logits, ORT's INT8 graph computes in float only at the stem (kept FP32 by
    default); with bilinear logits the final resize is the one other float op. A bilinear
    decoder's four resizes run in float between their quantize pairs (ORT folds only nearest
    ones), channels-last like the convolutions around them: no layout change is added. (ORT's
    8-bit bilinear kernel, fed the quantized maps directly, was slower than that float group on
    a Zen 4 EPYC: BENCHMARKS.md, "A bilinear decoder".)"""
    images = smooth_images(8, SIZE, 0)
    float_ops, transposes = {}, {}
    for shape in (("nearest", "nearest"), ("bilinear", "nearest"), ("nearest", "bilinear")):
        _, path = _export(tmp_path, *shape)
        int8 = tmp_path / f"{'-'.join(shape)}-int8.onnx"
        quantize_onnx(path, int8, images)
        graph = runtime_graph(int8)
        float_ops[shape] = {k.rsplit(":", 1)[-1]: v for k, v in fp32_op_types(graph).items()}
        transposes[shape] = op_type_counts(graph).get("Transpose", 0)
    assert float_ops["nearest", "nearest"].get("Conv") == 1
    assert set(float_ops["nearest", "nearest"]) <= {"Conv", "ReorderOutput"}
    assert float_ops["bilinear", "nearest"].get("Resize") == 1
    assert set(float_ops["bilinear", "nearest"]) <= {"Conv", "ReorderOutput", "Resize"}
    assert float_ops["nearest", "bilinear"] == {**float_ops["nearest", "nearest"], "Resize": 4}
    assert transposes["nearest", "bilinear"] == transposes["nearest", "nearest"]


@pytest.mark.parametrize("mode", ["nearest", "bilinear"])
def test_decoder_adds_projected_coarse_map_to_encoder_map(mode):
    """dec<l> = block(relu(up(lat<l>(dec<l+1>)) + enc<l>)), ``up`` by ``decoder_upsample``:
    checked against the features (bilinear as torch's default, half-pixel centres)."""
    torch.manual_seed(0)
    model = create_model("student_q", num_classes=5, decoder_upsample=mode).eval()
    with torch.no_grad():
        feats = model(torch.randn(1, 3, 64, 96), return_features=True)
        for lvl in (4, 3, 2, 1):
            coarse = feats["enc5"] if lvl == 4 else feats[f"dec{lvl + 1}"]
            lat = getattr(model, f"lat{lvl}")(coarse)
            align = False if mode == "bilinear" else None
            up = F.interpolate(lat, scale_factor=2, mode=mode, align_corners=align)
            expected = getattr(model, f"dec{lvl}")(torch.relu(up + feats[f"enc{lvl}"]))
            torch.testing.assert_close(feats[f"dec{lvl}"], expected)


def test_nearest_logits_copy_the_stride_2_head_with_the_same_weights():
    """The upsampling mode holds no weights: a bilinear-trained student loads into the nearest
    variant, whose logits are the stride-2 head's output, each value copied to 2x2 pixels. It
    is the one argument export may change (``export_args``), this test is why."""
    torch.manual_seed(0)
    bilinear = create_model("student_q", num_classes=5).eval()
    assert bilinear.export_args == {"upsample"}
    nearest = create_model("student_q", num_classes=5, upsample="nearest").eval()
    nearest.load_state_dict(bilinear.state_dict())
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        head = bilinear.head(bilinear(x, return_features=True)["dec1"])
        logits = nearest(x)
    assert head.shape == (1, 5, 32, 48)
    torch.testing.assert_close(logits, head.repeat_interleave(2, 2).repeat_interleave(2, 3))


@pytest.mark.parametrize(
    ("width_mult", "widths"),
    [(1.0, [16, 32, 64, 96, 128]), (2, [32, 64, 128, 192, 256]), (1.3, [16, 48, 80, 128, 160])],
)
def test_width_mult_scales_every_level_to_multiples_of_16(width_mult, widths):
    """Each level's width is base x width_mult rounded to 16, used by the encoder, the lateral
    projections and the head alike; the checkpoint's model_args record it."""
    model = create_model("student_q", num_classes=5, width_mult=width_mult).eval()
    assert [f["channels"] for f in model.feature_info[:5]] == widths
    assert [getattr(model, f"enc{i + 1}")[0].conv.out_channels for i in range(5)] == widths
    assert [getattr(model, f"lat{i}").conv.out_channels for i in range(1, 5)] == widths[:4]
    assert model.head.in_channels == widths[0]
    assert model.model_args["width_mult"] == width_mult
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 96)).shape == (1, 5, 64, 96)


@pytest.mark.parametrize("arg", ["upsample", "decoder_upsample"])
def test_unknown_upsample_mode_is_a_usage_error(arg):
    with pytest.raises(UsageError, match=f"^{arg} must be one of bilinear, nearest"):
        create_model("student_q", **{arg: "bicubic"})
