"""OpenVINO as a second runtime: same files, same answers, clear errors when it is missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import segcompress.deploy.openvino_runtime as ov_runtime
from segcompress.cli import main
from segcompress.deploy import onnx_export
from segcompress.deploy.benchmark import benchmark
from segcompress.deploy.runtime import load_predictor
from segcompress.errors import DataError, UsageError
from segcompress.models.export import INPUT_NAME
from tests.deploy.graphs import ConvResize

openvino = pytest.importorskip("openvino")


def _images(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 3, 64, 64, generator=torch.Generator().manual_seed(seed))


def _quick_benchmark(path: Path, backends: tuple[str, ...]) -> list[dict]:
    """Two in-process batch-1 calls per backend: which rows come back, not how fast."""
    options = {"img_size": (64, 64), "batches": (1,), "threads": 1, "runs": 2, "warmup": 0}
    return benchmark([path], backends=backends, isolate=False, **options)


def test_openvino_fp32_matches_torch_and_ort(fp32_onnx: Path, trained_model) -> None:
    x = _images(5, 11)  # 5: not a multiple of anything the graph fixes
    predictor = load_predictor(fp32_onnx, threads=1, runtime="openvino")
    assert predictor.backend == "openvino-fp32" and predictor.runtime == "openvino"
    assert predictor.fixed_size == (64, 64) and predictor.fixed_batch is None
    got = predictor(x).numpy()
    with torch.no_grad():
        expected = trained_model(x).numpy()
    session = ort.InferenceSession(str(fp32_onnx), providers=["CPUExecutionProvider"])
    from_ort = session.run(None, {INPUT_NAME: x.numpy()})[0]
    assert got.shape == (5, 26, 64, 64)
    assert predictor(x).permute(0, 2, 3, 1).is_contiguous()  # the NHWC logits, not a copy
    assert np.abs(got - expected).max() <= 1e-3
    assert np.abs(got - from_ort).max() <= 1e-3
    assert len(np.unique(expected.argmax(1))) >= 3  # real decisions are compared


def test_openvino_int8_runs_the_qdq_file(int8_report, fp32_onnx: Path) -> None:
    x = _images(4, 12)
    ov_int8 = load_predictor(int8_report.path, threads=1, runtime="openvino")
    ort_int8 = load_predictor(int8_report.path, threads=1)
    fp32 = load_predictor(fp32_onnx, threads=1)
    assert ov_int8.backend == "openvino-int8"
    a, b, ref = ov_int8(x), ort_int8(x), fp32(x)
    # Two integer implementations of one QDQ graph round differently, but decide alike.
    assert (a.argmax(1) == b.argmax(1)).float().mean() >= 0.95
    assert (a.argmax(1) == ref.argmax(1)).float().mean() >= 0.9
    assert not torch.equal(a, ref)  # it did run in integer arithmetic


def test_openvino_refuses_other_sizes_and_checkpoints(fp32_onnx: Path, checkpoint: Path) -> None:
    predictor = load_predictor(fp32_onnx, threads=1, runtime="openvino")
    with pytest.raises(DataError, match="takes 64x64 inputs"):
        predictor(torch.zeros(1, 3, 32, 32))
    with pytest.raises(UsageError, match="export the checkpoint first"):
        load_predictor(checkpoint, runtime="openvino")
    with pytest.raises(UsageError, match="--runtime tflite"):
        load_predictor(fp32_onnx, runtime="tflite")


def test_openvino_corrupt_file_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage")
    with pytest.raises(DataError, match="bad.onnx"):
        ov_runtime.openvino_compile(bad)


def test_missing_openvino_is_named_and_benchmark_goes_on(
    monkeypatch: pytest.MonkeyPatch, fp32_onnx: Path, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(ov_runtime, "openvino_available", lambda: False)
    with pytest.raises(UsageError, match=r"pip install 'segcompress\[openvino\]'"):
        load_predictor(fp32_onnx, runtime="openvino")
    rows = _quick_benchmark(fp32_onnx, ("onnx-fp32", "openvino-fp32"))
    assert [r["backend"] for r in rows] == ["onnx-fp32"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "benchmark: skipping openvino-fp32: the openvino package is not installed "
        "(pip install 'segcompress[openvino]')"
    ]


def test_onnx_file_benchmarked_in_both_runtimes(int8_report) -> None:
    rows = _quick_benchmark(int8_report.path, ("onnx-int8", "openvino-int8", "onnx-fp32"))
    # the file is INT8: its own backend in each runtime, not an FP32 one
    assert [r["backend"] for r in rows] == ["onnx-int8", "openvino-int8"]
    assert all(r["latency_p50_ms"] > 0 for r in rows)


def test_export_fails_when_openvino_disagrees(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path, tmp_path: Path
) -> None:
    """The OpenVINO parity check is a real check: a wrong OpenVINO answer fails the export."""
    real = onnx_export.runtime_runner

    def runner(path, runtime="onnxruntime"):
        run = real(path, runtime)
        return (lambda x: run(x) + 0.1) if runtime == "openvino" else run

    monkeypatch.setattr(onnx_export, "runtime_runner", runner)
    out = tmp_path / "x.onnx"
    with pytest.raises(DataError, match=r"\(openvino\): max \|logit diff\| 1\.0"):
        onnx_export.export_checkpoint(checkpoint, out)
    assert not out.exists()


def test_evaluate_and_predict_cli_with_openvino(
    fp32_onnx: Path, synth_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    assert main(["evaluate", str(fp32_onnx), "--data", str(synth_root), "--runtime", "openvino",
                 "--threads", "1"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "(openvino-fp32)" in out and "| **Mean** |" in out
    image = sorted((synth_root / "val" / "images").glob("*.jpg"))[0]
    assert main(["predict", str(fp32_onnx), str(image), "--out", str(tmp_path / "p"),
                 "--runtime", "openvino"]) == 0  # fmt: skip
    assert "openvino-fp32" in capsys.readouterr().out
    assert len(list((tmp_path / "p").iterdir())) >= 1


def test_nncf_engine_writes_a_qdq_file_both_runtimes_run(
    fp32_onnx: Path, synth_root: Path, tmp_path: Path
) -> None:
    from segcompress.data.formats import DataSpec
    from segcompress.deploy.quantize import quantize_dataset

    spec = DataSpec(root=str(synth_root))
    out = tmp_path / "nncf.int8.onnx"
    report = quantize_dataset(
        fp32_onnx, out, spec, calib_n=6, eval_data=spec, engine="nncf", runtime="openvino"
    )
    assert report.engine == "nncf" and report.preprocess == "none"
    assert report.op_counts.get("QuantizeLinear", 0) > 0  # a QDQ graph, not an OpenVINO IR
    assert report.agreement_on == "3 val images" and report.agreement >= 0.9
    ort_int8 = load_predictor(out, threads=1)
    ov_int8 = load_predictor(out, threads=1, runtime="openvino")
    assert ort_int8.backend == "onnx-int8" and ov_int8.backend == "openvino-int8"
    assert ort_int8.info.input_size == (64, 64)  # the segcompress metadata is kept
    x = _images(2, 13)
    assert (ort_int8(x).argmax(1) == ov_int8(x).argmax(1)).float().mean() >= 0.95


def test_nncf_engine_refuses_other_calibration(fp32_onnx: Path, tmp_path: Path) -> None:
    from segcompress.deploy.quantize import quantize_onnx

    with pytest.raises(UsageError, match="--engine nncf calibrates with its own"):
        quantize_onnx(fp32_onnx, tmp_path / "q.onnx", _images(1, 0), method="entropy",
                      engine="nncf")  # fmt: skip
    with pytest.raises(UsageError, match="--engine tvm"):
        quantize_onnx(fp32_onnx, tmp_path / "q.onnx", _images(1, 0), engine="tvm")


@pytest.mark.parametrize(
    ("resize", "cut"),
    [
        ({"scale_factor": 2, "mode": "bilinear", "align_corners": False}, (2, 2)),
        ({"scale_factor": (4, 2), "mode": "bilinear", "align_corners": False}, (4, 2)),
        ({"scale_factor": 2, "mode": "bilinear", "align_corners": True}, None),
        ({"scale_factor": 2, "mode": "nearest"}, None),
        ({"scale_factor": 2, "mode": "bicubic", "align_corners": False}, None),
        ({"scale_factor": 1.5, "mode": "bilinear", "align_corners": False}, None),
        ({"size": (24, 40), "mode": "bilinear", "align_corners": False}, None),
    ],
)
def test_only_a_whole_factor_half_pixel_bilinear_resize_is_left_to_torch(
    tmp_path: Path, resize: dict, cut: tuple[int, int] | None
) -> None:
    """Cutting the logits' resize out of the graph never changes the answer: every case equals
    the torch module, whether the runtime cut it or ran it whole."""
    torch.manual_seed(0)
    model = ConvResize(**resize).eval()
    x = torch.randn(2, 3, 32, 48)
    path = tmp_path / "m.onnx"
    torch.onnx.export(model, (x,), str(path), input_names=["x"], dynamo=True)
    graph = ov_runtime.openvino_compile(path, threads=1)
    assert graph.logits_scale == cut
    got = graph.run(graph.create_infer_request(), x.numpy())
    with torch.no_grad():
        expected = model(x).numpy()
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5
    if cut is not None:  # the graph itself stops before the resize
        assert tuple(graph.compiled.output(0).get_partial_shape()[1:3].to_shape()) == (16, 24)


def test_students_logits_resize_runs_in_torch(fp32_onnx: Path, dynamic_onnx: Path) -> None:
    """The exported student ends in the 2x bilinear resize: OpenVINO stops before it. A file
    with dynamic height and width resizes to a size read at run time, and runs whole."""
    assert ov_runtime.openvino_compile(fp32_onnx).logits_scale == (2, 2)
    assert ov_runtime.openvino_compile(dynamic_onnx).logits_scale is None
    x = _images(2, 13)
    whole = load_predictor(dynamic_onnx, threads=1, runtime="openvino")(x)
    cut = load_predictor(fp32_onnx, threads=1, runtime="openvino")(x)
    assert cut.shape == whole.shape == (2, 26, 64, 64)
    assert (cut - whole).abs().max() <= 1e-4
