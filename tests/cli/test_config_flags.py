"""Training flags come from the config dataclasses; the range checks run once per run."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from segcompress.cli import build_parser, main
from segcompress.config import DATASET_KEYS, TrainConfig, config_fields, load_config
from segcompress.data.formats import DataSpec

# Keys of the config file only, each for a reason: set by a flag of its own shape (--loss,
# --model-arg), or tuning a flag would not make clearer than the file.
FILE_ONLY = {
    "channels_last",
    "model.args",
    "augment.hflip",
    "augment.brightness",
    "augment.contrast",
    "augment.saturation",
    "augment.hue",
    "augment.haze",
    "optim.momentum",
    "optim.min_lr_ratio",
    "optim.poly_power",
    "loss.ce",
    "loss.dice",
    "loss.focal",
    "loss.lovasz",
    "loss.focal_gamma",
    "loss.aux",
    "distill.tta_flip",
}


def _subparser(command: str) -> argparse.ArgumentParser:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices[command]


def test_every_config_field_has_a_flag_or_is_file_only():
    dests = {a.dest for a in _subparser("distill")._actions}
    keys = {key for key, _ in config_fields(TrainConfig)}
    assert keys >= FILE_ONLY
    missing = sorted(k for k in keys - FILE_ONLY if k not in dests)
    assert not missing, f"config keys without a flag: {missing}"
    flagged = sorted(k for k in FILE_ONLY if k in dests)
    assert not flagged, f"keys said to be file-only have a flag: {flagged}"


def test_legacy_spellings_set_the_same_keys(tmp_path):
    args = _subparser("train").parse_args(
        ["--root_path", str(tmp_path), "--img_size", "32x48", "--batch_size", "3"]
    )
    assert {k: v for k, v in vars(args).items() if k != "func"} == {
        "data.root": str(tmp_path),
        "data.img_size": (32, 48),
        "batch": 3,
    }


def test_a_flag_out_of_its_range_is_one_usage_line(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["train", "--epochs", "0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.endswith("argument --epochs: expected a positive integer, got 0")


def test_validation_runs_once_from_the_command_to_the_run(tmp_path, monkeypatch):
    import segcompress.config
    import segcompress.engine.run as run

    calls = []
    checks = segcompress.config.validate_config

    def counted(cfg, source="config"):
        calls.append(source)
        checks(cfg, source)

    class Stop(Exception):
        pass

    def stop(*args, **kwargs):
        raise Stop

    monkeypatch.setattr(run, "validate_config", counted)
    monkeypatch.setattr(segcompress.config, "validate_config", counted)
    monkeypatch.setattr(run, "resolve_device", stop)
    config = tmp_path / "run.yaml"
    config.write_text("epochs: 2\n")
    with pytest.raises(Stop):
        main(["train", "--data", str(tmp_path), "--config", str(config)])
    assert calls == [str(config)]


def test_a_file_value_out_of_range_names_the_file(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("augment: {mix_prob: 1.5}\n")
    code = main(["train", "--data", str(tmp_path), "--config", str(config), "--out", "o"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err == (
        f"segcompress: error: {config}: augment.mix_prob must be a probability in [0, 1], got 1.5"
    )


# A run folder's config.yaml as an earlier version wrote it.
OLD_CONFIG = """\
out: runs/lite0
threads: 1
epochs: 24
batch: 8
data:
  root: datasets/idd20k_lite
  format: idd-lite
  level: 3
  void_as_class: false
  classes: null
  images: null
  masks: null
  image_suffix: ''
  mask_suffix: ''
  holdout: splits/holdout.txt
  unlabeled: []
  mask_kind: null
  img_size:
  - 96
  - 128
  train_split: train
  val_split: holdout
  workers: 0
  skip_bad: false
optim:
  grad_clip: 1.0
distill:
  teacher: runs/teacher/last.pt
  kd:
  - dist
"""


def test_an_old_run_config_loads_and_its_data_section_is_the_dataset(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(OLD_CONFIG)
    cfg = load_config(path)
    assert DataSpec is type(cfg.data)
    assert cfg.data.img_size == (96, 128) and cfg.data.val_split == "holdout"
    # The dataset's identity, which prepared caches are named by, is what it was.
    assert cfg.data.to_dict() == {
        "root": "datasets/idd20k_lite",
        "format": "idd-lite",
        "level": 3,
        "void_as_class": False,
        "classes": None,
        "images": None,
        "masks": None,
        "image_suffix": "",
        "mask_suffix": "",
        "holdout": "splits/holdout.txt",
    }
    assert set(cfg.data.to_dict()) | {"mask_kind"} == set(DATASET_KEYS)
    assert dataclasses.replace(cfg.data, mask_kind="rgb").to_dict()["mask_kind"] == "rgb"
