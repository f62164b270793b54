"""bench_demo_pretrained: runs train with the demo's own config but for the model and seed;
the table shows mean ± sample std over seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from segcompress.config import config_to_dict
from segcompress.demo.budget import DEFAULT_BUDGET
from segcompress.demo.stages import StudentScratch, Teacher
from tests.benchmark_scripts import load_benchmark

bench = load_benchmark("bench_demo_pretrained")


def _without(cfg: object, *keys: str) -> dict:
    data = config_to_dict(cfg)
    for key in keys:
        data.pop(key)
    return data


def test_student_rows_train_at_the_demo_students_recipe(tmp_path: Path) -> None:
    stub = bench.demo_stub(tmp_path / "runs", tmp_path / "data")
    lite = bench.STUDENTS[2]
    cfg = bench.run_config(stub, lite, 2)
    demo = StudentScratch(stub).config()
    assert _without(cfg, "model", "seed", "out") == _without(demo, "model", "seed", "out")
    assert (cfg.model.name, cfg.model.pretrained, cfg.seed) == ("student_lite", True, 2)
    assert cfg.epochs == DEFAULT_BUDGET.epochs and cfg.optim.lr == DEFAULT_BUDGET.lr
    assert Path(cfg.out) == tmp_path / "runs" / "student_lite_imagenet-s2"


def test_teacher_rows_keep_the_teachers_schedule(tmp_path: Path) -> None:
    stub = bench.demo_stub(tmp_path / "runs", tmp_path / "data")
    _, lite2 = bench.TEACHERS
    demo = Teacher(stub).config()
    assert config_to_dict(bench.run_config(stub, lite2, 1).model) == config_to_dict(demo.model)
    cfg = bench.run_config(stub, lite2, 0)
    assert _without(cfg, "model", "seed", "out") == _without(demo, "model", "seed", "out")
    assert cfg.epochs == DEFAULT_BUDGET.teacher_epochs
    assert cfg.eval_every == DEFAULT_BUDGET.teacher_eval_every
    assert cfg.model.args == {"encoder": "efficientnet_lite2"} and cfg.model.pretrained


def test_data_is_the_demos_with_the_rendering_seed_replaced(tmp_path: Path) -> None:
    stub = bench.demo_stub(tmp_path, tmp_path / "data")
    shape = bench.data_settings(stub, 0)
    assert shape["seed"] == 0 != DEFAULT_BUDGET.seed
    assert (shape["n_train"], shape["n_val"], shape["size"]) == (192, 96, (128, 256))


def _run(seed: int, best: float, wall: float) -> dict:
    return {"seed": seed, "best_miou": best, "last_miou": best - 1, "wall_s": wall}


def test_table_row_shows_mean_and_sample_std_over_seeds() -> None:
    runs = [_run(0, 20.0, 30.0), _run(1, 22.0, 40.0), _run(2, 24.0, 50.0)]
    summary = bench.summarize(runs)
    assert summary["miou_mean"] == pytest.approx(22.0)
    assert summary["miou_std"] == pytest.approx(2.0)  # sample std, not population (1.63)
    assert summary["wall_s_mean"] == pytest.approx(40.0)
    row = {"label": "m", "runs": runs, "summary": summary, "epochs": 6}
    row |= {"params": 3_150_000, "gflops": 0.1234}
    assert bench.table_row(row) == ["m", "22.0 ± 2.0", "0,1,2", "6", "40", "3.15", "0.123"]


def test_one_seed_shows_the_value_alone() -> None:
    runs = [_run(0, 31.34, 300.0)]
    row = {"label": "t", "runs": runs, "summary": bench.summarize(runs), "epochs": 18}
    row |= {"params": 5_000_000, "gflops": 1.0}
    assert bench.table_row(row)[1:3] == ["31.3", "0"]


def test_final_scores_read_the_last_epoch_in_percent(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text(
        "epoch,val_miou,best_miou\n1,0.10,0.10\n2,,0.10\n3,0.15,0.20\n", encoding="utf-8"
    )
    scores = bench.final_scores(tmp_path)
    assert scores["epochs"] == 3
    assert scores["best_miou"] == pytest.approx(20.0)
    assert scores["last_miou"] == pytest.approx(15.0)
