"""Segmentation losses with an ignore index, and a weighted combination of them built from config.

Every loss takes ``(logits [N, C, H, W], target long [N, H, W])``; pixels whose target equals
``ignore_index`` contribute nothing (value or gradient). Logits are promoted to float32 so the
losses stay stable under mixed precision. A batch whose pixels are all ignored gives a zero loss
that is still connected to the graph (so ``backward()`` works and changes nothing).

Choices worth knowing:

- Cross-entropy and focal loss are averaged over valid pixels; with class weights the average is
  weighted (divided by the sum of the weights of the valid pixels), exactly as
  ``torch.nn.functional.cross_entropy`` does, so focal with ``gamma=0`` equals cross-entropy.
- Dice is computed over the whole batch (sums over N, H, W per class) and averaged only over the
  classes present in the batch's target. A class absent from the target has no meaningful Dice
  (0/0 without smoothing, and a smoothed value would reward or punish it arbitrarily); the
  probability it wrongly takes is still penalised, because it is missing from the present
  classes' intersections.
- Lovász-softmax (Berman et al., 2018) uses the "present" mode: the mean over classes present in
  the batch's target, computed over the batch's valid pixels pooled together.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segcompress.errors import UsageError

__all__ = [
    "DEFAULT_LOSS_SPEC",
    "LOSS_NAMES",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "LovaszSoftmaxLoss",
    "SegmentationLoss",
    "build_segmentation_loss",
]

DEFAULT_IGNORE_INDEX = 255
DEFAULT_LOSS_SPEC: dict[str, float] = {"ce": 1.0, "dice": 1.0}
LOSS_NAMES = ("ce", "dice", "focal", "lovasz")


def _check_inputs(logits: Tensor, target: Tensor) -> None:
    if logits.dim() != 4 or target.dim() != 3:
        raise UsageError(
            f"segmentation losses expect logits [N, C, H, W] and target [N, H, W], "
            f"got {tuple(logits.shape)} and {tuple(target.shape)}"
        )
    if logits.shape[0] != target.shape[0] or logits.shape[2:] != target.shape[1:]:
        raise UsageError(
            f"logits {tuple(logits.shape)} and target {tuple(target.shape)} differ in batch or "
            "spatial size; resize the logits to the mask size before the loss"
        )


def _valid_target(logits: Tensor, target: Tensor, ignore_index: int) -> tuple[Tensor, Tensor]:
    """(valid pixels, target with ignored pixels set to class 0) of checked inputs: the 0 keeps
    per-pixel gathers and one-hots in range, and ``valid`` then drops those pixels."""
    _check_inputs(logits, target)
    valid = target != ignore_index
    return valid, target.masked_fill(~valid, 0)


def _check_class_weights(weights: Tensor | None, what: str) -> Tensor | None:
    if weights is None:
        return None
    weights = torch.as_tensor(weights, dtype=torch.float32)
    if weights.dim() != 1 or not torch.isfinite(weights).all() or (weights < 0).any():
        raise UsageError(f"{what} must be a 1-D tensor of finite, non-negative per-class weights")
    return weights


def _pixel_weights(
    weight: Tensor | None, safe_target: Tensor, valid: Tensor, num_classes: int
) -> Tensor:
    """Per-pixel weight: the class weight of its target (1 without weights), 0 where ignored."""
    if weight is None:
        return valid.float()
    if weight.numel() != num_classes:
        raise UsageError(
            f"got {weight.numel()} class weights for a model with {num_classes} classes; "
            "compute the weights with the same class table as the model"
        )
    return weight.to(safe_target.device)[safe_target] * valid


def _weighted_mean(values: Tensor, weights: Tensor) -> Tensor:
    """Sum(values * weights) / sum(weights); 0 (with a graph) when every weight is 0."""
    denom = weights.sum().clamp(min=torch.finfo(weights.dtype).tiny)
    return (values * weights).sum() / denom


class CrossEntropyLoss(nn.Module):
    """Pixel-wise (optionally class-weighted) cross-entropy, averaged over valid pixels."""

    def __init__(
        self, class_weights: Tensor | None = None, ignore_index: int = DEFAULT_IGNORE_INDEX
    ) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.register_buffer("class_weights", _check_class_weights(class_weights, "class_weights"))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        valid, safe = _valid_target(logits, target, self.ignore_index)
        per_pixel = F.cross_entropy(logits.float(), safe, reduction="none")
        return _weighted_mean(
            per_pixel, _pixel_weights(self.class_weights, safe, valid, logits.shape[1])
        )


class FocalLoss(nn.Module):
    """Focal loss (Lin et al., 2017): cross-entropy scaled by ``(1 - p_t) ** gamma``.

    ``alpha`` holds optional per-class weights; the mean is weighted like cross-entropy's, so
    ``gamma=0`` reproduces :class:`CrossEntropyLoss` with the same weights.
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: Tensor | None = None,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
    ) -> None:
        super().__init__()
        if not math.isfinite(gamma) or gamma < 0:
            raise UsageError(f"focal gamma must be a finite number >= 0, got {gamma}")
        self.gamma = float(gamma)
        self.ignore_index = ignore_index
        self.register_buffer("alpha", _check_class_weights(alpha, "focal alpha"))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        valid, safe = _valid_target(logits, target, self.ignore_index)
        log_pt = F.log_softmax(logits.float(), dim=1).gather(1, safe.unsqueeze(1)).squeeze(1)
        one_minus_pt = -torch.expm1(log_pt)  # 1 - p_t without cancellation when p_t ~ 1
        per_pixel = -(one_minus_pt**self.gamma) * log_pt
        return _weighted_mean(per_pixel, _pixel_weights(self.alpha, safe, valid, logits.shape[1]))


