from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from segcompress.errors import UsageError
from segcompress.losses import (
    LOSS_NAMES,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    LovaszSoftmaxLoss,
    SegmentationLoss,
    build_segmentation_loss,
)

IGNORE = 255
DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


def _batch(n=2, c=4, h=6, w=5, ignore_frac=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, h, w, generator=g) * 2
    target = torch.randint(0, c, (n, h, w), generator=g)
    target[torch.rand(n, h, w, generator=g) < ignore_frac] = IGNORE
    return logits, target


ALL_LOSSES = {
    "ce": lambda: CrossEntropyLoss(),
    "ce_weighted": lambda: CrossEntropyLoss(torch.tensor([0.5, 2.0, 1.0, 3.0])),
    "dice": lambda: DiceLoss(),
    "focal": lambda: FocalLoss(gamma=2.0),
    "lovasz": lambda: LovaszSoftmaxLoss(),
}


@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_torch(weighted):
    logits, target = _batch()
    weights = torch.tensor([0.5, 2.0, 1.0, 3.0]) if weighted else None
    ours = CrossEntropyLoss(weights)(logits, target)
    ref = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE)
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("weighted", [False, True])
def test_focal_with_gamma_zero_equals_cross_entropy(weighted):
    logits, target = _batch(seed=1)
    weights = torch.tensor([0.5, 2.0, 1.0, 3.0]) if weighted else None
    focal = FocalLoss(gamma=0.0, alpha=weights)(logits, target)
    ce = F.cross_entropy(logits, target, weight=weights, ignore_index=IGNORE)
    torch.testing.assert_close(focal, ce)


def test_focal_matches_plain_formula():
    logits, target = _batch(seed=2)
    alpha = np.array([0.5, 2.0, 1.0, 3.0])
    gamma = 2.0
    probs = torch.softmax(logits, 1).numpy().astype(np.float64)
    num = den = 0.0
    n, _, h, w = logits.shape
    for i in range(n):
        for y in range(h):
            for x in range(w):
                t = int(target[i, y, x])
                if t == IGNORE:
                    continue
                pt = probs[i, t, y, x]
                num += -alpha[t] * (1 - pt) ** gamma * np.log(pt)
                den += alpha[t]
    ours = FocalLoss(gamma, torch.tensor(alpha, dtype=torch.float32))(logits, target)
    assert ours.item() == pytest.approx(num / den, rel=1e-5)
    # The focusing term lowers the loss of well-classified pixels below cross-entropy's.
    assert ours.item() < CrossEntropyLoss(torch.tensor(alpha))(logits, target).item()


def _dice_reference(logits, target, smooth=0.0):
    probs = torch.softmax(logits, 1).numpy().astype(np.float64)
    t = target.numpy()
    valid = t != IGNORE
    losses = []
    for c in range(logits.shape[1]):
        g = (t == c) & valid
        if not g.any():
            continue
        p = probs[:, c][valid]
        gc = g[valid].astype(np.float64)
        dice = (2 * (p * gc).sum() + smooth) / (p.sum() + gc.sum() + smooth)
        losses.append(1 - dice)
    return float(np.mean(losses))


@pytest.mark.parametrize("smooth", [0.0, 1.0])
def test_dice_matches_per_class_formula(smooth):
    logits, target = _batch(seed=3)
    target[target == 2] = 0  # class 2 is absent from the target: left out of the mean
    ours = DiceLoss(smooth=smooth)(logits, target)
    assert ours.item() == pytest.approx(_dice_reference(logits, target, smooth), rel=1e-5)


def test_dice_is_zero_for_a_perfect_prediction_and_ignores_absent_classes():
    target = torch.tensor([[[0, 0, 1], [1, 3, IGNORE]]])
    logits = F.one_hot(target.clamp(max=3), 4).permute(0, 3, 1, 2).float() * 100
    assert DiceLoss()(logits, target).item() == pytest.approx(0.0, abs=1e-6)


def _lovasz_reference(logits, target):
    """Per-class loop following Berman et al.'s reference implementation ("present" classes)."""
    num_classes = logits.shape[1]
    probs = torch.softmax(logits.double(), 1).permute(0, 2, 3, 1).reshape(-1, num_classes)
    labels = target.reshape(-1)
    keep = labels != IGNORE
    probs, labels = probs[keep], labels[keep]
    losses = []
    for c in range(num_classes):
        fg = (labels == c).double()
        if fg.sum() == 0:
            continue
        errors = (fg - probs[:, c]).abs()
        order = sorted(range(len(errors)), key=lambda i: -errors[i].item())
        gt_sorted = fg[order]
        p = len(gt_sorted)
        gts = gt_sorted.sum()
        intersection = gts - gt_sorted.cumsum(0)
        union = gts + (1 - gt_sorted).cumsum(0)
        jaccard = 1.0 - intersection / union
        if p > 1:
            jaccard[1:p] = jaccard[1:p] - jaccard[0:-1].clone()
        losses.append(torch.dot(errors[order], jaccard).item())
    return float(np.mean(losses))


