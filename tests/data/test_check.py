from __future__ import annotations

import json
import os

import numpy as np

from segcompress.cli import main
from segcompress.data.check import check_dataset
from segcompress.data.formats import DataSpec

from .builders import ids_to_rgb, make_kaggle, save


def broken_dataset(root):
    make_kaggle(root, "train", ["0000001", "0000002", "0000003", "0000004", "0000005"])
    (root / "train/rgb_labels/0000001_gtFine_polygons.png").unlink()  # orphan image
    save(root / "train/rgb_labels/0000009_gtFine_polygons.png", np.zeros((8, 8, 3), np.uint8))
    (root / "train/images/0000002_leftImg8bit.png").write_bytes(b"")  # unreadable
    save(
        root / "train/rgb_labels/0000003_gtFine_polygons.png",
        ids_to_rgb(np.zeros((10, 10), np.uint8)),
    )
    noisy = ids_to_rgb(np.zeros((32, 48), np.uint8))
    noisy[:8] = (1, 2, 3)
    save(root / "train/rgb_labels/0000004_gtFine_polygons.png", noisy)


def test_check_reports_every_kind_of_problem(tmp_path):
    broken_dataset(tmp_path)
    report = check_dataset(DataSpec(root=str(tmp_path)))
    assert report["format"] == "idd-kaggle"
    train = report["splits"]["train"]
    assert set(train) == {"pairs", "classes", "ignored_pixels", "problems"}
    assert train["pairs"] == 4
    kinds = sorted((p["kind"], os.path.basename(p["file"])) for p in train["problems"])
    assert kinds == [
        ("orphan-image", "0000001_leftImg8bit.png"),
        ("orphan-mask", "0000009_gtFine_polygons.png"),
        ("size-mismatch", "0000003_gtFine_polygons.png"),
        ("unknown-colours", "0000004_gtFine_polygons.png"),
        ("unreadable", "0000002_leftImg8bit.png"),
    ]
    assert [c["id"] for c in train["classes"]] == list(range(26))  # zero counts included
    assert train["classes"][0]["name"] == "road"
    unknown = next(p for p in train["problems"] if p["kind"] == "unknown-colours")
    assert "(1,2,3): 384 px" in unknown["detail"]


def test_counts_are_at_the_masks_resolution(tmp_path):
    truth = make_kaggle(tmp_path, "val", ["1", "2"], shape=(24, 40))
    report = check_dataset(DataSpec(root=str(tmp_path)), ["val"])
    counts = np.bincount(np.concatenate([t.ravel() for t in truth.values()]), minlength=256)
    val = report["splits"]["val"]
    assert [c["pixels"] for c in val["classes"]] == counts[:26].tolist()
    assert val["ignored_pixels"] == counts[255]
    assert val["problems"] == []


def test_cli_check_json_and_exit_codes(tmp_path, capsys):
    broken_dataset(tmp_path / "bad")
    assert main(["data", "check", str(tmp_path / "bad"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["train"]["pairs"] == 4
    make_kaggle(tmp_path / "good", "train", ["1"])
    assert main(["data", "check", str(tmp_path / "good")]) == 0
    assert "train] 1 pairs, 0 problems" in capsys.readouterr().out


def test_real_idd_lite_val_is_clean(idd_lite_root):
    report = check_dataset(DataSpec(root=str(idd_lite_root)), ["val"])
    val = report["splits"]["val"]
    assert val["pairs"] == 204 and val["problems"] == []
    pixels = np.array([c["pixels"] for c in val["classes"]], dtype=float)
    shares = pixels / pixels.sum()
    # README: drivable, far objects and sky dominate; living things and non-drivable are small.
    assert shares[0] > 0.25 and shares[5] > 0.15 and shares[6] > 0.15
    assert shares[1] < 0.05 and shares[2] < 0.05
    assert val["ignored_pixels"] / pixels.sum() < 0.001
