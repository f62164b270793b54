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
    DISTLoss,
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


# ------------------------------------------------------------------------------------------- DIST


def _dist_terms_reference(s, t, target, tau):
    """DIST's (inter, intra) relation losses via numpy.corrcoef, from the valid pixels only."""
    s_np, t_np = s.double().numpy(), t.double().numpy()
    n, c, h, w = s.shape
    ys, yt = [], []
    for i in range(n):
        for y in range(h):
            for x in range(w):
                if target is not None and target[i, y, x] == IGNORE:
                    continue
                ys.append(_softmax(s_np[i, :, y, x] / tau, 0))
                yt.append(_softmax(t_np[i, :, y, x] / tau, 0))
    ys, yt = np.stack(ys), np.stack(yt)  # [valid pixels, C]
    inter = 1 - np.mean([np.corrcoef(ys[p], yt[p])[0, 1] for p in range(len(ys))])
    intra = 1 - np.mean([np.corrcoef(ys[:, k], yt[:, k])[0, 1] for k in range(c)])
    return float(inter), float(intra)


def _dist_reference(s, t, target, tau=1.0, beta=1.0, gamma=1.0):
    inter, intra = _dist_terms_reference(s, t, target, tau)
    return tau**2 * (beta * inter + gamma * intra)


@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0])
def test_dist_matches_a_corrcoef_reference_over_valid_pixels(tau):
    s, t, target = _logits(seed=10)
    assert (target == IGNORE).any()
    ours = DISTLoss(tau=tau)(s, t, target)
    assert ours.dtype == torch.float32
    assert ours.item() == pytest.approx(_dist_reference(s, t, target, tau), rel=1e-4)


def test_dist_defaults_follow_the_authors_segmentation_setting():
    loss = DISTLoss()
    assert (loss.tau, loss.beta, loss.gamma, loss.ignore_index) == (1.0, 1.0, 1.0, IGNORE)


def test_dist_beta_and_gamma_weight_the_inter_and_intra_terms():
    s, t, target = _logits(seed=11)
    inter, intra = _dist_terms_reference(s, t, target, 1.0)
    # The two terms differ on this data, so a swapped transposition cannot pass.
    assert abs(inter - intra) > 0.05
    only_inter = DISTLoss(beta=1.0, gamma=0.0)(s, t, target)
    only_intra = DISTLoss(beta=0.0, gamma=1.0)(s, t, target)
    weighted = DISTLoss(beta=2.0, gamma=3.0)(s, t, target)
    assert only_inter.item() == pytest.approx(inter, rel=1e-4)
    assert only_intra.item() == pytest.approx(intra, rel=1e-4)
    assert weighted.item() == pytest.approx(2 * inter + 3 * intra, rel=1e-4)


def test_dist_scales_by_tau_squared():
    s, t, target = _logits(seed=12)
    # softmax(z / 2) is softmax((z / 2) / 1): the tau=2 loss is 4x the tau=1 loss on z / 2.
    torch.testing.assert_close(
        DISTLoss(tau=2.0)(s, t, target), 4 * DISTLoss()(s / 2, t / 2, target)
    )
    inter, intra = _dist_terms_reference(s, t, target, 2.0)
    assert DISTLoss(tau=2.0)(s, t, target).item() == pytest.approx(4 * (inter + intra), rel=1e-4)


def test_dist_is_zero_for_identical_logits():
    s, _, target = _logits(seed=13)
    assert DISTLoss()(s, s.clone(), target).item() == pytest.approx(0.0, abs=1e-5)
    assert DISTLoss(tau=3.0)(s, s.clone()).item() == pytest.approx(0.0, abs=1e-5)


def test_dist_without_target_uses_every_pixel():
    s, t, _ = _logits(seed=14)
    ours = DISTLoss()(s, t)
    assert ours.item() == pytest.approx(_dist_reference(s, t, None), rel=1e-4)


def test_dist_excludes_ignored_pixels_and_only_the_student_gets_gradients():
    s, t, target = _logits(seed=15, ignore_frac=0.4)
    ignored = (target == IGNORE).unsqueeze(1).expand_as(s)
    student = s.clone().requires_grad_(True)
    teacher = t.clone().requires_grad_(True)
    value = DISTLoss()(student, teacher, target)
    value.backward()
    # Ignored pixels are not samples: arbitrary logits there change nothing ...
    changed = DISTLoss()(torch.where(ignored, s * 5 + 1, s), torch.where(ignored, -t, t), target)
    torch.testing.assert_close(changed, value.detach())
    # ... and the value is the reference over valid pixels, not the one over all pixels.
    assert value.item() == pytest.approx(_dist_reference(s, t, target), rel=1e-4)
    assert abs(value.item() - _dist_reference(s, t, None)) > 1e-3
    assert teacher.grad is None
    assert torch.isfinite(student.grad).all()
    assert torch.all(student.grad[ignored] == 0)
    assert student.grad.abs().sum() > 0


def test_dist_with_no_valid_pixel_is_a_zero_connected_to_the_student():
    s, t, target = _logits(seed=16)
    student = s.clone().requires_grad_(True)
    value = DISTLoss()(student, t, torch.full_like(target, IGNORE))
    assert value.item() == 0.0
    assert value.requires_grad
    value.backward()
    assert torch.all(student.grad == 0)


def test_dist_computes_in_float32_for_bfloat16_logits():
    s, t, target = _logits(seed=17)
    s16, t16 = s.bfloat16().requires_grad_(True), t.bfloat16()
    value = DISTLoss()(s16, t16, target)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value, DISTLoss()(s16.float(), t16.float(), target))
    value.backward()
    assert s16.grad.dtype == torch.bfloat16
    assert torch.isfinite(s16.grad.float()).all()


