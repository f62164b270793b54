"""Precomputed teacher logits: what they hold, how the wrapper flips, and that the loss agrees."""

from __future__ import annotations

import pytest
import torch

from segcompress.config import TrainConfig, validate_config
from segcompress.engine.objective import DistillObjective
from segcompress.engine.teacher_outputs import (
    TeacherLogitsDataset,
    cached_teacher_logits,
    precompute_teacher_logits,
)
from segcompress.errors import UsageError
from segcompress.losses import DistillationLoss, build_segmentation_loss
from segcompress.models.registry import create_model

from .tiny import CLASSES, TinySet


@pytest.fixture(scope="module")
def teacher():
    torch.manual_seed(0)
    return create_model("student_xs", num_classes=CLASSES.num_classes).eval()


def test_logits_are_the_teachers_on_the_image_and_its_mirror(teacher):
    data = TinySet(5, 0)
    logits = precompute_teacher_logits(teacher, data, device=torch.device("cpu"), batch=2)
    assert logits.shape == (5, 2, CLASSES.num_classes, 32, 32)
    assert logits.dtype == torch.float16
    with torch.no_grad():
        plain = teacher(data.images)
        mirrored = teacher(data.images.flip(-1))
    torch.testing.assert_close(logits[:, 0].float(), plain, atol=2e-2, rtol=1e-2)
    torch.testing.assert_close(logits[:, 1].float(), mirrored, atol=2e-2, rtol=1e-2)
    assert not torch.allclose(plain.flip(-1), mirrored, atol=1e-3)  # the mirror was really run


@pytest.mark.parametrize("hflip", [0.0, 1.0])
def test_wrapper_flips_image_mask_and_hands_out_the_matching_logits(hflip):
    data = TinySet(3, 1)
    logits = torch.randn(3, 2, CLASSES.num_classes, 32, 32).half()
    wrapped = TeacherLogitsDataset(data, logits, hflip=hflip)
    assert len(wrapped) == 3 and wrapped.classes is CLASSES  # the base set's attributes
    image, (mask, t) = wrapped[2]
    flip = int(hflip)
    expect_image = data.images[2].flip(-1) if flip else data.images[2]
    expect_mask = data.masks[2].flip(-1) if flip else data.masks[2]
    torch.testing.assert_close(image, expect_image)
    torch.testing.assert_close(mask, expect_mask)
    torch.testing.assert_close(t, logits[2, flip])


def test_wrapper_refuses_logits_of_another_length():
    with pytest.raises(ValueError, match="4 samples"):
        TeacherLogitsDataset(TinySet(4, 0), torch.zeros(3, 2, 5, 32, 32))


def test_precomputed_logits_give_the_live_teachers_loss(teacher):
    torch.manual_seed(1)
    student = create_model("student_xs", num_classes=CLASSES.num_classes)
    task = build_segmentation_loss(ignore_index=CLASSES.ignore_index)
    kd = DistillationLoss(task, lambda_kd=1.0, lambda_cwd=3.0, ignore_index=CLASSES.ignore_index)
    objective = DistillObjective(student, teacher, kd).eval()
    data = TinySet(4, 2)
    logits = precompute_teacher_logits(teacher, data, device=torch.device("cpu"))
    live, live_parts = objective(data.images, data.masks)
    cached, cached_parts = objective(data.images, (data.masks, logits[:, 0]))
    torch.testing.assert_close(cached, live, atol=1e-3, rtol=1e-3)
    for term in ("kd", "cwd", "task"):
        torch.testing.assert_close(cached_parts[term], live_parts[term], atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"kd": ["kl", "feat"]}, "distill.kd"),
        ({"scale": (0.5, 2.0)}, "augment.scale"),
    ],
)
def test_config_refuses_what_precomputed_logits_cannot_serve(change, key):
    cfg = TrainConfig()
    cfg.distill.precompute_teacher = True
    cfg.augment.scale = (1.0, 1.0)
    for name, value in change.items():
        setattr(cfg.augment if name == "scale" else cfg.distill, name, value)
    with pytest.raises(UsageError, match=key):
        validate_config(cfg)


def test_cached_logits_are_reused_until_the_teacher_file_changes(teacher, tmp_path):
    data = TinySet(3, 3)
    teacher_file = tmp_path / "teacher.pt"
    teacher_file.write_bytes(b"weights")
    cpu = torch.device("cpu")
    first = cached_teacher_logits(teacher_file, teacher, data, cache_dir=tmp_path, device=cpu)
    assert len(list((tmp_path / "teacher-logits").glob("*.pt"))) == 1
    other = create_model("student_xs", num_classes=CLASSES.num_classes).eval()
    again = cached_teacher_logits(teacher_file, other, data, cache_dir=tmp_path, device=cpu)
    torch.testing.assert_close(again, first)  # read back, not recomputed with `other`
    teacher_file.write_bytes(b"new weights!")  # a retrained teacher: new size and mtime
    fresh = cached_teacher_logits(teacher_file, other, data, cache_dir=tmp_path, device=cpu)
    expected = precompute_teacher_logits(other, data, device=cpu)
    torch.testing.assert_close(fresh, expected)
    assert len(list((tmp_path / "teacher-logits").glob("*.pt"))) == 2
