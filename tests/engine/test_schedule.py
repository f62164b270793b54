"""Learning-rate schedule: warm-up, cosine and poly decay, exact state round trip."""

from __future__ import annotations

import io
import math
import warnings

import pytest
import torch

from segcompress.engine.schedule import LRSchedule, lr_factor
from segcompress.errors import DataError


def test_warmup_is_linear_then_cosine_reaches_the_floor():
    total, warm = 100, 10
    assert lr_factor(0, total, warm, "cosine", 0.0, 0.9) == pytest.approx(0.1)
    assert lr_factor(9, total, warm, "cosine", 0.0, 0.9) == pytest.approx(1.0)
    assert lr_factor(10, total, warm, "cosine", 0.0, 0.9) == pytest.approx(1.0)
    assert lr_factor(55, total, warm, "cosine", 0.0, 0.9) == pytest.approx(0.5)
    assert lr_factor(100, total, warm, "cosine", 0.01, 0.9) == pytest.approx(0.01)


def test_poly_and_constant():
    expected = 0.5**0.9
    assert lr_factor(50, 100, 0, "poly", 0.0, 0.9) == pytest.approx(expected)
    assert lr_factor(50, 100, 0, "constant", 0.0, 0.9) == 1.0
    with pytest.raises(ValueError, match="unknown schedule"):
        lr_factor(50, 100, 0, "step", 0.0, 0.9)


def _two_groups(lr: float = 1.0, lr2: float = 0.1) -> torch.optim.Optimizer:
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    return torch.optim.SGD([{"params": params[:1], "lr": lr}, {"params": params[1:], "lr": lr2}])


def _schedule(opt: torch.optim.Optimizer) -> LRSchedule:
    return LRSchedule(opt, total_steps=20, warmup_steps=3, kind="cosine", min_ratio=0.05)


def _rates(opt: torch.optim.Optimizer) -> list[float]:
    return [g["lr"] for g in opt.param_groups]


def _run(sched: LRSchedule, steps: int) -> list[list[float]]:
    """The rates of the next ``steps`` steps."""
    seen = []
    for _ in range(steps):
        sched.optimizer.step()
        sched.step()
        seen.append(_rates(sched.optimizer))
    return seen


def test_schedule_sets_every_group_and_resumes_exactly():
    opt = _two_groups()
    sched = LRSchedule(opt, total_steps=20, warmup_steps=0, kind="cosine")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no optimizer.step(), as when GradScaler skips one
        for _ in range(7):
            sched.step()
    expected = 0.5 * (1 + math.cos(math.pi * 7 / 20))
    assert _rates(opt) == pytest.approx([expected, 0.1 * expected])
    assert sched.lr == opt.param_groups[0]["lr"]
    opt2 = _two_groups(5.0, 5.0)
    other = LRSchedule(opt2, total_steps=20, warmup_steps=0, kind="cosine")
    other.load_state_dict(sched.state_dict())
    assert _rates(opt2) == _rates(opt)


def test_state_survives_a_weights_only_checkpoint_and_continues_bit_for_bit():
    reference = _schedule(_two_groups())
    _run(reference, 5)
    buffer = io.BytesIO()
    torch.save(reference.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)  # plain types only: no pickled callables
    resumed = _schedule(_two_groups(5.0, 5.0))
    resumed.load_state_dict(state)
    assert _rates(resumed.optimizer) == _rates(reference.optimizer)
    assert _run(resumed, 10) == _run(reference, 10)


def test_old_state_format_still_resumes_exactly():
    reference = _schedule(_two_groups())
    _run(reference, 6)
    old = {"step": 6, "base_lrs": [1.0, 0.1]}  # what checkpoints held before LambdaLR
    resumed = _schedule(_two_groups(5.0, 5.0))
    resumed.load_state_dict(old)
    assert _rates(resumed.optimizer) == _rates(reference.optimizer)
    assert resumed.state_dict() == reference.state_dict()
    assert _run(resumed, 10) == _run(reference, 10)


def test_unknown_state_is_a_one_line_error():
    sched = _schedule(_two_groups())
    with pytest.raises(DataError, match="scheduler state") as info:
        sched.load_state_dict({"epoch": 3})
    assert "\n" not in str(info.value)
