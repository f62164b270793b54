"""Folder datasets on the command line: one flat split, index masks with colours, and
``evaluate`` reading its dataset from a config file or the checkpoint's run folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from segcompress.cli import main
from segcompress.config import DataConfig, TrainConfig, save_config
from segcompress.data.classes import ClassTable
from segcompress.deploy.metadata import ModelInfo, inference_checkpoint
from segcompress.engine.checkpoint import save_checkpoint
from segcompress.models.registry import create_model

from ..data.builders import image_for, random_ids, save

COLOURS = [[128, 64, 128], [0, 0, 142], [70, 130, 180]]
KEYS = ["f1", "f2", "f3"]


def run(*argv: object) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as exc:  # argparse usage errors
        return int(exc.code)


@pytest.fixture
def flat(tmp_path: Path) -> dict[str, Path]:
    """A folder dataset without split sub-folders: 8-bit index masks, a table with colours
    (for pictures), and a 3-class checkpoint in a run folder whose config.yaml names it."""
    classes = tmp_path / "classes.yaml"
    table = {
        "classes": [
            {"id": i, "name": n, "color": c}
            for i, (n, c) in enumerate(zip(("road", "car", "sky"), COLOURS, strict=True))
        ]
    }
    classes.write_text(yaml.safe_dump(table))
    rng = np.random.default_rng(0)
    for key in KEYS:
        ids = random_ids(rng, (32, 48), 3)
        save(tmp_path / "img" / f"{key}.png", image_for(ids))
        save(tmp_path / "ann" / f"{key}.png", ids)  # mode L: class ids
    run_dir = tmp_path / "runs" / "x"
    run_dir.mkdir(parents=True)
    info = ModelInfo(classes=ClassTable.from_dict(table), input_size=(32, 32))
    model = create_model("student_xs", num_classes=3).eval()
    save_checkpoint(inference_checkpoint(model, info), run_dir / "best.pt")
    data = DataConfig(
        format="folder",
        images=str(tmp_path / "img"),
        masks=str(tmp_path / "ann"),
        classes=str(classes),
    )
    save_config(TrainConfig(out=str(run_dir), data=data), run_dir / "config.yaml")
    return {
        "root": tmp_path,
        "classes": classes,
        "ckpt": run_dir / "best.pt",
        "run_config": run_dir / "config.yaml",
    }


def folder_flags(d: dict[str, Path]) -> list[object]:
    root = d["root"]
    return [
        "--format",
        "folder",
        "--images",
        root / "img",
        "--masks",
        root / "ann",
        "--classes",
        d["classes"],
    ]


def _error(capsys) -> str:
    """The error line (notes may come before it); never a traceback."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("segcompress: error: "), err
    return last


# -- one flat split ------------------------------------------------------------------------------
def test_evaluate_a_flat_folder_dataset_uses_its_one_split(flat, tmp_path, capsys):
    js = tmp_path / "s.json"
    assert run("evaluate", flat["ckpt"], *folder_flags(flat), "--json", js) == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.err.splitlines() if "one split" in line]
    assert notes == [
        "--split val: this dataset has one split, 'all' (--images and --masks have no split "
        "sub-folders); evaluating it"
    ]
    assert f"on {len(KEYS)} 'all' images" in captured.out
    assert len(json.loads(js.read_text())["classes"]) == 3


def test_evaluate_saved_predictions_on_a_flat_folder_dataset(flat, tmp_path, capsys):
    preds = tmp_path / "preds"
    for key in KEYS:  # every pixel predicted as class 0
        save(preds / f"{key}.png", np.zeros((32, 48), np.uint8))
    js = tmp_path / "p.json"
    assert run("evaluate", "--predictions", preds, *folder_flags(flat), "--json", js) == 0
    assert "evaluating it" in capsys.readouterr().err
    assert json.loads(js.read_text())["classes"][0]["recall"] == 1.0


def test_data_stats_and_check_on_a_flat_folder_dataset(flat, capsys):
    assert run("data", "stats", *folder_flags(flat), "--json") == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["images"] == len(KEYS)  # stdout stays pure JSON
    assert "--split train: this dataset has one split, 'all'" in captured.err
    assert run("data", "check", *folder_flags(flat), "--split", "val", "--json") == 0
    captured = capsys.readouterr()
    assert list(json.loads(captured.out)["splits"]) == ["all"]
    assert "checking it" in captured.err


def test_training_on_a_flat_folder_dataset_says_how_to_make_splits(flat, tmp_path, capsys):
    small = ["--model", "student_xs", "--img-size", "32", "--epochs", "1", "--no-progress"]
    assert run("train", *folder_flags(flat), *small, "--out", tmp_path / "r") == 1
    err = _error(capsys)
    assert "no split 'train' (found: all" in err
    assert "sub-folders (e.g. train/, val/)" in err and "segcompress data holdout" in err


# -- index masks with a palette ------------------------------------------------------------------
def test_index_masks_decode_although_the_table_has_colours(flat, capsys):
    assert run("data", "check", *folder_flags(flat), "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["all"]["pairs"] == len(KEYS)
    assert not report["splits"]["all"]["problems"]


def test_mask_kind_flag_overrides_the_detection(flat, capsys):
    args = ["data", "stats", *folder_flags(flat), "--json"]
    assert run(*args, "--mask-kind", "rgb") == 1  # these masks hold ids, not colours
    assert "cannot hold palette colours" in _error(capsys)
    assert run(*args, "--mask-kind", "index") == 0
    assert run(*args, "--mask-kind", "grey") == 2


def test_colour_masks_are_still_read_as_colours(flat, capsys):
    for mask in (flat["root"] / "ann").iterdir():
        ids = np.asarray(Image.open(mask))
        save(mask, np.asarray(COLOURS, np.uint8)[ids])
    assert run("data", "check", *folder_flags(flat), "--json") == 0
    assert not json.loads(capsys.readouterr().out)["splits"]["all"]["problems"]


# -- evaluate --config and the run folder's config -----------------------------------------------
def test_evaluate_reads_the_dataset_of_a_training_config(flat, tmp_path, capsys):
    config = tmp_path / "run.yaml"
    root = flat["root"]
    config.write_text(
        yaml.safe_dump(
            {
                "epochs": 3,
                "data": {
                    "format": "folder",
                    "images": str(root / "img"),
                    "masks": str(root / "ann"),
                    "classes": str(flat["classes"]),
                },
            }
        )
    )
    js = tmp_path / "s.json"
    assert run("evaluate", flat["ckpt"], "--config", config, "--json", js) == 0
    assert len(json.loads(js.read_text())["classes"]) == 3
    capsys.readouterr()
    # Flags typed override the file: here a mask folder that does not exist.
    assert run("evaluate", flat["ckpt"], "--config", config, "--masks", tmp_path / "none") == 1
    assert "--masks" in _error(capsys)
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: {imges: x}\n")
    assert run("evaluate", flat["ckpt"], "--config", bad) == 2
    assert "data.imges" in _error(capsys)


def test_evaluate_falls_back_to_the_runs_own_config(flat, capsys):
    assert run("evaluate", flat["ckpt"]) == 0
    err = capsys.readouterr().err
    assert f"dataset: from {flat['run_config']}, the run's own config" in err
    flat["run_config"].unlink()
    assert run("evaluate", flat["ckpt"]) == 2
    assert "evaluate needs a dataset" in _error(capsys)
