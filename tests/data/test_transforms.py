"""Augmentation: masks padded with the class table's ignore index; holdout splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from segcompress.cli import main
from segcompress.config import AugmentConfig
from segcompress.data.dataset import list_pairs, load_split
from segcompress.data.formats import DataSpec
from segcompress.data.holdout import make_holdout, read_holdout
from segcompress.errors import DataError, UsageError
from tests.data.builders import image_for, make_cityscapes_like, random_ids, save

ELEVEN = "ignore_index: 11\nclasses:\n" + "".join(
    f"  - {{id: {i}, name: c{i}}}\n" for i in range(11)
)


@pytest.fixture
def folder_ignore_11(tmp_path):
    """A folder dataset whose class table ignores id 11 (not 255)."""
    classes = tmp_path / "classes.yaml"
    classes.write_text(ELEVEN)
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for i in range(4):
            ids = random_ids(rng, (32, 48), 11)
            save(tmp_path / "img" / split / f"{i}.png", image_for(ids))
            save(tmp_path / "ann" / split / f"{i}.png", ids)
    return DataSpec(images=str(tmp_path / "img"), masks=str(tmp_path / "ann"), classes=str(classes))


def test_scale_crop_pads_masks_with_the_tables_ignore_index(folder_ignore_11):
    augment = AugmentConfig(scale=(0.5, 0.5))
    data = load_split(folder_ignore_11, "train", img_size=(32, 48), train=True, augment=augment)
    torch.manual_seed(0)
    _, mask = data[0]
    assert set(mask.unique().tolist()) <= set(range(12)) and 255 not in mask
    assert 0.6 < (mask == 11).float().mean() < 0.9  # a half-size image in the crop, padded


def test_training_with_scale_crop_on_such_a_table_runs(folder_ignore_11, tmp_path):
    spec = folder_ignore_11
    args = ["train", "--images", spec.images, "--masks", spec.masks, "--classes", spec.classes]
    args += ["--model", "student_xs", "--img-size", "32x48", "--batch", "4", "--epochs", "1"]
    args += ["--aug-scale", "0.5,2", "--no-progress", "--out", str(tmp_path / "run")]
    assert main(args) == 0


@pytest.fixture
def lite(tmp_path):
    root = tmp_path / "lite"
    keys = [f"{d}/{i:06d}" for d in range(6) for i in range(3)]
    make_cityscapes_like(root, "train", keys, "_image", "_label", 7)
    return root


def test_holdout_takes_whole_drives_and_the_train_split_leaves_them_out(lite, tmp_path):
    listed = tmp_path / "holdout.txt"
    assert main(["data", "holdout", str(lite), "--fraction", "0.3", "--out", str(listed)]) == 0
    holdout = read_holdout(listed)
    assert holdout.source == "train" and len(holdout.keys) == 6  # two whole drives of three
    assert len({k.split("/")[0] for k in holdout.keys}) == 2
    spec = DataSpec(root=str(lite), holdout=str(listed))
    held = {p.key for p in list_pairs(spec, "holdout")[1].pairs}
    kept = {p.key for p in list_pairs(spec, "train")[1].pairs}
    assert held == holdout.keys and not held & kept and len(kept) == 12
    # The datasets read the split's one cache, whichever part they are.
    assert main(["data", "prepare", str(lite), "--img-size", "16x24", "--split", "train"]) == 0
    train = load_split(spec, "train", img_size=(16, 24), train=False)
    part = load_split(spec, "holdout", img_size=(16, 24), train=False)
    whole = load_split(DataSpec(root=str(lite)), "train", img_size=(16, 24), train=False)
    assert train.cache is not None and train.cache.directory == whole.cache.directory
    index = {p.key: i for i, p in enumerate(whole.pairs)}
    for dataset in (train, part):
        for i in (0, len(dataset) - 1):
            j = index[dataset.pairs[i].key]
            torch.testing.assert_close(dataset[i][1], whole[j][1])


def test_holdout_problems_are_one_clear_line(lite, tmp_path):
    spec = DataSpec(root=str(lite))
    with pytest.raises(UsageError, match="needs --holdout"):
        list_pairs(spec, "holdout")
    bad = tmp_path / "bad.txt"
    bad.write_text("0/000000\n")
    with pytest.raises(DataError, match="first line"):
        list_pairs(DataSpec(root=str(lite), holdout=str(bad)), "train")
    stale = tmp_path / "stale.txt"
    stale.write_text("# segcompress holdout of split 'train': 1 of 18 frames\n9/123456\n")
    with pytest.raises(DataError, match="not in split 'train'"):
        list_pairs(DataSpec(root=str(lite), holdout=str(stale)), "train")
    with pytest.raises(UsageError, match="fraction"):
        make_holdout(["a/1", "b/1"], 1.5)
