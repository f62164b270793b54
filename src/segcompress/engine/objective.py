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
        self.deep_supervision = bool(getattr(model, "model_args", {}).get("deep_supervision"))

    def forward(self, images: Tensor, masks: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if not self.deep_supervision:
            return self.criterion.forward_with_parts(self.model(images), masks)
        outputs = self.model(images, return_features=True)
        total, parts = self.criterion.forward_with_parts(outputs["logits"], masks)
        for name, value in outputs.items():
            if name.startswith("aux"):
                aux = self.criterion(value, masks)
                parts[name] = aux.detach()
                total = total + self.aux_weight * aux
        return total, parts


class DistillObjective(nn.Module):
    """Student task loss plus distillation terms against a frozen teacher run without autograd."""

    def __init__(self, model: nn.Module, teacher: nn.Module, loss: DistillationLoss) -> None:
        super().__init__()
        self.model = model
        self.criterion = loss
        # Stored outside nn.Module's registry on purpose (see the module docstring).
        object.__setattr__(self, "teacher", freeze_teacher(teacher))

    def _apply(self, fn: Any, recurse: bool = True) -> DistillObjective:
        # .to(device) / .cuda() move the unregistered teacher too.
        self.teacher._apply(fn, recurse)
        return super()._apply(fn, recurse)

    def forward(
        self, images: Tensor, target: Tensor | tuple[Tensor, Tensor]
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """``target`` is the masks, or (masks, the teacher's precomputed logits for ``images``)."""
        student = self.model(images, return_features=True)
        if isinstance(target, (tuple, list)):
            masks, logits = target
            teacher: dict[str, Tensor] = {"logits": logits.float()}
        else:
            masks = target
            with torch.no_grad():
                teacher = self.teacher(images, return_features=True)
        total, parts = self.criterion(student, teacher, masks)
        parts.pop("total", None)
        return total, parts
