"""Per-step learning-rate schedule: linear warm-up, then cosine or polynomial decay.

The rate is a pure function of the step number (``lr_factor``), applied by torch's ``LambdaLR``,
so the schedule's state is a step count and the base rates, and a resumed run lands on exactly the
rate an uninterrupted one would have used.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from segcompress.config import TrainConfig
from segcompress.errors import DataError

__all__ = ["LRSchedule", "build_optimizer", "lr_factor"]


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
    """Sets every parameter group's rate to its base rate times ``lr_factor``, per step.

    Wraps ``LambdaLR`` rather than subclassing it: its constructor calls ``step()`` itself, which
    would count as a training step for code that hooks ``LRSchedule.step`` to count steps (the
    kill tests' harness does). The factor is a plain function, so ``LambdaLR`` stores ``None`` for
    it and ``state_dict()`` holds only ints, floats, bools and lists (checkpoints stay readable
    with ``torch.load(weights_only=True)``); the schedule's shape comes from the config.
    """

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
        def factor(step: int) -> float:
            return lr_factor(step, total_steps, warmup_steps, kind, min_ratio, power)

        self.optimizer = optimizer
        self._factor = factor
        self._scheduler = LambdaLR(optimizer, factor)

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def step(self) -> None:
        """Advance to the next optimizer step (call after ``optimizer.step()``)."""
        with warnings.catch_warnings():
            # GradScaler skips optimizer.step() when fp16 gradients overflow (often on the first
            # step); LambdaLR then warns of a wrong call order, which this is not.
            warnings.filterwarnings("ignore", "Detected call of `lr_scheduler.step", UserWarning)
            self._scheduler.step()

    def state_dict(self) -> dict[str, Any]:
        return self._scheduler.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the step and base rates, and set the optimizer's rates to match them."""
        if "last_epoch" not in state:
            state = self._from_old_format(state)
        self._scheduler.load_state_dict(state)
        # LambdaLR restores its own fields only; the optimizer may hold other rates.
        rates = self._scheduler.get_last_lr()
        for group, rate in zip(self.optimizer.param_groups, rates, strict=True):
            group["lr"] = rate

    def _from_old_format(self, state: dict[str, Any]) -> dict[str, Any]:
        """LambdaLR's state for ``{"step", "base_lrs"}``, what checkpoints held before LambdaLR."""
        try:
            step = int(state["step"])
            base_lrs = [float(v) for v in state["base_lrs"]]
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"checkpoint's scheduler state (keys {sorted(state)}) is not one segcompress "
                "writes; resume from a segcompress checkpoint or start the run again"
            ) from None
        factor = self._factor(step)
        return {
            **self._scheduler.state_dict(),
            "base_lrs": base_lrs,
            "last_epoch": step,
            "_step_count": step + 1,  # LambdaLR's count: its own first step plus one per step
            "_last_lr": [base * factor for base in base_lrs],
        }


def build_optimizer(
    params: list[nn.Parameter], cfg: TrainConfig, encoder: frozenset[int] = frozenset()
) -> torch.optim.Optimizer:
    """AdamW (or SGD with Nesterov momentum); no weight decay on biases and norm weights.

    ``encoder``: ids of pretrained encoder parameters, which learn at ``optim.encoder_lr_mult``
    times the rate (fine-tuning moves ImageNet features less than a new decoder)."""
    groups = []
    for part, lr in ((False, cfg.optim.lr), (True, cfg.optim.lr * cfg.optim.encoder_lr_mult)):
        mine = [p for p in params if (id(p) in encoder) == part]
        if part and not mine:
            continue  # models without a pretrained encoder keep their two groups
        groups += [
            {"params": [p for p in mine if p.ndim > 1], "weight_decay": cfg.optim.weight_decay},
            {"params": [p for p in mine if p.ndim <= 1], "weight_decay": 0.0},
        ]
        for group in groups[-2:]:
            group["lr"] = lr
    if cfg.optim.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.optim.lr, momentum=cfg.optim.momentum, nesterov=True)
    return torch.optim.AdamW(groups, lr=cfg.optim.lr)
