"""``segcompress export | quantize | benchmark`` end to end, and one-line errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import onnx
import torch

from segcompress.cli import main
from segcompress.deploy.metadata import inference_checkpoint
from segcompress.deploy.onnx_export import verification_runtimes
from segcompress.deploy.runtime import onnx_info
from segcompress.engine.checkpoint import save_checkpoint
from segcompress.models.registry import create_model


def test_export_quantize_benchmark(checkpoint: Path, synth_root: Path, tmp_path: Path, capsys):
    fp32, int8 = tmp_path / "m.onnx", tmp_path / "m.int8.onnx"
    assert main(["export", str(checkpoint), "--out", str(fp32), "--data", str(synth_root)]) == 0
    out = capsys.readouterr().out
    for runtime in verification_runtimes():
        assert f"verified on random N(0,1) [8, 3, 64, 64] ({runtime})" in out
        assert f"verified on val images [3, 3, 64, 64] ({runtime})" in out
    assert "[torch.onnx]" not in out  # the exporter's own progress lines: --debug only
    args = ["quantize", str(fp32), "--calib-data", str(synth_root), "--calib-n", "3"]
    args += ["--out", str(int8), "--eval-data", str(synth_root), "--json", str(tmp_path / "q.json")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "argmax agreement with FP32" in out and "val mIoU: FP32" in out
    report = json.loads((tmp_path / "q.json").read_text())
    assert report["int8_bytes"] < report["fp32_bytes"]
    assert any(n.op_type == "QuantizeLinear" for n in onnx.load(str(int8)).graph.node)
    bench = ["benchmark", str(int8), "--img-size", "64", "--batch", "1", "--runs", "2"]
    bench += ["--threads", "1", "--no-isolate", "--json", str(tmp_path / "b.json")]
    assert main(bench) == 0
    out = capsys.readouterr().out
    runtimes = len(verification_runtimes())
    assert "| m.int8.onnx | onnx-int8 |" in out
    assert ("| m.int8.onnx | openvino-int8 |" in out) == (runtimes == 2)
    data = json.loads((tmp_path / "b.json").read_text())
    assert set(data) == {"config", "machine", "rows"} and len(data["rows"]) == runtimes
    assert "avx2" in data["machine"]["isa"]


def test_export_shows_the_exporters_progress_with_debug_only(checkpoint: Path, tmp_path, capfd):
    assert main(["export", str(checkpoint), "--out", str(tmp_path / "a.onnx")]) == 0
    quiet = capfd.readouterr()
    assert quiet.out.startswith("export: ") and "[torch.onnx]" not in quiet.out + quiet.err
    assert main(["--debug", "export", str(checkpoint), "--out", str(tmp_path / "b.onnx")]) == 0
    assert "[torch.onnx] Translate the graph into ONNX... ✅" in capfd.readouterr().out


def _student_q_checkpoint(path: Path, info, **model_args) -> Path:
    torch.manual_seed(0)
    model = create_model("student_q", **model_args).eval()
    state = inference_checkpoint(model, replace(info, model_name="student_q"))
    save_checkpoint(state, path)
    return path


def _resize_modes(path: Path) -> list[str]:
    return [
        a.s.decode()
        for n in onnx.load(str(path)).graph.node
        if n.op_type == "Resize"
        for a in n.attribute
        if a.name == "mode"
    ]


def test_export_model_arg_changes_only_the_models_export_args(tmp_path, info, capsys):
    """--model-arg upsample=nearest: student_q's same weights with its logits copied, recorded
    in the file. An argument the weights were trained with (even one that holds no weights) is
    a usage error naming it and its trained value, and writes nothing."""
    ckpt = _student_q_checkpoint(tmp_path / "q.pt", info)
    out = tmp_path / "nearest.onnx"
    args = ["export", str(ckpt), "--out", str(out), "--model-arg", "upsample=nearest"]
    assert main(args) == 0
    capsys.readouterr()
    # 4 decoder levels bilinear (its default), and now the logits copied.
    assert _resize_modes(out) == ["linear"] * 4 + ["nearest"]
    assert onnx_info(onnx.load(str(out)), out).model_args["upsample"] == "nearest"
    for flag, trained in (
        ("decoder_upsample=nearest", "decoder_upsample=bilinear"),
        ("width_mult=2", "width_mult=1.0"),
    ):
        refused = tmp_path / "refused.onnx"
        assert main(["export", str(ckpt), "--out", str(refused), "--model-arg", flag]) == 2
        err = _error(capsys)
        assert f"--model-arg {flag}: " in err and f"trained with {trained}" in err
        assert "can change at export: upsample" in err
        assert not refused.exists()
    # Restating the trained value changes nothing, so it is accepted.
    same = tmp_path / "same.onnx"
    args = ["export", str(ckpt), "--out", str(same), "--model-arg", "decoder_upsample=bilinear"]
    assert main(args) == 0


def test_export_of_a_checkpoint_older_than_the_argument(tmp_path, info, capsys):
    """A checkpoint written before decoder_upsample existed was trained with nearest decoder
    upsampling, not today's bilinear default: it exports so, and asking for bilinear is
    refused, not read as the checkpoint's own value."""
    ckpt = _student_q_checkpoint(tmp_path / "old.pt", info, decoder_upsample="nearest")
    state = torch.load(ckpt, weights_only=True)
    del state["model_args"]["decoder_upsample"]
    torch.save(state, ckpt)
    out = tmp_path / "old.onnx"
    assert main(["export", str(ckpt), "--out", str(out)]) == 0
    capsys.readouterr()
    assert _resize_modes(out) == ["nearest"] * 4 + ["linear"]
    assert onnx_info(onnx.load(str(out)), out).model_args["decoder_upsample"] == "nearest"
    args = ["export", str(ckpt), "--out", str(tmp_path / "x.onnx")]
    assert main([*args, "--model-arg", "decoder_upsample=bilinear"]) == 2
    assert "trained with decoder_upsample=nearest" in _error(capsys)


