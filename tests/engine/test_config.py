"""Run config: strict YAML, dotted overrides, saved and read back unchanged."""

from __future__ import annotations

import pytest

from segcompress.config import (
    TrainConfig,
    apply_overrides,
    config_from_dict,
    load_config,
    save_config,
    validate_config,
)
from segcompress.errors import UsageError


def test_yaml_then_overrides_take_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 5\noptim: {lr: 0.01}\ndata: {img_size: 64}\nmodel: {args: {a: 1}}\n")
    cfg = load_config(path)
    assert (cfg.epochs, cfg.optim.lr, cfg.data.img_size) == (5, 0.01, (64, 64))
    assert cfg.optim.schedule == "cosine"  # untouched keys keep their defaults
    cfg = apply_overrides(cfg, {"optim.lr": 0.5, "data.img_size": [32, 48]}, "cli")
    assert (cfg.optim.lr, cfg.data.img_size, cfg.epochs) == (0.5, (32, 48), 5)
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(tmp_path / "saved.yaml") == cfg


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("optim: {lrr: 1}\n", "unknown key optim.lrr"),
        ("epochs: ten\n", "epochs must be int"),
        ("deterministic: 1\n", "deterministic must be bool"),
        ("data: {img_size: [1, 2, 3]}\n", "data.img_size must be"),
        ("- 1\n", "must be a mapping"),
    ],
)
def test_bad_yaml_names_the_key_and_the_file(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_unknown_key_with_a_newline_stays_on_one_line():
    """Found by the config fuzz test: a key such as "\\n" must not split the error message."""
    with pytest.raises(UsageError) as info:
        config_from_dict({"data": {"\n": None, 3: 1}}, "fuzz.yaml")
    assert str(info.value).startswith("fuzz.yaml: unknown key 'data.\\n'")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epochs", 0),
        ("batch", -1),
        ("optim.lr", 0.0),
        ("amp", "fp8"),
        ("distill.kd", ["x"]),
        ("augment.scale", [2.0, 0.5]),
        ("augment.scale", [0.0, 1.0]),
        ("augment.hflip", 1.5),
        ("augment.brightness", -0.1),
        ("augment.hue", 0.7),
    ],
)
def test_invalid_values_are_usage_errors(key, value):
    cfg = apply_overrides(TrainConfig(), {key: value}, "cli")
    with pytest.raises(UsageError, match=key):
        validate_config(cfg)


@pytest.mark.parametrize("name", ["idd_teacher.yaml", "idd_student_kd.yaml"])
def test_presets_load_and_validate(name):
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "configs" / name
    cfg = load_config(path)
    if name == "idd_student_kd.yaml":  # used with --teacher, as its first lines say
        cfg.distill.teacher = "runs/teacher/best.pt"
        # the recipe chosen on the IDD-Lite holdout: DIST on cached targets that follow scale/crop
        assert cfg.distill.kd == ["dist"] and cfg.distill.precompute_teacher
        assert cfg.augment.scale == (0.5, 2.0)
    validate_config(cfg, str(path))
    assert cfg.data.img_size == (128, 128)


def test_augment_section_reaches_the_training_set(tmp_path):
    """``augment`` in a YAML file is what the training Dataset's transform is built from."""
    from segcompress.data import load_split
    from segcompress.data.synthetic import synthesize
    from segcompress.engine.run import data_spec

    path = tmp_path / "aug.yaml"
    path.write_text(
        "augment: {scale: [1, 1], hflip: 0, brightness: 0, contrast: 0, saturation: 0}\n"
    )
    cfg = load_config(path)
    validate_config(cfg)
    assert cfg.augment.scale == (1.0, 1.0) and cfg.augment.hflip == 0.0
    synthesize(tmp_path / "data", n_train=2, n_val=1, size=(32, 64), seed=0)
    cfg.data.root = str(tmp_path / "data")
    spec = data_spec(cfg)
    plain = load_split(spec, "train", img_size=(32, 64), train=False, use_cache=False)
    augmented = load_split(
        spec, "train", img_size=(32, 64), train=True, augment=cfg.augment, use_cache=False
    )
    for i in range(2):  # every augmentation switched off: training samples are the plain ones
        for got, want in zip(augmented[i], plain[i], strict=True):
            assert (got == want).all()
