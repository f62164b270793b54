"""Distillation through the training loop: the teacher stays frozen, it runs only when a term
needs it, and what the student learns is the teacher's function."""

from __future__ import annotations

import torch

from segcompress.engine.objective import DistillObjective
from segcompress.losses import DistillationLoss, build_segmentation_loss
from segcompress.models.registry import create_model
from tests.engine.tiny import CLASSES, TinySet, tiny_config, tiny_trainer


def _teacher() -> torch.nn.Module:
    torch.manual_seed(123)
    return create_model("student_xs", num_classes=CLASSES.num_classes).eval()


def _distill(teacher: torch.nn.Module, task: float = 1.0, **weights: float):
    def wrap(model: torch.nn.Module) -> DistillObjective:
        seg = build_segmentation_loss({"ce": task, "dice": task}, None, CLASSES.ignore_index)
        loss = DistillationLoss(seg, ignore_index=CLASSES.ignore_index, **weights)
        return DistillObjective(model, teacher, loss)

    return wrap


def test_teacher_stays_in_eval_mode_and_unchanged_through_fit(tmp_path):
    teacher = _teacher()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    modes: list[bool] = []
    teacher.register_forward_pre_hook(lambda module, args: modes.append(module.training))
    trainer = tiny_trainer(
        tiny_config(tmp_path / "run"),
        TinySet(8, 0, augment=True),
        TinySet(4, 1),
        objective=_distill(teacher, lambda_cwd=1.0),
    )
    trainer.fit()
    assert modes and not any(modes)  # every teacher forward ran in eval mode
    for key, value in teacher.state_dict().items():  # BatchNorm statistics included
        assert torch.equal(value, before[key]), key
    saved = trainer.state_dict()["model"]
    assert saved.keys() == trainer.model.state_dict().keys()  # no teacher weights inside


def test_without_terms_the_teacher_never_runs(tmp_path):
    teacher = _teacher()

    def refuse(module, args):
        raise AssertionError("the teacher ran although no distillation term needs it")

    teacher.register_forward_pre_hook(refuse)
    row = tiny_trainer(
        tiny_config(tmp_path / "run", epochs=1), TinySet(8, 0), None, objective=_distill(teacher)
    ).fit()
    assert row["train_task"] > 0 and "train_kd" not in row


def _agreement(model: torch.nn.Module, teacher: torch.nn.Module, images: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(images).argmax(1) == teacher(images).argmax(1)).float().mean())


def _relabelled(data: TinySet) -> TinySet:
    """The same images with every class id moved by one: a function the labels do not teach."""
    valid = data.masks != CLASSES.ignore_index
    data.masks[valid] = (data.masks[valid] + 1) % 4
    return data


def test_the_student_learns_the_teachers_function_not_the_labels(tmp_path):
    """The teacher learned other labels than the data's (each class id moved by one): a student
    trained on its logits (labels weighted 1e-4) must come to agree with it, and a student
    trained on the data's labels must not."""
    cfg = tiny_config(tmp_path / "teacher", epochs=8)
    cfg.optim.lr = 5e-3
    trainer = tiny_trainer(cfg, _relabelled(TinySet(16, 0, augment=True)), None)
    trainer.fit()
    teacher = trainer.model.eval()
    train, held = TinySet(16, 0, augment=True), TinySet(8, 5)
    runs = {}
    for name, objective in {
        "kd": _distill(teacher, task=1e-4, lambda_kd=1.0, temperature=1.0),
        "labels": _distill(teacher, task=1.0),
    }.items():
        cfg = tiny_config(tmp_path / name, epochs=8)
        cfg.optim.lr = 5e-3
        trainer = tiny_trainer(cfg, train, None, objective=objective)
        trainer.fit()
        runs[name] = _agreement(trainer.model, teacher, held.images)
    assert runs["kd"] > 0.7 and runs["labels"] < 0.3, runs


def test_an_ensemble_teaches_its_members_mean_logits():
    from segcompress.models.ensemble import TeacherEnsemble

    members = [_teacher(), create_model("student_xs", num_classes=CLASSES.num_classes).eval()]
    ensemble = TeacherEnsemble(members).eval()
    images = TinySet(2, 0).images
    with torch.no_grad():
        expected = (members[0](images) + members[1](images)) / 2
        torch.testing.assert_close(ensemble(images), expected)
        torch.testing.assert_close(ensemble(images, return_features=True)["logits"], expected)
    assert ensemble.feature_info == []
