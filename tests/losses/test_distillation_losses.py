from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from segcompress.errors import UsageError
from segcompress.losses import (
    AttentionTransfer,
    ChannelWiseDistillationLoss,
    CrossEntropyLoss,
    DistillationLoss,
    FeatureDistillation,
    PixelKDLoss,
    build_segmentation_loss,
    default_feature_pairs,
    freeze_teacher,
)

IGNORE = 255


def _logits(n=2, c=4, h=5, w=6, seed=0, ignore_frac=0.25):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(n, c, h, w, generator=g) * 2
    teacher = torch.randn(n, c, h, w, generator=g) * 2
    target = torch.randint(0, c, (n, h, w), generator=g)
    target[torch.rand(n, h, w, generator=g) < ignore_frac] = IGNORE
    return student, teacher, target


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------------------- pixel KD


def test_kd_matches_a_per_pixel_reference():
    s, t, target = _logits()
    temp = 4.0
    s_np, t_np = s.double().numpy(), t.double().numpy()
    total, count = 0.0, 0
    n, _, h, w = s.shape
    for i in range(n):
        for y in range(h):
            for x in range(w):
                if target[i, y, x] == IGNORE:
                    continue
                p = _softmax(t_np[i, :, y, x] / temp, 0)
                q = _softmax(s_np[i, :, y, x] / temp, 0)
                total += temp**2 * float(np.sum(p * np.log(p / q)))
                count += 1
    ours = PixelKDLoss(temperature=temp)(s, t, target)
    assert ours.item() == pytest.approx(total / count, rel=1e-5)


def test_kd_is_zero_for_identical_logits():
    s, _, target = _logits(seed=1)
    assert PixelKDLoss()(s, s.clone(), target).item() == pytest.approx(0.0, abs=1e-6)


def test_kd_works_over_the_class_dimension():
    s, _, target = _logits(seed=2)
    # A shift that varies along the width but is the same for every class leaves the per-pixel
    # class distributions unchanged; a softmax over the width would see a different distribution.
    width_shift = torch.linspace(-3, 3, s.shape[-1]).view(1, 1, 1, -1)
    assert PixelKDLoss()(s + width_shift, s, target).item() == pytest.approx(0.0, abs=1e-5)
    class_shift = torch.tensor([3.0, 0.0, -3.0, 1.0]).view(1, -1, 1, 1)
    assert PixelKDLoss()(s + class_shift, s, target).item() > 0.01


def test_kd_ignores_ignored_pixels_and_the_teacher_gets_no_gradient():
    s, t, target = _logits(seed=3)
    ignored = (target == IGNORE).unsqueeze(1).expand_as(s)
    student = s.clone().requires_grad_(True)
    teacher = t.clone().requires_grad_(True)
    value = PixelKDLoss()(student, teacher, target)
    value.backward()
    changed = PixelKDLoss()(torch.where(ignored, s * 5 + 1, s), torch.where(ignored, -t, t), target)
    torch.testing.assert_close(changed, value.detach())
    assert teacher.grad is None
    assert torch.all(student.grad[ignored] == 0)
    assert student.grad.abs().sum() > 0


def test_kd_without_target_averages_all_pixels():
    s, t, _ = _logits(seed=4)
    temp = 2.0
    ref = F.kl_div(F.log_softmax(s / temp, 1), F.softmax(t / temp, 1), reduction="sum") / (
        s.numel() / s.shape[1]
    )
    torch.testing.assert_close(PixelKDLoss(temp)(s, t), ref * temp**2)


def test_kd_rejects_mismatched_logits():
    with pytest.raises(UsageError, match="same classes"):
        PixelKDLoss()(torch.randn(1, 3, 4, 4), torch.randn(1, 4, 4, 4))


# -------------------------------------------------------------------------------------------- CWD


def _cwd_reference(s, t, target, tau):
    s_np, t_np = s.double().numpy(), t.double().numpy()
    n, c = s.shape[:2]
    total = 0.0
    for i in range(n):
        keep = (target[i] != IGNORE).numpy().reshape(-1)
        for k in range(c):
            p = _softmax(t_np[i, k].reshape(-1)[keep] / tau, 0)
            q = _softmax(s_np[i, k].reshape(-1)[keep] / tau, 0)
            total += tau**2 * float(np.sum(p * np.log(p / q)))
    return total / (n * c)


@pytest.mark.parametrize("tau", [1.0, 4.0])
def test_cwd_matches_an_explicit_per_channel_reference(tau):
    s, t, target = _logits(seed=5)
    ours = ChannelWiseDistillationLoss(tau)(s, t, target)
    assert ours.item() == pytest.approx(_cwd_reference(s, t, target, tau), rel=1e-5)


def test_cwd_without_target_uses_every_position():
    s, t, target = _logits(seed=6)
    no_ignore = torch.zeros_like(target)
    ours = ChannelWiseDistillationLoss(2.0)(s, t)
    assert ours.item() == pytest.approx(_cwd_reference(s, t, no_ignore, 2.0), rel=1e-5)


