"""Cost profile library and the ``segcompress models`` command."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from segcompress.cli import main
from segcompress.models.profile import (
    PROFILE_KEYS,
    count_flops,
    count_params,
    measure_latency,
    model_size_mb,
    profile_models,
)


def test_counts_match_hand_computation():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 1))
    assert count_params(model) == (3 * 8 * 9 + 8) + (8 * 2 + 2)
    # 2 x MAC per output element, bias and ReLU not counted.
    assert count_flops(model, (10, 12)) == 2 * 10 * 12 * (8 * 3 * 9 + 2 * 8)
    model.register_buffer("stat", torch.zeros(10))
    assert model_size_mb(model) == pytest.approx((count_params(model) + 10) * 4 / 1e6)
    assert measure_latency(model, (10, 12), runs=3, warmup=1) > 0


def test_profile_rows_have_the_documented_keys():
    (row,) = profile_models(["student_xs"], (64, 64), runs=1, warmup=0)
    assert tuple(row) == PROFILE_KEYS
    assert row["name"] == "student_xs" and row["params"] > 0 and row["flops"] > 0


def test_cli_json(capsys):
    assert (
        main(["models", "--models", "student_xs", "--img-size", "64", "--runs", "1", "--json"]) == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert [set(r) for r in rows] == [{"name", "params", "flops", "size_mb", "latency_ms"}]


def test_cli_table(capsys):
    assert (
        main(["models", "--models", "student_xs,student_s", "--img-size", "64x96", "--runs", "1"])
        == 0
    )
    out = capsys.readouterr().out
    assert "FLOPs = 2 x MAC, conv/matmul only" in out
    assert "student_xs" in out and "student_s" in out


def test_cli_unknown_model(capsys):
    assert main(["models", "--models", "student_s,nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown model(s) nope" in err and "teacher" in err
