"""bench_teacher_tta: views score like the models they average; the choice reads the holdout."""

from __future__ import annotations

import pytest
import torch

from segcompress.engine.evaluate import evaluate, torch_predictor
from segcompress.engine.teacher_targets import TargetOptions
from tests.benchmark_scripts import load_benchmark

bench = load_benchmark("bench_teacher_tta")


def test_views_score_like_the_model_and_its_mirror_average() -> None:
    torch.manual_seed(0)
    # A lopsided filter: its mirror average moves the argmax of many pixels.
    model = torch.nn.Conv2d(3, 3, 5, padding=2).eval()
    batches = [(torch.rand(2, 3, 32, 48), torch.randint(0, 3, (2, 32, 48))) for _ in range(2)]
    plain = evaluate(torch_predictor(model, torch.device("cpu")), batches, 3, 255)
    expected = 100 * plain.compute().mean["iou"]
    one = bench.miou(model, batches, TargetOptions((1.0,), flip=False), 3, 255, None)
    assert one == pytest.approx(expected)

    def mirror_mean(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return (model(images) + model(images.flip(-1)).flip(-1)) / 2

    both = evaluate(mirror_mean, batches, 3, 255).compute().mean["iou"]
    mirrored = bench.miou(model, batches, TargetOptions((1.0,), flip=True), 3, 255, None)
    assert mirrored == pytest.approx(100 * both) and abs(mirrored - one) > 1


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
