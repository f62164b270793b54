"""Per-step learning-rate schedule: linear warm-up, then cosine or polynomial decay.

The rate is a pure function of the step number, so the schedule's whole state is one integer and
a resumed run lands on exactly the rate an uninterrupted one would have used.
"""

from __future__ import annotations

import math
from typing import Any

import torch

__all__ = ["LRSchedule", "lr_factor"]


def lr_factor(
    step: int,
    total_steps: int,
    warmup_steps: int,
    kind: str,
    min_ratio: float,
    power: float,
) -> float:
    """Multiplier of the base rate for optimizer step ``step`` (0-based)."""
    if step < warmup_steps:
        # (step + 1) so the very first step already learns something.
        return (step + 1) / warmup_steps
    if kind == "constant":
        return 1.0
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    if kind == "cosine":
        decay = 0.5 * (1.0 + math.cos(math.pi * progress))
    elif kind == "poly":
        decay = (1.0 - progress) ** power
    else:
        raise ValueError(f"unknown schedule {kind!r}; use cosine, poly or constant")
    return min_ratio + (1.0 - min_ratio) * decay


class LRSchedule:
    """Sets every parameter group's rate to its base rate times ``lr_factor`` before each step."""

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        *,
        total_steps: int,
        warmup_steps: int,
        kind: str = "cosine",
        min_ratio: float = 0.0,
        power: float = 0.9,
    ) -> None:
        self.optimizer = optimizer
        self.base_lrs = [group["lr"] for group in optimizer.param_groups]
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.kind = kind
        self.min_ratio = min_ratio
        self.power = power
        self.step_num = 0
        self._apply()

    def _apply(self) -> None:
        factor = lr_factor(
            self.step_num,
            self.total_steps,
            self.warmup_steps,
            self.kind,
            self.min_ratio,
            self.power,
        )
        for group, base in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = base * factor

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self) -> None:
        """Advance to the next optimizer step (call after ``optimizer.step()``)."""
        self.step_num += 1
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step_num, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step_num = int(state["step"])
        self.base_lrs = [float(v) for v in state["base_lrs"]]
        self._apply()