def test_cwd_is_zero_for_identical_logits_and_spatial_softmax_per_channel():
    s, _, target = _logits(seed=7)
    assert ChannelWiseDistillationLoss()(s, s.clone(), target).item() == pytest.approx(0, abs=1e-6)
    # A per-channel constant does not change a softmax over positions.
    shift = torch.tensor([5.0, -2.0, 0.0, 1.0]).view(1, -1, 1, 1)
    assert ChannelWiseDistillationLoss()(s + shift, s, target).item() == pytest.approx(0, abs=1e-5)


def test_cwd_masks_ignored_pixels_and_only_the_student_gets_gradients():
    s, t, target = _logits(seed=8)
    target[1] = IGNORE  # a fully ignored image contributes zero
    ignored = (target == IGNORE).unsqueeze(1).expand_as(s)
    student = s.clone().requires_grad_(True)
    teacher = t.clone().requires_grad_(True)
    value = ChannelWiseDistillationLoss()(student, teacher, target)
    value.backward()
    assert torch.isfinite(value)
    changed = ChannelWiseDistillationLoss()(
        torch.where(ignored, s + 100, s), torch.where(ignored, t * 7, t), target
    )
    torch.testing.assert_close(changed, value.detach())
    assert teacher.grad is None
    assert torch.isfinite(student.grad).all()
    assert torch.all(student.grad[ignored] == 0)
    assert student.grad.abs().sum() > 0


# -------------------------------------------------------------------------- features and attention

STUDENT_INFO = [
    {"name": "enc1", "channels": 3, "stride": 1},
    {"name": "enc2", "channels": 5, "stride": 2},
    {"name": "dec2", "channels": 4, "stride": 2},
]
TEACHER_INFO = [
    {"name": "enc1", "channels": 6, "stride": 1},
    {"name": "enc2", "channels": 8, "stride": 2},
    {"name": "enc3", "channels": 8, "stride": 4},
]


def test_default_feature_pairs_match_strides_in_order():
    assert default_feature_pairs(STUDENT_INFO, TEACHER_INFO) == [
        ("enc1", "enc1"),
        ("enc2", "enc2"),
    ]
    assert default_feature_pairs(STUDENT_INFO[2:], TEACHER_INFO) == [("dec2", "enc2")]


def test_feature_distillation_rejects_unknown_names_and_losses():
    with pytest.raises(UsageError, match="no feature 'enc9'"):
        FeatureDistillation(STUDENT_INFO, TEACHER_INFO, [("enc9", "enc1")])
    with pytest.raises(UsageError, match="mse, cosine"):
        FeatureDistillation(STUDENT_INFO, TEACHER_INFO, loss="l1")
    with pytest.raises(UsageError, match="share no stride"):
        FeatureDistillation(STUDENT_INFO[:1], TEACHER_INFO[2:])


@pytest.mark.parametrize("loss", ["mse", "cosine"])
def test_feature_distillation_is_zero_with_identity_adapters(loss):
    info = [{"name": "f", "channels": 4, "stride": 2}]
    module = FeatureDistillation(info, info, loss=loss)
    with torch.no_grad():
        module.adapters[0].weight.copy_(torch.eye(4).view(4, 4, 1, 1))
        module.adapters[0].bias.zero_()
    feats = {"f": torch.randn(2, 4, 3, 3)}
    assert module(feats, {"f": feats["f"].clone()}).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("loss", ["mse", "cosine"])
def test_feature_distillation_resizes_to_the_teacher_and_trains_only_student_side(loss):
    module = FeatureDistillation(STUDENT_INFO, TEACHER_INFO, [("dec2", "enc1")], loss=loss)
    student = torch.randn(2, 4, 4, 4, requires_grad=True)
    teacher = torch.randn(2, 6, 8, 8, requires_grad=True)
    value = module({"dec2": student}, {"enc1": teacher})
    adapted = F.interpolate(
        module.adapters[0](student), size=(8, 8), mode="bilinear", align_corners=False
    )
    if loss == "mse":
        expected = ((adapted - teacher) ** 2).mean()
    else:
        cos = (adapted * teacher).sum(1) / (adapted.norm(dim=1) * teacher.norm(dim=1))
        expected = (1 - cos).mean()
    torch.testing.assert_close(value, expected)
    value.backward()
    assert teacher.grad is None
    assert student.grad.abs().sum() > 0
    assert module.adapters[0].weight.grad.abs().sum() > 0


def test_feature_distillation_names_missing_outputs():
    module = FeatureDistillation(STUDENT_INFO, TEACHER_INFO)
    with pytest.raises(UsageError, match="return_features=True"):
        module({"enc1": torch.randn(1, 3, 4, 4)}, {"enc1": torch.randn(1, 6, 4, 4)})


