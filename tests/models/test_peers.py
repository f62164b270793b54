"""The MONAI peer: same function as MONAI's own AttentionUnet, and a clear error without MONAI."""

from __future__ import annotations

import sys

import pytest
import torch
from monai.networks.nets import AttentionUnet

from segcompress import create_model
from segcompress.errors import UsageError
from segcompress.models.profile import count_params


def test_wrapper_computes_what_monai_computes():
    torch.manual_seed(0)
    model = create_model("monai_attention_unet", num_classes=4, depth=3, base_width=8).eval()
    reference = AttentionUnet(
        spatial_dims=2, in_channels=3, out_channels=4, channels=(8, 16, 32), strides=(2, 2)
    ).eval()
    reference.load_state_dict(model.net.state_dict())
    x = torch.randn(2, 3, 32, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))
        # Sides not divisible by 4 are padded and cropped back, like every registry model.
        assert model(torch.randn(1, 3, 30, 45)).shape == (1, 4, 30, 45)


def test_default_size_is_near_the_teachers():
    peer = count_params(create_model("monai_attention_unet", num_classes=7))
    teacher = count_params(create_model("teacher", num_classes=7))
    assert 0.7 < peer / teacher < 1.1  # "equal budget" in the IDD-Lite benchmark


def test_missing_monai_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "monai.networks.nets", None)  # import now fails
    with pytest.raises(UsageError, match=r"segcompress\[monai\]"):
        create_model("monai_attention_unet", num_classes=3)