class DiceLoss(nn.Module):
    """Soft multiclass Dice loss ``1 - mean_c Dice_c`` over the classes present in the target.

    Dice_c = (2 * sum(p_c * g_c) + smooth) / (sum(p_c) + sum(g_c) + smooth), with sums over the
    valid pixels of the whole batch. ``smooth`` defaults to 0: restricting to present classes
    already keeps every denominator >= 1.
    """

    def __init__(self, ignore_index: int = DEFAULT_IGNORE_INDEX, smooth: float = 0.0) -> None:
        super().__init__()
        if not math.isfinite(smooth) or smooth < 0:
            raise UsageError(f"dice smooth must be a finite number >= 0, got {smooth}")
        self.ignore_index = ignore_index
        self.smooth = float(smooth)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        valid, safe = _valid_target(logits, target, self.ignore_index)
        num_classes = logits.shape[1]
        valid = valid.unsqueeze(1)
        probs = F.softmax(logits.float(), dim=1) * valid
        onehot = F.one_hot(safe, num_classes).permute(0, 3, 1, 2).float() * valid
        dims = (0, 2, 3)
        intersection = (probs * onehot).sum(dims)
        gt_sum = onehot.sum(dims)
        denom = probs.sum(dims) + gt_sum + self.smooth
        dice = (2 * intersection + self.smooth) / denom.clamp(min=torch.finfo(denom.dtype).tiny)
        present = (gt_sum > 0).float()
        return ((1 - dice) * present).sum() / present.sum().clamp(min=1)


def _lovasz_grad(gt_sorted: Tensor) -> Tensor:
    """Gradient of the Lovász extension of the Jaccard loss, per column of sorted labels [P, C]."""
    gts = gt_sorted.sum(0)
    intersection = gts - gt_sorted.cumsum(0)
    union = gts + (1 - gt_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    return torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]], dim=0)


