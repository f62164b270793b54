"""Every registered model: output shapes, features, gradients, attention coefficients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from segcompress.models.blocks import AttentionGate
from segcompress.models.profile import count_flops
from tests.models.helpers import FOREIGN, NUM_CLASSES, REGISTERED, small_model

SIZES = [(128, 128), (256, 256), (256, 512), (227, 320)]


@pytest.mark.parametrize("name", REGISTERED)
def test_logits_at_input_resolution(name):
    model = small_model(name).eval()
    with torch.no_grad():
        for h, w in SIZES:
            for batch in (1, 3):
                out = model(torch.randn(batch, 3, h, w))
                assert out.shape == (batch, NUM_CLASSES, h, w), (h, w, batch)
                assert torch.isfinite(out).all()


@pytest.mark.parametrize("name", ["student_s", "student_xs"])
def test_student_bilinear_variant(name):
    model = small_model(name, upsample="bilinear", width_mult=0.5).eval()
    assert model.model_args["upsample"] == "bilinear"
    with torch.no_grad():
        assert model(torch.randn(1, 3, 227, 320)).shape == (1, NUM_CLASSES, 227, 320)


@pytest.mark.parametrize("name", ["student_s", "student_xs"])
def test_student_full_resolution_stem(name):
    """stem_stride 1: the first stage keeps the input size, for 4x the FLOPs of stride 2."""
    full = small_model(name, stem_stride=1).eval()
    half = small_model(name).eval()
    assert full.model_args["stem_stride"] == 1
    with torch.no_grad():
        feats = full(torch.randn(1, 3, 64, 96), return_features=True)
    assert feats["logits"].shape == (1, NUM_CLASSES, 64, 96)
    assert feats["enc1"].shape[-2:] == (64, 96)
    assert next(i["stride"] for i in full.feature_info if i["name"] == "enc1") == 1
    ratio = count_flops(full, (64, 96)) / count_flops(half, (64, 96))
    assert 3.5 < ratio < 4.5


@pytest.mark.parametrize("name", REGISTERED)
def test_batch_items_are_independent(name):
    """Padding and cropping must not mix images: item i of a batch equals the image alone."""
    model = small_model(name).eval()
    x = torch.randn(3, 3, 45, 67)
    with torch.no_grad():
        batched = model(x)
        single = model(x[1:2])
    torch.testing.assert_close(batched[1:2], single, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", REGISTERED)
def test_features_match_feature_info(name):
    model = small_model(name).eval()
    h, w = 227, 320
    with torch.no_grad():
        feats = model(torch.randn(2, 3, h, w), return_features=True)
    assert feats["logits"].shape == (2, NUM_CLASSES, h, w)
    names = [info["name"] for info in model.feature_info]
    assert len(names) == len(set(names))
    if name in FOREIGN:  # wrapped from another library: logits only, by contract
        assert set(feats) == {"logits"} and not names
        return
    assert any(n.startswith("enc") for n in names) and any(n.startswith("dec") for n in names)
    for info in model.feature_info:
        s = info["stride"]
        assert feats[info["name"]].shape == (
            2,
            info["channels"],
            math.ceil(h / s),
            math.ceil(w / s),
        )
    assert set(feats) == {*names, "logits"}


@pytest.mark.parametrize("name", ["teacher", "student_s", "student_xs"])
def test_deep_supervision_aux_logits(name):
    model = small_model(name, deep_supervision=True).eval()
    depth = model.depth
    with torch.no_grad():
        feats = model(torch.randn(1, 3, 70, 90), return_features=True)
        plain = model(torch.randn(1, 3, 70, 90))
    aux = sorted(k for k in feats if k.startswith("aux"))
    assert aux == [f"aux{lvl}" for lvl in range(2, depth)]
    for key in aux:
        assert feats[key].shape == (1, NUM_CLASSES, 70, 90)
    assert isinstance(plain, torch.Tensor)


@pytest.mark.parametrize("name", REGISTERED)
def test_every_parameter_gets_a_gradient(name):
    kwargs = (
        {"deep_supervision": True} if "deep_supervision" in small_model(name).model_args else {}
    )
    model = small_model(name, **kwargs).train()
    feats = model(torch.randn(2, 3, 64, 96), return_features=True)
    target = torch.randint(0, NUM_CLASSES, (2, 64, 96))
    loss = sum(
        F.cross_entropy(v, target) for k, v in feats.items() if k.startswith(("logits", "aux"))
    )
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in REGISTERED
        if any(i["name"].startswith("att") for i in small_model(n).feature_info)
    ],
)
def test_attention_coefficients_in_unit_interval(name):
    model = small_model(name).eval()
    with torch.no_grad():
        feats = model(torch.randn(2, 3, 96, 64) * 3, return_features=True)
    att = [k for k in feats if k.startswith("att")]
    assert len(att) == model.depth - 1
    for key in att:
        alpha = feats[key]
        assert alpha.shape[1] == 1
        assert alpha.min() >= 0 and alpha.max() <= 1
        assert alpha.std() > 0  # the gate depends on the input, it is not a constant


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_attention_gate_matches_the_formula(mode):
    """Output equals x * sigmoid(psi(relu(W_x x + W_g resample(g)))) computed independently:
    resampling g before its 1x1 projection (as in Oktay et al.) gives the same result."""
    torch.manual_seed(0)
    gate = AttentionGate(6, 10, 4, mode=mode).eval()
    x, g = torch.randn(2, 6, 16, 12), torch.randn(2, 10, 8, 6)

    def affine(unit, t):
        # 1x1 conv + eval BN (fresh: identity), written out without the module's forward.
        return F.conv2d(t, unit.conv.weight)

    g_up = F.interpolate(
        g, size=(16, 12), mode=mode, **({"align_corners": False} if mode == "bilinear" else {})
    )
    alpha = torch.sigmoid(affine(gate.psi, F.relu(affine(gate.theta, x) + affine(gate.phi, g_up))))
    with torch.no_grad():
        torch.testing.assert_close(gate(x, g), x * alpha, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(gate.coefficients(x, g), alpha, atol=1e-5, rtol=1e-5)