def test_attention_transfer_matches_the_formula_and_is_zero_for_equal_maps():
    at = AttentionTransfer([("s", "t")])
    fs = torch.randn(2, 3, 4, 4, requires_grad=True)
    ft = torch.randn(2, 7, 8, 8, requires_grad=True)
    value = at({"s": fs}, {"t": ft})
    a_s = F.interpolate(fs.pow(2).mean(1, keepdim=True), size=(8, 8), mode="bilinear")
    a_t = ft.pow(2).mean(1, keepdim=True)
    a_s = a_s.flatten(1) / a_s.flatten(1).norm(dim=1, keepdim=True)
    a_t = a_t.flatten(1) / a_t.flatten(1).norm(dim=1, keepdim=True)
    expected = ((a_s - a_t) ** 2).sum(1).mean()
    torch.testing.assert_close(value, expected)
    value.backward()
    assert ft.grad is None
    assert fs.grad.abs().sum() > 0
    # Channel count and scale do not matter: only the normalised spatial map does.
    same = torch.cat([ft, ft], 1).detach() * 3
    assert at({"s": ft.detach()}, {"t": same}).item() == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- combined and teacher


class _TinySeg(nn.Module):
    """A minimal model with the contract's ``return_features`` and ``feature_info``."""

    def __init__(self, width: int, num_classes: int = 4) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width))
        self.down = nn.Conv2d(width, width, 3, stride=2, padding=1)
        self.head = nn.Conv2d(width, num_classes, 1)
        self.feature_info = [
            {"name": "enc1", "channels": width, "stride": 1},
            {"name": "enc2", "channels": width, "stride": 2},
        ]

    def forward(self, x, return_features=False):
        f1 = torch.relu(self.enc(x))
        f2 = torch.relu(self.down(f1))
        up = F.interpolate(f2, size=x.shape[-2:], mode="bilinear", align_corners=False)
        logits = self.head(up + f1)
        if return_features:
            return {"enc1": f1, "enc2": f2, "logits": logits}
        return logits


def test_freeze_teacher_sets_eval_and_no_grad():
    teacher = _TinySeg(6).train()
    assert freeze_teacher(teacher) is teacher
    assert not teacher.training
    assert not teacher.enc[1].training
    assert all(not p.requires_grad for p in teacher.parameters())


def test_distillation_loss_combines_terms_and_trains_only_student_and_adapters():
    torch.manual_seed(0)
    student, teacher = _TinySeg(4), freeze_teacher(_TinySeg(6))
    x = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 4, (2, 8, 8))
    target[:, :2] = IGNORE
    task = build_segmentation_loss()
    loss = DistillationLoss(
        task,
        lambda_kd=0.5,
        lambda_cwd=2.0,
        lambda_feat=1.5,
        lambda_at=3.0,
        temperature=2.0,
        cwd_tau=3.0,
        student_info=student.feature_info,
        teacher_info=teacher.feature_info,
    )
    s_out = student(x, return_features=True)
    with torch.no_grad():
        t_out = teacher(x, return_features=True)
    total, parts = loss(s_out, t_out, target)
    expected = (
        task(s_out["logits"], target)
        + 0.5 * PixelKDLoss(2.0)(s_out["logits"], t_out["logits"], target)
        + 2.0 * ChannelWiseDistillationLoss(3.0)(s_out["logits"], t_out["logits"], target)
        + 1.5 * loss.feat(s_out, t_out)
        + 3.0 * AttentionTransfer([("enc1", "enc1"), ("enc2", "enc2")])(s_out, t_out)
    )
    torch.testing.assert_close(total, expected)
    assert set(parts) == {"task", "task/ce", "task/dice", "kd", "cwd", "feat", "at", "total"}
    assert all(not v.requires_grad and v.dim() == 0 for v in parts.values())
    total.backward()
    assert all(p.grad is not None for p in student.parameters())
    assert all(p.grad is not None for p in loss.parameters())  # the feature adapters
    assert all(p.grad is None for p in teacher.parameters())


def test_distillation_loss_detaches_teacher_tensors_defensively():
    s, t, target = _logits(seed=9)
    teacher_logits = t.clone().requires_grad_(True)
    loss = DistillationLoss(CrossEntropyLoss(), lambda_kd=1.0, lambda_cwd=1.0)
    total, parts = loss(s.requires_grad_(True), {"logits": teacher_logits}, target)
    total.backward()
    assert teacher_logits.grad is None
    assert set(parts) == {"task", "kd", "cwd", "total"}


def test_distillation_loss_checks_its_arguments():
    with pytest.raises(UsageError, match="feature_info"):
        DistillationLoss(CrossEntropyLoss(), lambda_feat=1.0)
    with pytest.raises(UsageError, match="lambda_kd"):
        DistillationLoss(CrossEntropyLoss(), lambda_kd=-1.0)
    with pytest.raises(UsageError, match="'logits'"):
        DistillationLoss(CrossEntropyLoss())({"enc1": torch.zeros(1)}, torch.zeros(1), None)