def test_dist_checks_its_arguments():
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(UsageError, match="DIST tau"):
            DISTLoss(tau=bad)
    for name in ("beta", "gamma"):
        for bad in (-0.5, float("nan"), float("inf")):
            with pytest.raises(UsageError, match=f"DIST {name}"):
                DISTLoss(**{name: bad})
    with pytest.raises(UsageError, match="both 0"):
        DISTLoss(beta=0.0, gamma=0.0)
    with pytest.raises(UsageError, match="same classes"):
        DISTLoss()(torch.randn(1, 3, 4, 4), torch.randn(1, 4, 4, 4))
    with pytest.raises(UsageError, match="does not match"):
        DISTLoss()(torch.randn(1, 3, 4, 4), torch.randn(1, 3, 4, 4), torch.zeros(1, 4, 5))


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


def test_distillation_loss_adds_the_weighted_dist_term():
    s, t, target = _logits(seed=18)
    task = CrossEntropyLoss()
    loss = DistillationLoss(
        task, lambda_dist=2.5, dist_tau=2.0, dist_beta=0.5, dist_gamma=3.0, ignore_index=IGNORE
    )
    assert loss.dist is not None and loss.kd is None and loss.cwd is None
    assert (loss.dist.tau, loss.dist.beta, loss.dist.gamma) == (2.0, 0.5, 3.0)
    student = s.clone().requires_grad_(True)
    teacher = t.clone().requires_grad_(True)
    total, parts = loss(student, {"logits": teacher}, target)
    assert set(parts) == {"task", "dist", "total"}
    dist = DISTLoss(tau=2.0, beta=0.5, gamma=3.0)(s, t, target)
    assert parts["dist"].item() == pytest.approx(
        _dist_reference(s, t, target, tau=2.0, beta=0.5, gamma=3.0), rel=1e-4
    )
    torch.testing.assert_close(parts["dist"], dist)
    torch.testing.assert_close(total, task(s, target) + 2.5 * dist)
    total.backward()
    assert teacher.grad is None
    assert student.grad.abs().sum() > 0
    assert DistillationLoss(task).dist is None


def test_distillation_loss_combines_dist_with_cwd():
    s, t, target = _logits(seed=19)
    task = CrossEntropyLoss()
    loss = DistillationLoss(task, lambda_cwd=0.7, lambda_dist=1.5, cwd_tau=3.0)
    total, parts = loss(s, t, target)
    assert set(parts) == {"task", "cwd", "dist", "total"}
    cwd = ChannelWiseDistillationLoss(3.0)(s, t, target)
    dist = DISTLoss()(s, t, target)
    torch.testing.assert_close(parts["cwd"], cwd)
    torch.testing.assert_close(parts["dist"], dist)
    torch.testing.assert_close(total, task(s, target) + 0.7 * cwd + 1.5 * dist)
    torch.testing.assert_close(parts["total"], parts["task"] + 0.7 * cwd + 1.5 * dist)


def test_distillation_loss_checks_its_arguments():
    with pytest.raises(UsageError, match="feature_info"):
        DistillationLoss(CrossEntropyLoss(), lambda_feat=1.0)
    with pytest.raises(UsageError, match="lambda_kd"):
        DistillationLoss(CrossEntropyLoss(), lambda_kd=-1.0)
    with pytest.raises(UsageError, match="lambda_dist"):
        DistillationLoss(CrossEntropyLoss(), lambda_dist=-1.0)
    with pytest.raises(UsageError, match="DIST tau"):
        DistillationLoss(CrossEntropyLoss(), lambda_dist=1.0, dist_tau=0.0)
    with pytest.raises(UsageError, match="both 0"):
        DistillationLoss(CrossEntropyLoss(), lambda_dist=1.0, dist_beta=0.0, dist_gamma=0.0)
    with pytest.raises(UsageError, match="'logits'"):
        DistillationLoss(CrossEntropyLoss())({"enc1": torch.zeros(1)}, torch.zeros(1), None)


def test_a_validity_map_lets_unlabelled_pixels_learn_from_the_teacher():
    """On an unlabelled frame (mask all ignore) the task loss is zero and the logit terms
    learn from the pixels ``kd_valid`` marks, not from the labels."""
    torch.manual_seed(0)
    student, teacher = torch.randn(2, 5, 6, 7), torch.randn(2, 5, 6, 7)
    unlabelled = torch.full((2, 6, 7), 255)
    valid = torch.ones(2, 6, 7, dtype=torch.bool)
    valid[:, :, 5:] = False  # padding
    loss = DistillationLoss(
        build_segmentation_loss(ignore_index=255), lambda_kd=1.0, lambda_cwd=1.0, lambda_dist=1.0
    )
    _, without = loss(student, teacher, unlabelled)
    total, parts = loss(student, teacher, unlabelled, kd_valid=valid)
    assert float(parts["task"]) == 0.0 and float(without["kd"]) == 0.0
    labelled_like = torch.where(valid, 0, 255)
    for term, module in (("kd", loss.kd), ("cwd", loss.cwd), ("dist", loss.dist)):
        expected = module(student, teacher, labelled_like)
        assert float(parts[term]) > 0
        torch.testing.assert_close(parts[term], expected.detach())
    torch.testing.assert_close(total, parts["kd"] + parts["cwd"] + parts["dist"])
