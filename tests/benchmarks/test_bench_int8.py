"""bench_int8_ab's model specs and bench_int8_student's summary over seeds (no timing)."""

from __future__ import annotations

import pytest

from tests.benchmark_scripts import load_benchmark

ab = load_benchmark("bench_int8_ab")
files = load_benchmark("int8_files")
students = load_benchmark("bench_int8_student")


def test_model_spec_reads_typed_arguments() -> None:
    assert files.model_spec("student_s") == ("student_s", {})
    name, kwargs = files.model_spec("student_q:upsample=nearest,width_mult=0.5")
    assert name == "student_q" and kwargs == {"upsample": "nearest", "width_mult": 0.5}


def test_summary_is_per_row_and_mode_with_the_worst_seed() -> None:
    def rec(row: str, mode: str, fp32: float, int8: float) -> dict:
        return {
            "row": row,
            "upsample": mode,
            "fp32_miou": fp32,
            "int8_miou": int8,
            "int8_minus_fp32": int8 - fp32,
        }

    table = students.summarise(
        [
            rec("q", "nearest", 50.0, 49.8),
            rec("q", "nearest", 52.0, 52.1),
            rec("q", "bilinear", 51.0, 51.0),
        ]
    )
    by = {(e["row"], e["upsample"]): e for e in table}
    near = by[("q", "nearest")]
    assert near["seeds"] == 2 and near["fp32_miou"] == pytest.approx(51.0)
    assert near["int8_minus_fp32"] == pytest.approx(-0.05)
    assert near["worst_int8_minus_fp32"] == pytest.approx(-0.2)
    assert near["fp32_miou_std"] == pytest.approx(2**0.5)
    assert by[("q", "bilinear")]["seeds"] == 1 and by[("q", "bilinear")]["fp32_miou_std"] == 0.0


def test_before_files_are_built_the_old_way(tmp_path) -> None:
    """The A/B's "before" files must differ from today's exactly by the two changes: resizes by
    target size (``Shape`` in the graph) and the logits' float resize quantized (a dequantize
    step produces the output); today's files have neither."""
    import onnx
    import torch

    from segcompress.data.classes import IDD_LEVEL3
    from segcompress.deploy.metadata import ModelInfo
    from segcompress.deploy.onnx_export import export_model
    from segcompress.deploy.quantize import quantize_onnx
    from segcompress.deploy.samples import smooth_images
    from segcompress.models import create_model

    def build(folder: str) -> tuple[set[str], str]:
        model = create_model("student_xs").eval()
        info = ModelInfo(classes=IDD_LEVEL3, input_size=(32, 32), model_name="student_xs")
        fp32, int8 = tmp_path / f"{folder}.onnx", tmp_path / f"{folder}-int8.onnx"
        export_model(model, fp32, info)
        quantize_onnx(fp32, int8, smooth_images(2, (32, 32), 0))
        graph = onnx.load(str(int8)).graph
        producer = {o: n.op_type for n in graph.node for o in n.output}
        return {n.op_type for n in onnx.load(str(fp32)).graph.node}, producer[graph.output[0].name]

    torch.manual_seed(0)
    now_ops, now_output = build("now")
    with files.as_before():
        old_ops, old_output = build("before")
    assert "Shape" not in now_ops and now_output == "Resize"
    assert "Shape" in old_ops and old_output == "DequantizeLinear"


def test_only_finished_runs_are_scored(tmp_path) -> None:
    for name, finished in (("student_q-dist-s0", True), ("student_q-dist-s1", False)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "last.pt").write_bytes(b"")
        if finished:
            (tmp_path / name / "eval_last.json").write_text("{}")
    (tmp_path / "student_q-dist-s2.log").write_text("")  # a file, not a run
    done, unfinished = students.finished_runs(tmp_path, ["student_q-dist-s?", "student_q-*"])
    assert [f.name for f in done] == ["student_q-dist-s0"]
    assert [f.name for f in unfinished] == ["student_q-dist-s1"]


