"""Cached teacher targets: what they hold, that they follow each sample's augmentation, and that
the cache is keyed by the teacher's content."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from segcompress.config import AugmentConfig
from segcompress.data.dataset import load_split
from segcompress.engine.teacher_targets import (
    CachedTeacherDataset,
    TargetOptions,
    TrainingFrames,
    target_fidelity,
    teacher_logits,
    teacher_targets,
)
from segcompress.errors import DataError
from segcompress.models.registry import create_model
from tests.data.builders import make_cityscapes_like
from tests.models.helpers import randomize_bn

SIZE = (48, 64)
GEOMETRY_ONLY = AugmentConfig(scale=(0.5, 2.0), brightness=0, contrast=0, saturation=0)


class Pointwise(nn.Module):
    """A teacher whose logits at a pixel depend on that pixel only (a 1x1 convolution): its
    output on a warped image is the warped output, so cached targets must match it."""

    def __init__(self, classes: int = 7) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, classes, 1)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        out = self.conv(x)
        return {"logits": out} if return_features else out


@pytest.fixture
def lite(tmp_path):
    """A small IDD-Lite layout whose images are smooth random colour fields: a pointwise
    teacher's classes then vary across the image, so a lost flip or shifted crop shows."""
    root = tmp_path / "lite"
    keys = [f"{d}/{i:06d}" for d in range(3) for i in range(3)]
    make_cityscapes_like(root, "train", keys, "_image", "_label", 7, shape=(96, 128))
    rng = np.random.default_rng(0)
    for key in keys:
        coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        field = Image.fromarray(coarse).resize((128, 96), Image.BICUBIC)
        field.save(root / "leftImg8bit" / "train" / f"{key}_image.jpg", quality=95)
    return root


def _train_set(root, augment=GEOMETRY_ONLY):
    return load_split(root, "train", img_size=SIZE, train=True, augment=augment)


def _clean_set(root):
    return load_split(root, "train", img_size=SIZE, train=False)


def _build(root, teacher, tmp_path, teacher_file=None, **options):
    if teacher_file is None:
        teacher_file = tmp_path / "teacher.pt"
        teacher_file.write_bytes(b"weights")
    cpu = torch.device("cpu")
    opts = TargetOptions(**options)
    return teacher_targets(
        teacher_file, teacher, _clean_set(root), opts, cache_dir=tmp_path / "cache", device=cpu
    )


def test_targets_are_the_mirror_averaged_teacher_logits_in_fp16_on_disk(lite, tmp_path):
    teacher = create_model("student_xs", num_classes=7).eval()
    targets = _build(lite, teacher, tmp_path)
    clean = _clean_set(lite)
    images = torch.stack([clean[i][0] for i in range(len(clean))])
    with torch.no_grad():
        expected = (teacher(images) + teacher(images.flip(-1)).flip(-1)) / 2
    assert isinstance(targets.logits, np.memmap) and targets.logits.dtype == np.float16
    assert targets.logits.shape == (9, 7, *SIZE)
    assert targets.keys == [p.key for p in clean.pairs]
    got = torch.stack([targets[i] for i in range(len(targets))])
    torch.testing.assert_close(got, expected, atol=2e-2, rtol=1e-2)
    assert not torch.allclose(teacher(images), expected, atol=1e-3)  # the mirror counted