class LovaszSoftmaxLoss(nn.Module):
    """Lovász-softmax loss (Berman et al., 2018), "present" classes, batch pooled.

    All classes are handled at once (one sort over [pixels, classes]) instead of a Python loop,
    which is the same computation as the reference per-class implementation.
    """

    def __init__(self, ignore_index: int = DEFAULT_IGNORE_INDEX) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        _check_inputs(logits, target)
        num_classes = logits.shape[1]
        probs = F.softmax(logits.float(), dim=1).permute(0, 2, 3, 1).reshape(-1, num_classes)
        labels = target.reshape(-1)
        valid = labels != self.ignore_index
        probs, labels = probs[valid], labels[valid]
        if labels.numel() == 0:
            return logits.sum() * 0.0
        fg = F.one_hot(labels, num_classes).float()
        errors_sorted, perm = torch.sort((fg - probs).abs(), dim=0, descending=True)
        fg_sorted = fg.gather(0, perm)
        per_class = (errors_sorted * _lovasz_grad(fg_sorted)).sum(0)
        present = (fg.sum(0) > 0).float()
        return (per_class * present).sum() / present.sum().clamp(min=1)


class SegmentationLoss(nn.Module):
    """A weighted sum of named segmentation losses; ``forward_with_parts`` also returns each."""

    def __init__(self, losses: Mapping[str, nn.Module], weights: Mapping[str, float]) -> None:
        super().__init__()
        if not losses or set(losses) != set(weights):
            raise UsageError("SegmentationLoss needs one weight per loss and at least one loss")
        self.losses = nn.ModuleDict(dict(losses))
        self.weights = {name: float(weights[name]) for name in losses}

    def forward_with_parts(
        self, logits: Tensor, target: Tensor
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Total loss and each unweighted part, detached (call ``.item()`` only when logging)."""
        total: Tensor | None = None
        parts: dict[str, Tensor] = {}
        for name, loss_fn in self.losses.items():
            value = loss_fn(logits, target)
            parts[name] = value.detach()
            weighted = self.weights[name] * value
            total = weighted if total is None else total + weighted
        assert total is not None  # guaranteed by the constructor
        return total, parts

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return self.forward_with_parts(logits, target)[0]

    def extra_repr(self) -> str:
        return ", ".join(f"{name}={weight:g}" for name, weight in self.weights.items())


def build_segmentation_loss(
    spec: Mapping[str, float] | None = None,
    class_weights: Tensor | None = None,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    *,
    focal_gamma: float = 2.0,
    dice_smooth: float = 0.0,
) -> SegmentationLoss:
    """Build the weighted loss from config, e.g. ``{"ce": 1.0, "dice": 1.0}`` (the default).

    ``class_weights`` (computed from the training data elsewhere) weight cross-entropy and focal
    loss; Dice and Lovász treat classes equally. Zero-weight entries are dropped.
    """
    spec = dict(DEFAULT_LOSS_SPEC if spec is None else spec)
    unknown = sorted(set(spec) - set(LOSS_NAMES))
    if unknown:
        raise UsageError(
            f"unknown loss name(s) {unknown} in the loss spec; known: {', '.join(LOSS_NAMES)}"
        )
    weights: dict[str, float] = {}
    for name, weight in spec.items():
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            weight = math.nan
        if not math.isfinite(weight) or weight < 0:
            raise UsageError(
                f"loss weight for {name!r} must be a finite number >= 0, got {spec[name]!r}"
            )
        if weight > 0:
            weights[name] = weight
    if not weights:
        raise UsageError(
            f"the loss spec {spec} has no loss with a positive weight; e.g. use {DEFAULT_LOSS_SPEC}"
        )
    factories = {
        "ce": lambda: CrossEntropyLoss(class_weights, ignore_index),
        "dice": lambda: DiceLoss(ignore_index, smooth=dice_smooth),
        "focal": lambda: FocalLoss(focal_gamma, class_weights, ignore_index),
        "lovasz": lambda: LovaszSoftmaxLoss(ignore_index),
    }
    return SegmentationLoss({name: factories[name]() for name in weights}, weights)