def test_qoperator_file_quantizes_the_concatenations_that_qdq_leaves_in_fp32(tmp_path) -> None:
    """The QOperator candidate really is another format of the same quantization: its
    concatenations and gates run as ``QLinear*`` ops, where the default QDQ file has none."""
    import onnx
    import torch

    from segcompress.data.classes import IDD_LEVEL3
    from segcompress.deploy.metadata import ModelInfo
    from segcompress.deploy.onnx_export import export_model
    from segcompress.deploy.quantize import quantize_onnx
    from segcompress.deploy.samples import smooth_images
    from segcompress.models.registry import create_model

    torch.manual_seed(0)
    model = create_model("student_xs").eval()
    fp32, qdq, qop = (tmp_path / f"{n}.onnx" for n in ("fp32", "qdq", "qop"))
    export_model(model, fp32, ModelInfo.of_model(model, (32, 32), IDD_LEVEL3))
    images = smooth_images(4, (32, 32), 0)
    quantize_onnx(fp32, qdq, images)
    files.quantize_qoperator(fp32, qop, images)

    def ops(path) -> set[str]:
        return {n.op_type for n in onnx.load(str(path)).graph.node}

    assert {"QLinearConcat", "QLinearConv", "QLinearSigmoid"} <= ops(qop)
    assert not {op for op in ops(qdq) if op.startswith("QLinear")}
    assert "Concat" in ops(qdq) and "Concat" not in ops(qop)


def _student_xs_onnx(tmp_path):
    """``student_xs`` (seed 0) exported at 32x32: the A/B's candidates load it."""
    import torch

    from segcompress.data.classes import IDD_LEVEL3
    from segcompress.deploy.metadata import ModelInfo
    from segcompress.deploy.onnx_export import export_model
    from segcompress.models.registry import create_model

    torch.manual_seed(0)
    model = create_model("student_xs").eval()
    path = tmp_path / "fp32.onnx"
    export_model(model, path, ModelInfo.of_model(model, (32, 32), IDD_LEVEL3))
    return path


def test_openvino_whole_candidate_runs_the_resize_in_openvino(tmp_path) -> None:
    """The A/B's two OpenVINO candidates differ only in who runs the logits' resize."""
    pytest.importorskip("openvino")
    import torch

    path = _student_xs_onnx(tmp_path)
    cut = ab.load_candidate(path, 1, "openvino")
    whole = ab.load_candidate(path, 1, ab.OPENVINO_WHOLE)
    assert cut.graph.logits_scale == (2, 2) and whole.graph.logits_scale is None
    assert whole.runtime == "openvino"
    x = torch.randn(1, 3, 32, 32)
    assert (cut(x) - whole(x)).abs().max() <= 1e-4


def test_nchw_logits_candidate_runs_the_resize_as_before(tmp_path) -> None:
    """The A/B's two ONNX Runtime candidates differ only in the layout of the logits' resize."""
    import torch

    path = _student_xs_onnx(tmp_path)
    nhwc = ab.load_candidate(path, 1, "onnxruntime")
    nchw = ab.load_candidate(path, 1, ab.ORT_NCHW)
    assert nhwc.channels_last_output and not nchw.channels_last_output
    x = torch.randn(1, 3, 32, 32)
    assert (nhwc(x) - nchw(x)).abs().max() <= 1e-5


def test_a_file_the_runtime_cannot_run_is_dropped_with_its_reason() -> None:
    """NNCF's per-channel activation scales run in OpenVINO only; the other candidates are
    still timed, and the refused one is named in the results."""
    import torch

    from segcompress.errors import DataError

    def refuses(x: torch.Tensor) -> torch.Tensor:
        raise DataError("int8.onnx: ONNX Runtime failed (QLinearConv: zero point must be scalar)")

    predictors = {
        ("student_lite", "INT8, NNCF", "onnxruntime"): refuses,
        ("student_lite", "INT8, NNCF", "openvino"): lambda x: x,
    }
    failed = ab.refuse_unrunnable(predictors, torch.zeros(1, 3, 8, 8))
    assert list(predictors) == [("student_lite", "INT8, NNCF", "openvino")]
    assert list(failed) == ["student_lite | INT8, NNCF | onnxruntime"]
    assert "zero point must be scalar" in failed["student_lite | INT8, NNCF | onnxruntime"]
