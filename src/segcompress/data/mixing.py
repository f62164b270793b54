"""Batch mixing (CutMix, ClassMix) for distillation: teacher and student see the same mixed view.

Beyer et al. 2022 ("Knowledge distillation: a good teacher is patient and consistent") found that
aggressive mixing helps distillation as long as teacher and student are shown the same mixed
image ("function matching"). With a live teacher that is automatic: it runs on the mixed images.
With cached teacher logits the logits must be mixed with exactly the same binary mask as the
image and the labels, so every mode here builds one *plan* (a partner permutation and a paste
mask) and applies it to images, masks and logits alike.

Randomness comes from the global CPU torch RNG (``torch.rand``/``torch.randperm`` without a
generator), whatever device the batch is on, so the trainer's RNG state capture makes a resumed
run draw the same mixes, and CPU and GPU batches mix identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import default_collate

from segcompress.errors import UsageError

__all__ = ["MIX_MODES", "BatchMix", "MixCollate", "MixPlan", "apply_mix"]

MIX_MODES = ("none", "cutmix", "classmix")


@dataclass(frozen=True)
class MixPlan:
    """How a batch is mixed: sample ``i`` takes pixel ``(y, x)`` from ``perm[i]`` where
    ``paste[i, y, x]`` is true, else keeps its own.

    ``perm`` is int64 [N] on the CPU, ``paste`` bool [N, H, W] on the batch's device. Samples
    that were not selected (probability ``1 - prob``) have an all-false ``paste``.
    """

    perm: Tensor
    paste: Tensor


def apply_mix(x: Tensor, plan: MixPlan) -> Tensor:
    """``x`` ([N, H, W] or [N, C, H, W]) mixed by ``plan``; a new tensor, ``x`` is untouched.

    One function for images, masks and logits, so they cannot be mixed with different masks.
    """
    n, h, w = plan.paste.shape
    if x.dim() not in (3, 4) or x.shape[0] != n or tuple(x.shape[-2:]) != (h, w):
        raise ValueError(
            f"cannot mix a tensor of shape {tuple(x.shape)} with a plan for {n}x{h}x{w}"
        )
    paste = plan.paste.to(x.device)
    if x.dim() == 4:
        paste = paste[:, None]
    return torch.where(paste, x[plan.perm.to(x.device)], x)


def _cutmix_paste(n: int, h: int, w: int) -> Tensor:
    """One box per sample (Yun et al. 2019): lam ~ U(0, 1), sides ``H, W * sqrt(1 - lam)``,
    centre uniform over the pixels, clipped to the image. Bool [N, H, W] on the CPU."""
    lam = torch.rand(n, dtype=torch.float64)
    cy = (torch.rand(n, dtype=torch.float64) * h).floor().long()
    cx = (torch.rand(n, dtype=torch.float64) * w).floor().long()
    cut = torch.sqrt(1.0 - lam)
    cut_h = (h * cut).floor().long()
    cut_w = (w * cut).floor().long()
    y1 = (cy - cut_h // 2).clamp(0, h)
    y2 = (cy + cut_h - cut_h // 2).clamp(0, h)
    x1 = (cx - cut_w // 2).clamp(0, w)
    x2 = (cx + cut_w - cut_w // 2).clamp(0, w)
    ys = torch.arange(h)[None, :]
    xs = torch.arange(w)[None, :]
    rows = (ys >= y1[:, None]) & (ys < y2[:, None])  # [N, H]
    cols = (xs >= x1[:, None]) & (xs < x2[:, None])  # [N, W]
    return rows[:, :, None] & cols[:, None, :]


def _classmix_paste(partner_masks: Tensor, selected: Tensor, ignore_index: int) -> Tensor:
    """Olsson et al. 2021: half the classes present in the partner's labels (rounded up, never
    the ignore index), chosen at random; the partner's pixels of those classes are pasted.

    An all-ignore partner pastes nothing, and the partner's ignore pixels are never pasted: a
    pasted ignore pixel would carry no label yet still overwrite the sample's own.
    """
    paste = torch.zeros(partner_masks.shape, dtype=torch.bool, device=partner_masks.device)
    for i in torch.nonzero(selected).flatten().tolist():
        labels = partner_masks[i]
        classes = labels.unique().cpu()
        classes = classes[classes != ignore_index]
        if classes.numel() == 0:
            continue
        k = math.ceil(classes.numel() / 2)
        chosen = classes[torch.randperm(classes.numel())[:k]]
        paste[i] = torch.isin(labels, chosen.to(labels.device))
    return paste


class BatchMix:
    """Mix each sample of a batch with a random partner from the same batch.

    ``mode`` is one of :data:`MIX_MODES`; each sample is mixed with probability ``prob``;
    ``ignore_index`` is the label that is never a class (ClassMix never pastes it).
    """

    def __init__(self, mode: str, prob: float = 0.5, ignore_index: int = 255) -> None:
        if mode not in MIX_MODES:
            raise UsageError(f"unknown mix mode {mode!r}; choose one of {', '.join(MIX_MODES)}")
        prob = float(prob)
        if not 0.0 <= prob <= 1.0:  # also rejects NaN
            raise UsageError(f"mix probability must be in [0, 1], got {prob}")
        self.mode = mode
        self.prob = prob
        self.ignore_index = int(ignore_index)

    def __repr__(self) -> str:
        return f"BatchMix({self.mode!r}, prob={self.prob}, ignore_index={self.ignore_index})"

    def plan(self, images: Tensor, masks: Tensor) -> MixPlan:
        """Draw the partners and the paste mask for a batch (the only step that uses the RNG).

        The draws are, in order: ``randperm(N)``, ``rand(N)`` for selection, then the mode's
        own: CutMix draws its boxes for every sample, selected or not, so its number of draws
        depends on the batch size alone; ClassMix draws one permutation of the partner's classes
        per selected sample. Mode ``"none"`` draws nothing.
        """
        _check_batch(images, masks)
        n, h, w = masks.shape
        if self.mode == "none":  # the identity, and no draws: "none" must not shift the RNG
            return MixPlan(
                perm=torch.arange(n),
                paste=torch.zeros((n, h, w), dtype=torch.bool, device=masks.device),
            )
        perm = torch.randperm(n)
        selected = torch.rand(n) < self.prob
        if self.mode == "cutmix":
            paste = _cutmix_paste(n, h, w) & selected[:, None, None]
            paste = paste.to(masks.device)
        elif self.mode == "classmix":
            paste = _classmix_paste(masks[perm.to(masks.device)], selected, self.ignore_index)
        else:
            raise AssertionError(self.mode)  # unreachable: __init__ checks the mode
        return MixPlan(perm=perm, paste=paste)

    def __call__(
        self, images: Tensor, masks: Tensor, logits: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """Mixed ``(images, masks, logits)``: new tensors, the inputs are never modified.

        Mode ``"none"`` draws nothing from the RNG and returns copies.
        """
        _check_batch(images, masks, logits)
        if self.mode == "none":
            return images.clone(), masks.clone(), None if logits is None else logits.clone()
        plan = self.plan(images, masks)
        mixed_logits = None if logits is None else apply_mix(logits, plan)
        return apply_mix(images, plan), apply_mix(masks, plan), mixed_logits


def _check_batch(images: Tensor, masks: Tensor, logits: Tensor | None = None) -> None:
    """Shapes must agree: mixing misaligned tensors would silently corrupt the targets."""
    if masks.dim() != 3:
        raise ValueError(f"masks must be [N, H, W], got {tuple(masks.shape)}")
    n, h, w = masks.shape
    for name, x in (("images", images), ("logits", logits)):
        if x is not None and (x.dim() != 4 or x.shape[0] != n or tuple(x.shape[-2:]) != (h, w)):
            raise ValueError(
                f"{name} must be [N, C, H, W] matching masks {tuple(masks.shape)}, "
                f"got {tuple(x.shape)}"
            )


class MixCollate:
    """A DataLoader ``collate_fn``: ``default_collate`` then :class:`BatchMix`.

    A batch item is ``(image, mask)`` or ``(image, (mask, *per-pixel targets))`` (e.g. cached
    teacher logits and a validity map); every target is mixed with the mask's plan, and the
    result has the same structure (and container types) as ``default_collate``'s. A plain class,
    not a closure, so it pickles into DataLoader worker processes. In workers the RNG is the
    worker's own, which the DataLoader seeds from the main process's RNG when an epoch's
    iterator starts.
    """

    def __init__(self, mix: BatchMix) -> None:
        self.mix = mix

    def __repr__(self) -> str:
        return f"MixCollate({self.mix!r})"

    def __call__(self, batch: list[Any]) -> Any:
        collated = default_collate(batch)
        if self.mix.mode == "none":
            return collated
        images, target = collated
        if isinstance(target, Tensor):
            images, masks, _ = self.mix(images, target)
            return type(collated)([images, masks])
        masks, *others = target
        _check_batch(images, masks, others[0] if others else None)
        plan = self.mix.plan(images, masks)
        mixed = [apply_mix(t, plan) for t in (masks, *others)]
        return type(collated)([apply_mix(images, plan), type(target)(mixed)])