def test_stride_stores_a_smaller_map_and_scales_add_views(lite, tmp_path):
    teacher = create_model("student_xs", num_classes=7).eval()
    small = _build(lite, teacher, tmp_path, stride=4)
    assert small.logits.shape == (9, 7, SIZE[0] // 4, SIZE[1] // 4)
    images = torch.stack([_clean_set(lite)[i][0] for i in range(2)])
    one = teacher_logits(teacher, images, TargetOptions(flip=False), SIZE)
    two = teacher_logits(teacher, images, TargetOptions((1.0, 1.5), flip=False), SIZE)
    with torch.no_grad():
        up = nn.functional.interpolate(images, size=(72, 96), mode="bilinear")
        big = nn.functional.interpolate(teacher(up), size=SIZE, mode="bilinear", antialias=True)
    torch.testing.assert_close(two, (one + big) / 2, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("stride", [1, 2])
def test_warped_targets_match_the_teacher_on_the_augmented_image(lite, tmp_path, stride):
    """The invariant that makes cached targets consistent: for every random scale, crop and
    flip, the cached logits warped like the image equal the live teacher on that image."""
    teacher = Pointwise()
    targets = _build(lite, teacher, tmp_path, stride=stride)
    data = CachedTeacherDataset(TrainingFrames(_train_set(lite)), targets)
    torch.manual_seed(0)
    fidelity = target_fidelity(teacher, data, list(range(9)) * 4)
    # Differences left: uint8 rounding of the resized image, the image's antialiasing filter
    # against roi_align's averaging when shrinking, and (stride 2) the coarser stored map.
    assert fidelity["agreement"] > (0.98 if stride == 1 else 0.93)
    assert fidelity["kl"] < (0.002 if stride == 1 else 0.01)


def test_fidelity_detects_targets_that_do_not_follow_the_flip(lite, tmp_path, monkeypatch):
    teacher = Pointwise()
    data = CachedTeacherDataset(TrainingFrames(_train_set(lite)), _build(lite, teacher, tmp_path))
    import segcompress.data.transforms as transforms

    original = transforms.warp_targets

    def unflipped(targets, geometry, crop):
        return original(
            targets, transforms.Geometry(geometry.scaled, geometry.top, geometry.left, False), crop
        )

    monkeypatch.setattr(transforms, "warp_targets", unflipped)
    torch.manual_seed(0)
    assert target_fidelity(teacher, data, list(range(9)) * 4)["agreement"] < 0.9


def test_padding_is_ignored_in_the_mask_and_zero_in_the_targets(lite, tmp_path):
    teacher = Pointwise()
    data = CachedTeacherDataset(
        TrainingFrames(_train_set(lite, AugmentConfig(scale=(0.5, 0.5), hflip=0.0))),
        _build(lite, teacher, tmp_path),
    )
    image, (mask, logits, valid) = data[0]
    assert image.shape == (3, *SIZE) and mask.shape == SIZE and logits.shape == (7, *SIZE)
    padded = mask == 255
    assert 0.6 < padded.float().mean() < 0.9  # a half-size image fills a quarter of the crop
    assert torch.equal(valid, ~padded)  # distillation learns where the labels are
    rows, cols = (~padded).nonzero(as_tuple=True)
    far = torch.ones_like(padded)  # padding more than one pixel away from the image
    far[max(0, rows.min() - 1) : rows.max() + 2, max(0, cols.min() - 1) : cols.max() + 2] = False
    assert (logits[:, far] == 0).all() and (logits[:, ~padded] != 0).any()


def test_cache_is_reused_and_rebuilt_when_the_teacher_file_changes(lite, tmp_path):
    teacher_file = tmp_path / "teacher.pt"
    teacher_file.write_bytes(b"weights-1")
    first_model, other_model = Pointwise(), create_model("student_xs", num_classes=7).eval()
    first = _build(lite, first_model, tmp_path, teacher_file=teacher_file)
    built = first[0].clone()
    again = _build(lite, other_model, tmp_path, teacher_file=teacher_file)
    assert again.directory == first.directory
    torch.testing.assert_close(again[0], built)  # read back, not recomputed with other_model
    # Same size, same modification time, other bytes: a path/mtime key would reuse the logits.
    stat = teacher_file.stat()
    teacher_file.write_bytes(b"weights-2")
    os.utime(teacher_file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    fresh = _build(lite, other_model, tmp_path, teacher_file=teacher_file)
    assert fresh.directory != first.directory
    assert not torch.allclose(fresh[0], built)
    # Other storage options are another cache too.
    assert _build(
        lite, other_model, tmp_path, teacher_file=teacher_file, stride=2
    ).directory not in (
        first.directory,
        fresh.directory,
    )


def test_targets_of_other_frames_are_refused(lite, tmp_path):
    targets = _build(lite, Pointwise(), tmp_path)
    train = _train_set(lite)
    train.pairs = train.pairs[1:]
    with pytest.raises(DataError, match="other frames"):
        CachedTeacherDataset(TrainingFrames(train), targets)


def test_runs_building_one_cache_at_once_build_it_once(lite, tmp_path):
    """Two lanes distilling from one teacher start together: one builds, the other waits and
    reads; a temporary file left by a killed build is cleared first."""
    import threading
    import time

    teacher = Pointwise()
    calls: list[int] = []

    def slow(module, args):
        calls.append(1)
        time.sleep(0.05)

    teacher.register_forward_pre_hook(slow)
    teacher_file = tmp_path / "teacher.pt"
    teacher_file.write_bytes(b"weights")
    results = []
    threads = [
        threading.Thread(
            target=lambda: results.append(_build(lite, teacher, tmp_path, teacher_file))
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0].directory == results[1].directory
    assert len(calls) == 2  # one batch of 9 images and its mirror: built once
    torch.testing.assert_close(results[0][3], results[1][3])
    stale = results[0].directory / "logits.npy.tmp999"
    stale.write_bytes(b"half")
    (results[0].directory / "index.json").unlink()  # as if that build had been killed
    _build(lite, teacher, tmp_path, teacher_file)
    assert not stale.exists() and len(calls) == 4


def test_unlabelled_frames_learn_from_the_teacher_where_the_image_is(lite, tmp_path):
    from segcompress.data.unlabeled import UnlabeledDataset, list_unlabeled

    frames_dir = tmp_path / "frames"
    (frames_dir / "cam1").mkdir(parents=True)
    for i in range(3):
        src = lite / "leftImg8bit" / "train" / "0" / f"{i:06d}_image.jpg"
        (frames_dir / "cam1" / f"f{i}.jpg").write_bytes(src.read_bytes())
    pairs = list_unlabeled([frames_dir])
    classes = _clean_set(lite).classes
    clean = TrainingFrames(_clean_set(lite), UnlabeledDataset(pairs, classes, SIZE, train=False))
    teacher = Pointwise()
    teacher_file = tmp_path / "teacher.pt"
    teacher_file.write_bytes(b"weights")
    targets = teacher_targets(
        teacher_file, teacher, clean, TargetOptions(), cache_dir=tmp_path / "c", device="cpu"
    )
    assert len(targets) == 12 and targets.keys[9:] == [f"unlabeled0/cam1/f{i}" for i in range(3)]
    half = AugmentConfig(scale=(0.5, 0.5), hflip=0.0, brightness=0, contrast=0, saturation=0)
    unlabelled = UnlabeledDataset(pairs, classes, SIZE, train=True, augment=half)
    data = CachedTeacherDataset(TrainingFrames(_train_set(lite, half), unlabelled), targets)
    torch.manual_seed(0)
    image, (mask, logits, valid) = data[10]
    assert (mask == classes.ignore_index).all()  # no labels: the task loss learns nothing here
    assert 0.1 < valid.float().mean() < 0.4  # the half-size image, not the padding
    with torch.no_grad():
        live = teacher(image[None])[0]
    agree = (live.argmax(0) == logits.argmax(0))[valid].float().mean()
    assert agree > 0.98  # the targets of this very frame, warped like it


def test_a_teacher_sees_the_frames_at_its_own_size_and_teaches_at_the_students(lite, tmp_path):
    """teacher_size: the teacher runs on each frame loaded at its larger size and its logits
    are shrunk to the student's size before caching; they then warp with the student's view
    like any cached targets. The cache is keyed by that size, and without it the key is the
    one earlier caches were built under."""
    teacher = create_model("student_xs", num_classes=7)
    randomize_bn(teacher)
    teacher.eval()
    big = (2 * SIZE[0], 2 * SIZE[1])
    seen = load_split(lite, "train", img_size=big, train=False)
    teacher_file = tmp_path / "teacher.pt"
    teacher_file.write_bytes(b"weights")
    common = {"cache_dir": tmp_path / "cache", "device": torch.device("cpu")}
    targets = teacher_targets(teacher_file, teacher, seen, TargetOptions(), size=SIZE, **common)
    assert targets.logits.shape == (9, 7, *SIZE)
    images = torch.stack([seen[i][0] for i in range(len(seen))])
    expected = teacher_logits(teacher, images, TargetOptions(), SIZE)
    got = torch.stack([targets[i] for i in range(len(targets))])
    torch.testing.assert_close(got, expected, atol=2e-2, rtol=1e-2)
    assert targets.index["key"]["size"] == list(SIZE)
    assert targets.index["key"]["teacher_size"] == list(big)
    same = _build(lite, teacher, tmp_path, teacher_file=teacher_file)
    assert same.directory != targets.directory and "teacher_size" not in same.index["key"]
    small = torch.stack([same[i] for i in range(len(same))])
    # The teacher at the student's size gives other targets, by more than the tolerance above.
    assert not torch.allclose(small, got, atol=2e-2, rtol=1e-2)
    data = CachedTeacherDataset(TrainingFrames(_train_set(lite)), targets)
    _, (_, logits, _) = data[0]
    assert logits.shape == (7, *SIZE)
