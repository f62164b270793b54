from __future__ import annotations

import os
import time

import numpy as np
import pytest
import torch

from segcompress.data import AugmentConfig, load_split, prepare_split
from segcompress.data.transforms import MEAN, STD
from segcompress.errors import DataError, UsageError

from .builders import ids_to_rgb, image_for, make_kaggle, random_ids, save


def unnormalise_red(image: torch.Tensor) -> torch.Tensor:
    return ((image[0] * STD[0] + MEAN[0]) * 255).round()


@pytest.fixture
def kaggle(tmp_path):
    truth = make_kaggle(tmp_path / "ds", "train", [f"{i:07d}" for i in range(6)], shape=(32, 48))
    make_kaggle(tmp_path / "ds", "val", ["0000100", "0000101"], shape=(32, 48), seed=1)
    return tmp_path / "ds", truth


def test_samples_are_normalised_tensors_with_the_right_ids(kaggle):
    root, truth = kaggle
    ds = load_split(root, "train", img_size=(32, 48), train=False)
    assert len(ds) == 6 and ds.classes.num_classes == 26 and ds.cache is None
    image, mask = ds[2]
    assert image.shape == (3, 32, 48) and image.dtype == torch.float32
    assert mask.shape == (32, 48) and mask.dtype == torch.int64
    np.testing.assert_array_equal(mask.numpy(), truth["0000002"])
    # The image's red channel encodes the class: image and mask come from the same frame.
    valid = mask != 255
    expected_red = (mask[valid] * 9) % 256
    assert torch.equal(unnormalise_red(image)[valid], expected_red.float())


def test_resizing_masks_is_nearest(kaggle):
    root, truth = kaggle
    ds = load_split(root, "train", img_size=(16, 24), train=False)
    _, mask = ds[0]
    assert set(mask.unique().tolist()) <= set(np.unique(truth["0000000"]).tolist())
    np.testing.assert_array_equal(mask.numpy(), truth["0000000"][::2, ::2])


def test_augmentation_keeps_image_and_mask_aligned(kaggle):
    root, _ = kaggle
    no_colour = AugmentConfig(brightness=0, contrast=0, saturation=0, hue=0)
    ds = load_split(root, "train", img_size=(32, 48), train=True, augment=no_colour)
    torch.manual_seed(0)
    checked = 0
    for i in range(len(ds)):
        image, mask = ds[i]
        assert image.shape == (3, 32, 48) and mask.shape == (32, 48)
        # Away from class borders (where image resizing blends), red encodes the class: compare
        # pixels whose whole 5x5 neighbourhood has one valid class.
        m = mask.float()[None, None]
        window = torch.nn.functional.max_pool2d(m, 5, 1, 2) == -torch.nn.functional.max_pool2d(
            -m, 5, 1, 2
        )
        check = window[0, 0] & (mask != 255)
        checked += int(check.sum())
        diff = (unnormalise_red(image)[check] - (mask[check] * 9 % 256)).abs()
        assert check.sum() == 0 or diff.max() <= 2
    assert checked > 500


def test_cache_is_used_and_gives_the_same_samples(kaggle, tmp_path):
    root, _ = kaggle
    plain = load_split(root, "val", img_size=(16, 24), train=False, use_cache=False)
    cache, n, bad = prepare_split(root, "val", img_size=(16, 24), cache_dir=tmp_path / "c")
    assert n == 2 and not bad and (cache.directory / "images.npy").is_file()
    cached = load_split(root, "val", img_size=(16, 24), train=False, cache_dir=tmp_path / "c")
    assert cached.cache is not None
    for i in range(2):
        for a, b in zip(plain[i], cached[i], strict=True):
            assert torch.equal(a, b)
    # Another size is another cache entry: not present, so not used.
    other = load_split(root, "val", img_size=(8, 12), train=False, cache_dir=tmp_path / "c")
    assert other.cache is None


def test_stale_cache_entries_are_rebuilt(kaggle, tmp_path):
    root, _ = kaggle
    prepare_split(root, "val", img_size=(32, 48), cache_dir=tmp_path / "c")
    new_ids = np.full((32, 48), 5, dtype=np.uint8)
    mask_path = root / "val/rgb_labels/0000101_gtFine_polygons.png"
    save(mask_path, ids_to_rgb(new_ids))
    os.utime(mask_path, ns=(time.time_ns(), time.time_ns() + 10**9))
    ds = load_split(root, "val", img_size=(32, 48), train=False, cache_dir=tmp_path / "c")
    assert ds.cache is not None
    assert torch.equal(ds[1][1], torch.full((32, 48), 5))
    # A new frame changes the file list: the whole split is rebuilt.
    make_kaggle(root, "val", ["0000102"], shape=(32, 48), seed=3)
    ds = load_split(root, "val", img_size=(32, 48), train=False, cache_dir=tmp_path / "c")
    assert len(ds) == 3 and ds.cache is not None


