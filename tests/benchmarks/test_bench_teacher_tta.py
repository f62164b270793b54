"""bench_teacher_tta: views score like the models they average; the choice reads the holdout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from segcompress.data.classes import IDD_LEVEL3
from segcompress.deploy.metadata import ModelInfo, inference_checkpoint
from segcompress.engine.checkpoint import save_checkpoint
from segcompress.engine.evaluate import evaluate, torch_predictor
from segcompress.engine.teacher_targets import TargetOptions
from segcompress.models.registry import create_model
from tests.benchmark_scripts import load_benchmark

bench = load_benchmark("bench_teacher_tta")


def test_views_score_like_the_model_and_its_mirror_average() -> None:
    torch.manual_seed(0)
    # A lopsided filter: its mirror average moves the argmax of many pixels.
    model = torch.nn.Conv2d(3, 3, 5, padding=2).eval()
    batches = [(torch.rand(2, 3, 32, 48), torch.randint(0, 3, (2, 32, 48))) for _ in range(2)]
    plain = evaluate(torch_predictor(model, torch.device("cpu")), batches, 3, 255)
    expected = 100 * plain.compute().mean["iou"]
    one = bench.miou(model, batches, TargetOptions((1.0,), flip=False), 3, 255, None, (32, 48))
    assert one == pytest.approx(expected)

    def mirror_mean(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (model(images) + model(images.flip(-1)).flip(-1)) / 2

    both = evaluate(mirror_mean, batches, 3, 255).compute().mean["iou"]
    mirrored = bench.miou(model, batches, TargetOptions((1.0,), flip=True), 3, 255, None, (32, 48))
    assert mirrored == pytest.approx(100 * both) and abs(mirrored - one) > 1


def test_a_teacher_that_sees_larger_frames_is_scored_at_the_labels_size() -> None:
    torch.manual_seed(0)
    model = torch.nn.Conv2d(3, 3, 5, padding=2).eval()
    frames = [(torch.rand(3, 64, 96), torch.zeros(64, 96, dtype=torch.long)) for _ in range(4)]
    labels = [(torch.zeros(3, 32, 48), torch.randint(0, 3, (32, 48))) for _ in range(4)]
    pairs = bench.FramesAndLabels(frames, labels)
    assert len(pairs) == 4 and pairs[1][0] is frames[1][0] and pairs[1][1] is labels[1][1]
    loader = torch.utils.data.DataLoader(pairs, batch_size=2)
    score = bench.miou(model, loader, TargetOptions((1.0,), flip=False), 3, 255, None, (32, 48))

    def shrunk(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = model(images)
        return torch.nn.functional.interpolate(out, (32, 48), mode="bilinear", antialias=True)

    expected = evaluate(shrunk, loader, 3, 255).compute().mean["iou"]
    assert score == pytest.approx(100 * expected)


def test_choice_is_the_best_holdout_row_whatever_val_says() -> None:
    rows = [
        {"views": "scales 1", "holdout": 60.0, "val": 70.0},
        {"views": "scales 1, 1.5 + mirror", "holdout": 62.0, "val": 61.0},
        {"views": "scales 2", "holdout": 62.0},
    ]
    assert bench.choose(rows)["views"] == "scales 1, 1.5 + mirror"
    labels = {bench.label(TargetOptions(s, f)) for s in ((1.0,), (1.0, 1.5)) for f in (0, 1)}
    assert len(labels) == 4
    assert bench.label(TargetOptions((1.0, 1.5), True)) == "scales 1, 1.5 + mirror"


def _saved(tmp_path: Path, name: str, seed: int, size: tuple[int, int] = (32, 48)) -> Path:
    torch.manual_seed(seed)
    model = create_model("student_xs").eval()
    for module in model.modules():  # BatchNorm statistics that folding has to carry over
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    info = ModelInfo(IDD_LEVEL3, size, (0.5,) * 3, (0.25,) * 3, "student_xs", "idd-kaggle")
    path = tmp_path / f"{name}.pt"
    save_checkpoint(inference_checkpoint(model, info), path)
    return path


def test_several_teachers_score_as_the_mean_of_their_logits(tmp_path: Path) -> None:
    first, second = _saved(tmp_path, "a", 0), _saved(tmp_path, "b", 1)
    one, state = bench.load_teacher([first])
    two, _ = bench.load_teacher([first, second])
    other, _ = bench.load_teacher([second])
    assert state["num_classes"] == IDD_LEVEL3.num_classes
    images = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        a, b, mean = one(images), other(images), two(images)
    assert (a - b).abs().max() > 1e-2  # two different teachers
    torch.testing.assert_close(mean, (a + b) / 2, rtol=1e-5, atol=1e-5)
    odd = _saved(tmp_path, "c", 2, size=(64, 96))
    with pytest.raises(SystemExit, match="input_size"):
        bench.load_teacher([first, odd])
