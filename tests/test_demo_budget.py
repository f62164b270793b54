"""The demo's budgets and how they become training configs, without training anything."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from segcompress.config import DistillConfig, validate_config
from segcompress.demo import DEFAULT_BUDGET, QUICK_BUDGET, RUNS, STAGES, Demo, DemoBudget
from segcompress.errors import UsageError

KL = {"kd": ["kl"], "temperature": 4.0, "lambda_kd": 1.0}
DIST = {"kd": ["dist"], "precompute_teacher": True}


def test_both_budgets_distil_with_dist_on_cached_targets_and_unlabelled_frames() -> None:
    assert DEFAULT_BUDGET.distill == DIST and QUICK_BUDGET.distill == DIST
    assert DEFAULT_BUDGET.augment == QUICK_BUDGET.augment == {"scale": [1.0, 1.0]}
    assert DEFAULT_BUDGET.loss == QUICK_BUDGET.loss == {"class_weights": "median-freq"}
    assert DEFAULT_BUDGET.n_unlabeled > 0 and QUICK_BUDGET.n_unlabeled > 0
    assert DEFAULT_BUDGET.n_val >= 96  # the smallest val split for the demo's claims
    assert STAGES == (
        "data",
        "teacher",
        "student-scratch",
        "student-kd",
        "evaluate",
        "export",
        "quantize",
        "benchmark",
        "edge-video",
        "report",
    )


def test_the_recipe_goes_into_the_distilled_students_config_only(tmp_path: Path) -> None:
    recipe = {"kd": ["cwd"], "lambda_cwd": 2.0, "precompute_teacher": True}
    old = Demo(tmp_path, QUICK_BUDGET, progress=False)
    new = Demo(tmp_path, replace(QUICK_BUDGET, distill=recipe), progress=False)
    kd = new.train_config("student-kd")
    validate_config(kd)
    assert kd.distill == DistillConfig(
        teacher=str(tmp_path / "teacher" / "best.pt"),
        kd=["cwd"],
        lambda_cwd=2.0,
        precompute_teacher=True,
    )
    assert new.train_config("student-scratch").distill == DistillConfig()
    changed = [
        a.name for a, b in zip(old.stages, new.stages, strict=True) if a.settings() != b.settings()
    ]
    assert changed == ["student-kd", "report"]  # the report shows the KD terms


def test_unlabelled_frames_reach_the_distilled_student_only(tmp_path: Path) -> None:
    demo = Demo(tmp_path, QUICK_BUDGET, progress=False)
    assert demo.train_config("student-kd").data.unlabeled == [
        str(tmp_path / "data" / "unlabeled" / "images")
    ]
    for stage in ("teacher", "student-scratch"):
        assert demo.train_config(stage).data.unlabeled == []
    for stage in RUNS:  # every model learns with the budget's loss
        assert demo.train_config(stage).loss.class_weights == "median-freq"
    none = Demo(tmp_path, replace(QUICK_BUDGET, n_unlabeled=0), progress=False)
    assert none.train_config("student-kd").data.unlabeled == []


def test_augment_overrides_reach_every_training(tmp_path: Path) -> None:
    demo = Demo(
        tmp_path, replace(QUICK_BUDGET, augment={"scale": [1, 1], "mix": "cutmix"}), progress=False
    )
    for stage in RUNS:
        augment = demo.train_config(stage).augment
        assert augment.scale == (1.0, 1.0) and augment.mix == "cutmix"


def test_an_unknown_recipe_key_is_refused(tmp_path: Path) -> None:
    demo = Demo(tmp_path, replace(QUICK_BUDGET, distill={**KL, "temprature": 2.0}), progress=False)
    with pytest.raises(UsageError, match="demo budget distill: unknown key temprature"):
        demo.train_config("student-kd")


def test_the_teacher_validates_every_teacher_eval_every_epochs_and_the_students_every_epoch(
    tmp_path: Path,
) -> None:
    demo = Demo(tmp_path, replace(QUICK_BUDGET, teacher_eval_every=3), progress=False)
    assert demo.train_config("teacher").eval_every == 3
    for stage in ("student-scratch", "student-kd"):
        assert demo.train_config(stage).eval_every == 1


@pytest.mark.parametrize("budget", [DEFAULT_BUDGET, QUICK_BUDGET])
def test_the_teacher_and_both_students_start_from_imagenet(
    budget: DemoBudget, tmp_path: Path
) -> None:
    demo = Demo(tmp_path, budget, progress=False)
    models = {stage: demo.train_config(stage).model for stage in RUNS}
    assert {stage: (m.name, m.args, m.pretrained) for stage, m in models.items()} == {
        "teacher": ("teacher", {"encoder": "efficientnet_lite2"}, True),
        "student-scratch": ("student_lite", {}, True),
        "student-kd": ("student_lite", {}, True),
    }
