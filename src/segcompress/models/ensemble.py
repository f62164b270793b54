"""Several trained teachers as one: their logits averaged.

An ensemble is the cheapest stronger teacher when targets are cached: each member runs once
per training image, not at every step. It has no named features, so feature terms (``feat``,
``at``) need a single teacher.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TeacherEnsemble"]


class TeacherEnsemble(nn.Module):
    """``forward`` returns the mean of the members' logits (a dict with ``return_features``)."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two members")
        self.members = nn.ModuleList(members)
        self.feature_info: list[dict] = []

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        outputs = [member(x) for member in self.members]
        logits = torch.stack([o["logits"] if isinstance(o, dict) else o for o in outputs]).mean(0)
        return {"logits": logits} if return_features else logits
