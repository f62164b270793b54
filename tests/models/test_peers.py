"""The MONAI peer's wrapper: registry name, the model contract of ``models/base.py`` and a clear
error without MONAI.

What every registered model shares (fusing, ONNX export, batch independence, gradients) is
tested for this one too by the tests parametrized over the registry (``test_fuse.py``,
``test_export.py``, ``test_models.py``); this file covers what the wrapper itself adds.
"""

from __future__ import annotations

import sys
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F

from segcompress import create_model, list_models
from segcompress.errors import UsageError

NAME = "monai_attention_unet"
SMALL = {"num_classes": 4, "depth": 3, "base_width": 8}


@pytest.fixture
def monai_nets() -> ModuleType:
    return pytest.importorskip(
        "monai.networks.nets", reason="MONAI is not installed (pip install 'segcompress[monai]')"
    )


def _small(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(NAME, **{**SMALL, **kwargs})


def test_registered_under_its_name_and_alias(monai_nets):
    assert NAME in list_models()
    assert "monai_attunet" in list_models(include_aliases=True)
    assert "monai_attunet" not in list_models()
    model = create_model("monai_attunet", **SMALL)
    assert model.model_name == NAME  # the canonical name, whatever was asked for
    assert model.model_args == {**SMALL, "dropout": 0.0}  # defaults recorded too
    assert create_model(NAME).model_args == {
        "num_classes": 26,  # IDD level 3, the registry's default
        "depth": 5,
        "base_width": 32,
        "dropout": 0.0,
    }


def test_model_args_rebuild_the_same_model(monai_nets):
    model = _small(dropout=0.1).eval()
    rebuilt = create_model(model.model_name, **model.model_args).eval()
    assert rebuilt.model_args == model.model_args
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == shapes
    rebuilt.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 20, 28)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), model(x), rtol=0, atol=0)


def test_wrapper_computes_what_monai_computes(monai_nets):
    """Widths double per level from ``base_width``, one stride-2 level fewer than ``depth``."""
    model = _small().eval()
    reference = monai_nets.AttentionUnet(
        spatial_dims=2, in_channels=3, out_channels=4, channels=(8, 16, 32), strides=(2, 2)
    ).eval()
    reference.load_state_dict(model.net.state_dict())  # same layers, same names
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


@pytest.mark.parametrize(("depth", "divisor"), [(2, 2), (3, 4), (4, 8)])
def test_odd_sizes_are_zero_padded_bottom_right_and_cropped_back(monai_nets, depth, divisor):
    model = _small(depth=depth).eval()
    assert model.size_divisor == divisor
    for h, w in [(17, 23), (30, 45), (divisor + 1, 1)]:
        x = torch.randn(2, 3, h, w)
        ph, pw = -h % divisor, -w % divisor
        with torch.no_grad():
            out = model(x)
            padded = model.net(F.pad(x, [0, pw, 0, ph]))
        assert out.shape == (2, 4, h, w)
        torch.testing.assert_close(out, padded[:, :, :h, :w])


def test_declares_no_features_and_returns_logits_only(monai_nets):
    model = _small().eval()
    assert model.feature_info == []
    x = torch.randn(1, 3, 21, 19)
    with torch.no_grad():
        feats = model(x, return_features=True)
        plain = model(x)
    assert set(feats) == {"logits"}
    torch.testing.assert_close(feats["logits"], plain, rtol=0, atol=0)
    with pytest.raises(UsageError, match=r"\[N, 3, H, W\]"):
        model(torch.randn(1, 1, 8, 8))


def test_dropout_reaches_monai(monai_nets):
    model = _small(dropout=0.5)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        model.train()
        assert not torch.equal(model(x), model(x))  # dropout active while training
        model.eval()
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": 1}, "depth must be between 2 and 6, got 1"),
        ({"depth": 7}, "depth must be between 2 and 6, got 7"),
        ({"depth": True}, "depth must be between 2 and 6, got True"),
        ({"base_width": 0}, "base_width must be a positive integer"),
        ({"num_classes": 0}, "num_classes must be a positive integer"),
    ],
)
def test_invalid_arguments_are_usage_errors(monai_nets, kwargs, message):
    with pytest.raises(UsageError, match=message):
        create_model(NAME, **{**SMALL, **kwargs})


def test_missing_monai_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "monai.networks.nets", None)  # import now fails
    with pytest.raises(UsageError, match=r"segcompress\[monai\]"):
        create_model(NAME, num_classes=3)