def test_export_model_arg_student_xs_upsample_is_refused(checkpoint: Path, tmp_path, capsys):
    """student_xs's upsample shapes its skips, every decoder level: not an export choice."""
    out = tmp_path / "bilinear.onnx"
    args = ["export", str(checkpoint), "--out", str(out), "--model-arg", "upsample=bilinear"]
    assert main(args) == 2
    err = _error(capsys)
    assert "trained with upsample=nearest" in err and "can change at export: none" in err
    assert not out.exists()


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("segcompress: error: ")
    return err


def test_corrupt_onnx_one_line_error(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not an onnx file")
    args = ["quantize", str(bad), "--calib-data", str(tmp_path), "--out", str(tmp_path / "q")]
    assert main(args) == 1
    assert "bad.onnx: not a readable ONNX model" in _error(capsys)


def test_foreign_onnx_asks_for_flags(fp32_onnx: Path, synth_root: Path, tmp_path, capsys):
    proto = onnx.load(str(fp32_onnx))
    del proto.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(proto, str(bare))
    args = ["quantize", str(bare), "--calib-data", str(synth_root), "--out", str(tmp_path / "q")]
    assert main(args) == 2
    err = _error(capsys)
    assert "--classes" in err and "--img-size" in err


def test_size_mismatch_one_line_error(fp32_onnx: Path, synth_root: Path, tmp_path, capsys):
    args = ["quantize", str(fp32_onnx), "--calib-data", str(synth_root), "--img-size", "32"]
    assert main([*args, "--out", str(tmp_path / "q.onnx")]) == 2
    assert "exported for 64x64" in _error(capsys)


def test_quantize_needs_calibration_data(fp32_onnx: Path, tmp_path: Path, capsys) -> None:
    assert main(["quantize", str(fp32_onnx), "--out", str(tmp_path / "q.onnx")]) == 2
    assert "--calib-data" in _error(capsys)


def test_empty_calibration_split(fp32_onnx: Path, tmp_path: Path, capsys) -> None:
    for sub in ("images", "rgb_labels"):
        (tmp_path / "empty" / "train" / sub).mkdir(parents=True)
    args = ["quantize", str(fp32_onnx), "--calib-data", str(tmp_path / "empty")]
    assert main([*args, "--format", "idd-kaggle", "--out", str(tmp_path / "q.onnx")]) == 1
    assert "no image/mask pairs" in _error(capsys)


def test_benchmark_unknown_model(capsys) -> None:
    assert main(["benchmark", "no_such_model.pt"]) == 2
    assert "neither a model file nor a registry name" in _error(capsys)
