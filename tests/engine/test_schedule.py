"""Learning-rate schedule: warm-up, cosine and poly decay, exact state round trip."""

from __future__ import annotations

import math

import pytest
import torch

from segcompress.engine.schedule import LRSchedule, lr_factor


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


def test_schedule_sets_every_group_and_resumes_exactly():
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{"params": params[:1], "lr": 1.0}, {"params": params[1:], "lr": 0.1}])
    sched = LRSchedule(opt, total_steps=20, warmup_steps=0, kind="cosine")
    for _ in range(7):
        sched.step()
    expected = 0.5 * (1 + math.cos(math.pi * 7 / 20))
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([expected, 0.1 * expected])
    opt2 = torch.optim.SGD([{"params": params[:1], "lr": 5.0}, {"params": params[1:], "lr": 5.0}])
    other = LRSchedule(opt2, total_steps=20, warmup_steps=0, kind="cosine")
    other.load_state_dict(sched.state_dict())
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