def test_orphans_refused_unless_skip_bad(kaggle):
    root, _ = kaggle
    (root / "train/rgb_labels/0000003_gtFine_polygons.png").unlink()
    with pytest.raises(DataError, match=r"0000003_leftImg8bit.png: no mask .*--skip-bad"):
        load_split(root, "train", img_size=32, train=False)
    ds = load_split(root, "train", img_size=32, train=False, skip_bad=True)
    assert len(ds) == 5 and ds.skipped == 1


def test_bad_files_are_named(kaggle, tmp_path):
    root, _ = kaggle
    img = root / "train/images/0000001_leftImg8bit.png"
    img.write_bytes(img.read_bytes()[:60])  # truncated
    ds = load_split(root, "train", img_size=32, train=False)
    with pytest.raises(DataError, match="0000001_leftImg8bit.png"):
        ds[1]
    with pytest.warns(UserWarning, match="skipping bad sample"):
        skipping = load_split(root, "train", img_size=32, train=False, skip_bad=True)
        image, _ = skipping[1]  # replaced by the next good sample
    assert image.shape == (3, 32, 32)
    with pytest.raises(DataError, match="0000001_leftImg8bit.png"):
        prepare_split(root, "train", img_size=32, cache_dir=tmp_path / "c")
    _, _, bad = prepare_split(root, "train", img_size=32, cache_dir=tmp_path / "c", skip_bad=True)
    assert list(bad) == ["0000001"]
    assert len(load_split(root, "train", img_size=32, train=False, cache_dir=tmp_path / "c")) == 5


def test_size_mismatch_names_the_mask(kaggle):
    root, _ = kaggle
    save(root / "train/rgb_labels/0000004_gtFine_polygons.png", np.zeros((16, 16, 3), np.uint8))
    ds = load_split(root, "train", img_size=32, train=False)
    with pytest.raises(DataError, match="0000004_gtFine_polygons.png: mask is 16x16 but"):
        ds[4]


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_unusual_image_modes_are_converted(tmp_path, mode):
    from PIL import Image

    make_kaggle(tmp_path, "train", ["1"], shape=(16, 16))
    path = tmp_path / "train/images/1_leftImg8bit.png"
    rgb = Image.open(path).convert("RGB")
    converted = rgb.convert("L").convert("I;16") if mode == "I;16" else rgb.convert(mode)
    converted.save(path)
    image, _ = load_split(tmp_path, "train", img_size=16, train=False)[0]
    assert image.shape == (3, 16, 16) and torch.isfinite(image).all()


def test_grey_mask_for_an_rgb_format_is_refused(tmp_path):
    make_kaggle(tmp_path, "train", ["1"], shape=(16, 16))
    save(tmp_path / "train/rgb_labels/1_gtFine_polygons.png", np.zeros((16, 16), np.uint8))
    with pytest.raises(DataError, match="cannot hold palette colours"):
        load_split(tmp_path, "train", img_size=16, train=False)[0]


def test_usage_errors(kaggle):
    root, _ = kaggle
    with pytest.raises(UsageError, match="--img-size"):
        load_split(root, "train", img_size=(0, 32), train=False)
    with pytest.raises(DataError, match="no such folder"):
        load_split(root / "nope", "train", img_size=32, train=False)
    (root / "val/images").rename(root / "val/elsewhere")
    with pytest.raises(DataError, match="split 'val' not found"):
        load_split(root, "val", img_size=32, train=False)


def test_empty_split(tmp_path):
    (tmp_path / "train/images").mkdir(parents=True)
    (tmp_path / "train/rgb_labels").mkdir(parents=True)
    with pytest.raises(DataError, match="no image/mask pairs"):
        load_split(tmp_path, "train", img_size=32, train=False)


def test_index_masks_through_the_loader(tmp_path):
    from .builders import make_cityscapes_like

    truth = make_cityscapes_like(tmp_path, "train", ["1/a", "2/b"], "_image", "_label", 7)
    ds = load_split(tmp_path, "train", img_size=(32, 48), train=False)
    np.testing.assert_array_equal(ds[1][1].numpy(), truth["2/b"])


def test_real_idd_lite_loads(idd_lite_root):
    ds = load_split(idd_lite_root, "val", img_size=(128, 256), train=False, use_cache=False)
    image, mask = ds[0]
    assert image.shape == (3, 128, 256)
    values = set(mask.unique().tolist())
    assert values <= set(range(7)) | {255} and len(values) >= 3


def test_random_ids_builder_is_blocky():
    ids = random_ids(np.random.default_rng(0), (16, 16), 5)
    assert (ids[:8, :8] == ids[0, 0]).all()
    assert image_for(ids).shape == (16, 16, 3)
