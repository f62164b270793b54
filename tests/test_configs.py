"""Every shipped config in configs/ loads, validates and builds its model."""

from __future__ import annotations

from pathlib import Path

import pytest

from segcompress import create_model
from segcompress.config import load_config, validate_config

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_config_loads_and_builds_its_model(path: Path) -> None:
    cfg = load_config(path)
    if cfg.distill.precompute_teacher:
        cfg.distill.teacher = "teacher.pt"  # a distillation config's teacher comes from --teacher
    validate_config(cfg, str(path))
    # The ImageNet weights are a training-time choice: the model builds without them.
    model = create_model(cfg.model.name, num_classes=7, **cfg.model.args)
    assert model.model_name == cfg.model.name


def test_the_pretrained_configs_ask_for_imagenet() -> None:
    pretrained = {p.name for p in CONFIGS if load_config(p).model.pretrained}
    assert pretrained == {"idd_teacher_lite2.yaml", "idd_student_lite_kd.yaml"}