@pytest.mark.parametrize("seed", [4, 5])
def test_lovasz_matches_reference_implementation(seed):
    logits, target = _batch(n=2, c=5, h=4, w=5, seed=seed)
    ours = LovaszSoftmaxLoss()(logits, target)
    assert ours.item() == pytest.approx(_lovasz_reference(logits, target), rel=1e-5)


def test_lovasz_of_hard_predictions_is_one_minus_mean_iou():
    target = torch.tensor([[[0, 0, 1, 1], [2, 2, 2, IGNORE]]])
    pred = torch.tensor([[[0, 1, 1, 1], [2, 2, 0, 3]]])
    logits = F.one_hot(pred, 4).permute(0, 3, 1, 2).float() * 100
    # IoU over valid pixels: class 0: 1/3, class 1: 2/3, class 2: 2/3 (class 3 absent in target).
    expected = 1 - (1 / 3 + 2 / 3 + 2 / 3) / 3
    assert LovaszSoftmaxLoss()(logits, target).item() == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_ignored_pixels_change_nothing(name, device):
    loss_fn = ALL_LOSSES[name]().to(device)
    logits, target = _batch(seed=6)
    logits, target = logits.to(device), target.to(device)
    ignored = (target == IGNORE).unsqueeze(1).expand_as(logits)
    changed = torch.where(ignored, torch.randn_like(logits) * 10, logits)
    leaf = logits.clone().requires_grad_(True)
    value = loss_fn(leaf, target)
    value.backward()
    torch.testing.assert_close(loss_fn(changed, target), value.detach())
    assert torch.all(leaf.grad[ignored] == 0)
    assert leaf.grad[~ignored].abs().sum() > 0


@pytest.mark.parametrize("name", sorted(ALL_LOSSES))
def test_all_ignored_batch_gives_zero_and_backpropagates(name):
    logits = torch.randn(1, 4, 3, 3, requires_grad=True)
    target = torch.full((1, 3, 3), IGNORE)
    value = ALL_LOSSES[name]()(logits, target)
    value.backward()
    assert value.item() == 0.0
    assert torch.all(logits.grad == 0)


def test_losses_reject_mismatched_shapes():
    with pytest.raises(UsageError, match="resize the logits"):
        CrossEntropyLoss()(torch.randn(1, 3, 4, 4), torch.zeros(1, 8, 8, dtype=torch.long))


def test_class_weights_must_match_the_number_of_classes():
    with pytest.raises(UsageError, match="class weights"):
        CrossEntropyLoss(torch.ones(3))(*_batch())


def test_build_default_is_ce_plus_dice_with_parts():
    logits, target = _batch(seed=7)
    loss = build_segmentation_loss()
    assert isinstance(loss, SegmentationLoss)
    total, parts = loss.forward_with_parts(logits, target)
    assert set(parts) == {"ce", "dice"}
    ce = F.cross_entropy(logits, target, ignore_index=IGNORE)
    torch.testing.assert_close(parts["ce"], ce)
    torch.testing.assert_close(total, ce + DiceLoss()(logits, target))


def test_build_weights_and_class_weights():
    logits, target = _batch(seed=8)
    weights = torch.tensor([1.0, 4.0, 0.5, 2.0])
    loss = build_segmentation_loss(
        {"ce": 0.5, "lovasz": 2.0, "focal": 0.0}, class_weights=weights, focal_gamma=1.0
    )
    assert set(loss.losses) == {"ce", "lovasz"}  # zero weight dropped
    expected = 0.5 * F.cross_entropy(
        logits, target, weight=weights, ignore_index=IGNORE
    ) + 2.0 * LovaszSoftmaxLoss()(logits, target)
    torch.testing.assert_close(loss(logits, target), expected)


def test_build_respects_a_custom_ignore_index():
    logits, target = _batch(seed=9)
    target[target == IGNORE] = 0
    target[:, 0] = 7
    loss = build_segmentation_loss({"ce": 1.0}, ignore_index=7)
    torch.testing.assert_close(
        loss(logits, target), F.cross_entropy(logits, target, ignore_index=7)
    )


def test_build_rejects_unknown_names_listing_known_ones():
    with pytest.raises(UsageError) as info:
        build_segmentation_loss({"ce": 1.0, "tversky": 1.0})
    message = str(info.value)
    assert "tversky" in message
    assert all(name in message for name in LOSS_NAMES)


@pytest.mark.parametrize("spec", [{"ce": -1.0}, {"ce": float("nan")}, {"dice": 0.0}, {}])
def test_build_rejects_bad_weights(spec):
    with pytest.raises(UsageError):
        build_segmentation_loss(spec)


def test_class_weights_are_buffers_that_move_with_the_module():
    loss = build_segmentation_loss({"ce": 1.0, "focal": 1.0}, class_weights=torch.ones(4))
    state = loss.state_dict()
    assert "losses.ce.class_weights" in state
    assert "losses.focal.alpha" in state
