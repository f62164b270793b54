"""The command line as a user meets it: help everywhere, versions, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys

import pytest

from segcompress import __version__
from segcompress.cli import build_parser, main


def all_command_paths() -> list[list[str]]:
    """Every subcommand path, e.g. ["data", "check"], found by walking the parser."""
    paths: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    paths.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return paths


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"segcompress {__version__}"


def test_python_dash_m_and_console_script_agree():
    out = subprocess.run(
        [sys.executable, "-m", "segcompress", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and __version__ in out.stdout


def test_help_on_every_subcommand(capsys):
    paths = all_command_paths()
    assert ["data", "check"] in paths and ["data", "synth"] in paths
    for path in paths:
        with pytest.raises(SystemExit) as exit_:
            main([*path, "--help"])
        assert exit_.value.code == 0, path
        assert "usage: segcompress " + " ".join(path) in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage:" in capsys.readouterr().out


def test_missing_root_is_one_line_exit_1(tmp_path, capsys):
    code = main(["data", "check", str(tmp_path / "nope")])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "nope: no such folder" in err and "Traceback" not in err


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["--debug", "data", "check", str(tmp_path / "nope")]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["data", "check", str(tmp_path), "--format", "coco"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit) as exit_:
        main(["data", "prepare", str(tmp_path), "--img-size", "0x5"])
    assert exit_.value.code == 2
    assert "--img-size" in capsys.readouterr().err
    code = main(["data", "check", "--format", "folder", "--images", str(tmp_path)])
    assert code == 2
    assert "--format folder needs --masks, --classes" in capsys.readouterr().err


def test_synth_then_check_prepare_and_stats_through_the_idd_loader(tmp_path, capsys):
    out = tmp_path / "synth"
    synth = ["data", "synth", str(out), "--n-train", "4", "--n-val", "2", "--size", "64x128"]
    assert main([*synth, "--n-unlabeled", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["n_unlabeled"] == 3
    assert len(list((out / "unlabeled" / "images").glob("*.jpg"))) == 3
    # the frames without masks are no split and no problem for check: they are for --unlabeled
    assert main(["data", "check", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "idd-kaggle"
    assert {s: v["pairs"] for s, v in report["splits"].items()} == {"train": 4, "val": 2}
    assert sum(c["pixels"] for c in report["splits"]["train"]["classes"]) > 0
    cache = tmp_path / "cache"
    assert (
        main(["data", "prepare", str(out), "--img-size", "32x64", "--cache-dir", str(cache)]) == 0
    )
    assert "train: 4 pairs at 32x64" in capsys.readouterr().out
    assert main(["data", "stats", str(out), "--json", "--cache-dir", str(cache)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert len(stats["classes"]) == 26 and stats["images"] == 4
    assert {"weight_median-freq", "weight_inverse-log"} <= set(stats["classes"][0])


@pytest.mark.parametrize("command", ["train", "distill"])
def test_training_help_names_values_readably(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    # Flags whose dest is a dotted config key (optim.lr) show a plain name, never OPTIM.LR.
    assert not re.findall(r"\b[A-Z_]+\.[A-Z_]+\b", text)
    assert "--lr LR" in text and "--img-size SIZE" in text and "--data ROOT" in text


def test_training_flags_not_typed_leave_the_yaml_alone(tmp_path):
    """defaults < --config YAML < flags typed, dataset flags included."""
    from segcompress.cli.train import _resolve_config

    config = tmp_path / "run.yaml"
    config.write_text(
        "epochs: 3\noptim: {lr: 0.05}\n"
        "data: {root: yaml_root, level: 2, image_suffix: _img, void_as_class: true}\n"
    )
    parser = build_parser()
    args = parser.parse_args(["train", "--config", str(config)])
    assert set(vars(args)) == {"command", "debug", "func", "config"}
    cfg, _ = _resolve_config(args, "train")
    assert (cfg.epochs, cfg.optim.lr, cfg.data.root) == (3, 0.05, "yaml_root")
    assert (cfg.data.level, cfg.data.image_suffix, cfg.data.void_as_class) == (2, "_img", True)
    assert cfg.batch == 8 and cfg.data.mask_suffix == ""  # the defaults
    typed = ["train", "--config", str(config), "--level", "1", "--lr", "0.2", "--data", "d"]
    cfg, _ = _resolve_config(parser.parse_args(typed), "train")
    assert (cfg.data.level, cfg.optim.lr, cfg.data.root, cfg.epochs) == (1, 0.2, "d", 3)
