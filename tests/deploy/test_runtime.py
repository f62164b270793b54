"""The predictor interface: torch and ONNX through the same ``load_predictor``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from segcompress.data import load_split
from segcompress.data.classes import IDD_LEVEL3
from segcompress.deploy import runtime
from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.runtime import evaluate_predictor, load_predictor, renormalize
from segcompress.errors import DataError, UsageError
from tests.deploy.conftest import MEAN, STD
from tests.deploy.graphs import ConvResize

_INFO = ModelInfo(classes=IDD_LEVEL3, input_size=(32, 48), mean=MEAN, std=STD)


@pytest.fixture(scope="module")
def predictors(checkpoint: Path, fp32_onnx: Path):
    return load_predictor(checkpoint, device="cpu"), load_predictor(fp32_onnx, device="cpu")


def test_backends_and_facts(predictors) -> None:
    torch_p, onnx_p = predictors
    assert (torch_p.backend, onnx_p.backend) == ("torch", "onnx-fp32")
    for p in predictors:
        assert p.input_size == (64, 64)
        assert p.mean == MEAN and p.std == STD
        assert p.classes.num_classes == 26


def test_torch_and_onnx_logits_agree(predictors) -> None:
    torch_p, onnx_p = predictors
    x = torch.randn(5, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    a, b = torch_p(x), onnx_p(x)
    assert a.shape == b.shape == (5, 26, 64, 64)
    assert (a - b).abs().max() <= 1e-3
    assert (a.argmax(1) == b.argmax(1)).float().mean() >= 0.999


def test_predict_image_at_original_resolution(predictors) -> None:
    torch_p, onnx_p = predictors
    image = (np.random.default_rng(0).random((50, 83, 3)) * 255).astype(np.uint8)
    ids_t, ids_o = torch_p.predict_image(image), onnx_p.predict_image(image)
    assert ids_t.shape == ids_o.shape == (50, 83)
    assert ids_t.dtype == np.uint8
    assert (ids_t == ids_o).mean() >= 0.999


def test_evaluate_predictor_same_matrix(predictors, synth_root: Path) -> None:
    data = load_split(synth_root, "val", img_size=(64, 64), train=False, format="idd-kaggle")
    loader = torch.utils.data.DataLoader(data, batch_size=2)
    m_torch = evaluate_predictor(predictors[0], loader).matrix
    m_onnx = evaluate_predictor(predictors[1], loader).matrix
    total = int(m_torch.sum())
    assert total == int(m_onnx.sum()) > 0
    assert int((m_torch - m_onnx).abs().sum()) <= 2 * 0.001 * total


def test_renormalize_round_trip() -> None:
    x = torch.rand(2, 3, 4, 4)
    imagenet = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    a = renormalize(x, ((0, 0, 0), (1, 1, 1)), imagenet)
    expected = (x - torch.tensor(imagenet[0])[:, None, None]) / torch.tensor(imagenet[1])[
        :, None, None
    ]
    assert torch.allclose(a, expected, atol=1e-6)
    assert torch.allclose(renormalize(a, imagenet, ((0, 0, 0), (1, 1, 1))), x, atol=1e-6)


def test_fixed_size_onnx_refuses_other_sizes(predictors) -> None:
    with pytest.raises(DataError, match=r"takes 64x64 inputs, got 32x48.*--dynamic"):
        predictors[1](torch.zeros(1, 3, 32, 48))


def test_img_size_flag_conflicting_with_fixed_graph(fp32_onnx: Path) -> None:
    with pytest.raises(UsageError, match=r"--img-size 32x32.*exported for 64x64"):
        load_predictor(fp32_onnx, img_size=(32, 32))


def test_dynamic_onnx_accepts_other_sizes(dynamic_onnx: Path, predictors) -> None:
    dyn = load_predictor(dynamic_onnx, device="cpu")
    x = torch.randn(2, 3, 40, 72, generator=torch.Generator().manual_seed(4))
    assert (dyn(x) - predictors[0](x)).abs().max() <= 1e-3


def test_fixed_batch_graph_is_served_in_chunks(fp32_onnx: Path, tmp_path: Path, predictors):
    """A foreign file with batch fixed to 2: a batch of 3 is split and padded, same result."""
    proto = onnx.load(str(fp32_onnx))
    for value in (*proto.graph.input, *proto.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 2
    path = tmp_path / "batch2.onnx"
    onnx.save(proto, str(path))
    fixed = load_predictor(path, device="cpu")
    assert fixed.fixed_batch == 2
    x = torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    assert (fixed(x) - predictors[1](x)).abs().max() <= 1e-5


def test_corrupt_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07this is not a protobuf model\xff\xff")
    with pytest.raises(DataError, match=r"broken.onnx: not a readable ONNX model.*export"):
        load_predictor(path)


def test_truncated_onnx_file(fp32_onnx: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.onnx"
    path.write_bytes(fp32_onnx.read_bytes()[:1000])
    with pytest.raises(DataError, match="cut.onnx"):
        load_predictor(path)


def test_missing_model_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="model file not found"):
        load_predictor(tmp_path / "nope.onnx")


def test_bad_batch_shape(predictors) -> None:
    for p in predictors:
        with pytest.raises(DataError, match=r"expected an image batch \[N, 3, H, W\]"):
            p(torch.zeros(1, 1, 64, 64))


@pytest.mark.parametrize(
    ("resize", "rewritten"),
    [
        ({"scale_factor": 2, "mode": "bilinear", "align_corners": False}, True),
        ({"scale_factor": (4, 2), "mode": "bilinear", "align_corners": False}, True),
        ({"scale_factor": 2, "mode": "bilinear", "align_corners": True}, True),
        ({"scale_factor": 2, "mode": "nearest"}, False),
        ({"scale_factor": 2, "mode": "bicubic", "align_corners": False}, False),
    ],
)
def test_only_a_linear_logits_resize_runs_channels_last(
    tmp_path: Path, resize: dict, rewritten: bool
) -> None:
    """ONNX Runtime runs a linear resize of the logits channels-last (the graph's output NHWC,
    handed back as an NCHW view) and every other resize as it is; both equal the torch module."""
    torch.manual_seed(0)
    model = ConvResize(**resize).eval()
    x = torch.randn(2, 3, 32, 48)
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=True)
    proto = onnx.load(str(path))
    assert runtime.channels_last_logits_resize(proto) is rewritten
    predictor = runtime._load_ort(path, _INFO, device="cpu", threads=1, int8=False)
    assert predictor.channels_last_output is rewritten
    with torch.no_grad():
        expected = model(x)
    got = torch.from_numpy(predictor._run(x.numpy()))
    assert got.shape == expected.shape
    assert (got - expected).abs().max() <= 1e-5
    if rewritten:  # the session itself delivers NHWC logits
        assert predictor.session.get_outputs()[0].shape[1:] == [*expected.shape[2:], 5]
        assert got.permute(0, 2, 3, 1).is_contiguous()


def test_student_files_resize_their_logits_channels_last(fp32_onnx: Path, int8_report) -> None:
    """The exported student (FP32 and INT8) ends in the 2x bilinear resize: ONNX Runtime runs
    it channels-last, with the logits the file itself computes."""
    x = torch.randn(3, 3, 64, 64)
    for path in (fp32_onnx, int8_report.path):
        predictor = load_predictor(path, device="cpu", threads=1)
        assert predictor.channels_last_output
        assert predictor.session.get_outputs()[0].shape[1:] == [64, 64, 26]
        plain = runtime.onnx_session(path, threads=1)
        expected = plain.run(None, {plain.get_inputs()[0].name: x.numpy()})[0]
        got = predictor(x)
        assert got.shape == (3, 26, 64, 64)
        assert np.abs(got.numpy() - expected).max() <= 1e-5
