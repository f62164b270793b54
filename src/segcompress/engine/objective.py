"""What one training step minimises, as a module: the model plus its loss (and teacher, for KD).

Wrapping model and loss in one module lets DDP wrap the whole forward, so trainable loss parts
(the feature adapters of feature distillation) are synchronised and optimised like the model's
own weights. The teacher is deliberately *not* a registered sub-module: it is neither trained,
nor saved in the student's checkpoint, nor switched to train mode by ``objective.train()``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from segcompress.losses import DistillationLoss, SegmentationLoss, freeze_teacher

__all__ = ["DistillObjective", "SegObjective"]


def _aux_losses(
    outputs: dict[str, Tensor], masks: Tensor, criterion: nn.Module, weight: float
) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted task loss of every auxiliary (deep-supervision) head in ``outputs``."""
    total = masks.new_zeros((), dtype=torch.float32)
    parts: dict[str, Tensor] = {}
    for name, value in outputs.items():
        if name.startswith("aux"):
            aux = criterion(value, masks)
            parts[name] = aux.detach()
            total = total + weight * aux
    return total, parts


def _deep_supervision(model: nn.Module) -> bool:
    return bool(getattr(model, "model_args", {}).get("deep_supervision"))


class SegObjective(nn.Module):
    """Segmentation loss of the model's logits (plus auxiliary heads when the model has them).

    Args:
        model: the model being trained.
        loss: the weighted segmentation loss.
        aux_weight: weight of each auxiliary (deep-supervision) head's loss.
    """

    def __init__(self, model: nn.Module, loss: SegmentationLoss, aux_weight: float = 0.4) -> None:
        super().__init__()
        self.model = model
        self.criterion = loss
        self.aux_weight = aux_weight
        self.deep_supervision = _deep_supervision(model)

    def forward(self, images: Tensor, masks: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if not self.deep_supervision:
            return self.criterion.forward_with_parts(self.model(images), masks)
        outputs = self.model(images, return_features=True)
        total, parts = self.criterion.forward_with_parts(outputs["logits"], masks)
        aux, aux_parts = _aux_losses(outputs, masks, self.criterion, self.aux_weight)
        return total + aux, {**parts, **aux_parts}


class DistillObjective(nn.Module):
    """Student task loss plus distillation terms against a frozen teacher run without autograd.

    A student's deep-supervision heads are trained on the labels as in :class:`SegObjective`
    (an output that reaches no loss would also break DDP's gradient reduction). The teacher
    runs only when a distillation term needs it, and not at all when its logits come cached.
    """

    def __init__(
        self,
        model: nn.Module,
        teacher: nn.Module,
        loss: DistillationLoss,
        aux_weight: float = 0.4,
    ) -> None:
        super().__init__()
        self.model = model
        self.criterion = loss
        self.aux_weight = aux_weight
        self.deep_supervision = _deep_supervision(model)
        # Stored outside nn.Module's registry on purpose (see the module docstring).
        object.__setattr__(self, "teacher", freeze_teacher(teacher))

    def _apply(self, fn: Any, recurse: bool = True) -> DistillObjective:
        # .to(device) / .cuda() move the unregistered teacher too.
        self.teacher._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def forward(
        self, images: Tensor, target: Tensor | tuple[Tensor, Tensor, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``target`` is the masks, or (masks, the teacher's cached logits for ``images``, the
        pixels the distillation terms learn from)."""
        student = self.model(images, return_features=True)
        valid = None
        if isinstance(target, (tuple, list)):
            masks, logits, valid = target
            teacher: dict[str, Tensor] = {"logits": logits.float()}
        else:
            masks = target
            teacher = {}
            if self.criterion.uses_teacher:
                with torch.no_grad():
                    teacher = self.teacher(images, return_features=True)
        total, parts = self.criterion(student, teacher, masks, kd_valid=valid)
        parts.pop("total", None)
        if self.deep_supervision:
            task = self.criterion.task_loss
            aux, aux_parts = _aux_losses(student, masks, task, self.aux_weight)
            total = total + aux
            parts.update(aux_parts)
        return total, parts
