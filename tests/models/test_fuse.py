"""Structural re-parameterization: fused models equal unfused ones in eval mode."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from segcompress.models import fuse, is_fused
from segcompress.models.blocks import ConvBNAct, MultiKernelBlock
from tests.models.helpers import REGISTERED, randomize_bn, small_model

TOLERANCE = 1e-4


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("dilation", [0, 2])
@pytest.mark.parametrize("act", [True, False])
def test_multi_kernel_block_folds_to_one_3x3(dilation, act):
    torch.manual_seed(0)
    block = MultiKernelBlock(5, 7, dilation=dilation, act=act)
    randomize_bn(block)
    block.eval()
    x = torch.randn(2, 5, 13, 9)
    with torch.no_grad():
        ref = block(x)
        block.reparameterize()
        out = block(x)
    assert _max_diff(out, ref) < TOLERANCE
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(3, 3)] * (2 if dilation else 1)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in block.modules())


def test_conv_bn_act_fold_matches_reference():
    torch.manual_seed(0)
    unit = ConvBNAct(4, 6, 3, stride=2)
    randomize_bn(unit, seed=3)
    unit.eval()
    x = torch.randn(1, 4, 11, 10)
    with torch.no_grad():
        bn = unit.bn
        ref = torch.relu(
            (unit.conv(x) - bn.running_mean[:, None, None])
            / torch.sqrt(bn.running_var[:, None, None] + bn.eps)
            * bn.weight[:, None, None]
            + bn.bias[:, None, None]
        )
        unit.reparameterize()
        assert _max_diff(unit(x), ref) < TOLERANCE


@pytest.mark.parametrize("name", REGISTERED)
def test_fused_model_equals_unfused(name):
    model = small_model(name)
    randomize_bn(model)
    model.eval()
    x = torch.randn(2, 3, 45, 70)
    with torch.no_grad():
        ref = model(x, return_features=True)
        fused = fuse(model)
        out = fused(x, return_features=True)
    assert is_fused(fused) and not is_fused(model)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    assert not any(
        isinstance(m, nn.Conv2d) and m.kernel_size in ((1, 3), (3, 1)) for m in fused.modules()
    )
    assert ref.keys() == out.keys()
    for key in ref:
        assert _max_diff(out[key], ref[key]) < TOLERANCE, key
    # The original is untouched and the in-place method gives the same result.
    with torch.no_grad():
        assert _max_diff(model(x), ref["logits"]) == 0
        assert _max_diff(model.fuse()(x), ref["logits"]) < TOLERANCE
