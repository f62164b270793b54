"""The accuracy suite's bookkeeping (``benchmarks/kd_suite.py``, ``kd_report.py``): row names,
per-arch latency, targets against the right scratch row, ``--collect`` (tabulate finished runs,
train none) and ``--rows`` (a slice of the suite)."""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def kd_suite() -> ModuleType:
    return load_benchmark("kd_suite")


@pytest.fixture(scope="module")
def kd_report() -> ModuleType:
    return load_benchmark("kd_report")


def _record(row, seed: int, miou: float) -> dict:
    return {
        "row": row.name,
        "group": row.group,
        "model": row.model,
        "arch": row.arch,
        "kd": list(row.kd),
        "seed": seed,
        "miou": miou,
        "mdice": miou + 10,
        "pixel_accuracy": 80.0,
        "train_s": 100.0,
    }


def test_row_names_slugs_and_arch(kd_suite: ModuleType) -> None:
    Row = kd_suite.Row
    plain = Row("student", "student_s", ("cwd",))
    tuned = Row("student", "student_s", ("cwd",), flags=("--cwd-tau", "1", "--lambda-cwd", "5"))
    wide = Row("student", "student_s", flags=("--model-arg", "width_mult=1.4"))
    assert plain.name == "student_s + cwd"
    assert tuned.name == "student_s + cwd (cwd-tau 1, lambda-cwd 5)"
    assert wide.name == "student_s scratch (model-arg width_mult=1.4)"
    slugs = {r.slug for r in (plain, tuned, wide, Row("student", "student_s"))}
    assert len(slugs) == 4 and not any(c in s for s in slugs for c in " +(),")
    # Loss settings do not change the architecture; --model-arg does.
    assert plain.arch == tuned.arch == "student_s"
    assert wide.arch == "student_s width_mult=1.4"


def test_summary_statistics_and_latency_per_arch(
    kd_suite: ModuleType, kd_report: ModuleType
) -> None:
    Row = kd_suite.Row
    scratch = Row("student", "student_s")
    wide = Row("student", "student_s", flags=("--model-arg", "width_mult=1.4"))
    records = [_record(scratch, s, m) for s, m in enumerate([50.0, 52.0, 51.0])]
    records += [_record(wide, s, m) for s, m in enumerate([55.0, 54.0])]
    latency = [
        {"row": scratch.name, "backend": "torch", "latency_p50_ms": 10.0, "params": 1, "flops": 1},
        {"row": wide.name, "backend": "torch", "latency_p50_ms": 30.0, "params": 2, "flops": 2},
    ]
    table = {e["row"]: e for e in kd_report.summarise(records, latency)}
    assert table[scratch.name]["miou"] == pytest.approx(51.0)
    assert table[scratch.name]["miou_std"] == pytest.approx(statistics.stdev([50.0, 52.0, 51.0]))
    assert table[wide.name]["seeds"] == [0, 1]
    # Same model name, different widths: each keeps its own latency.
    assert table[scratch.name]["torch_ms"] == 10.0
    assert table[wide.name]["torch_ms"] == 30.0


def test_targets_compare_with_the_scratch_row_of_the_same_arch(
    kd_suite: ModuleType, kd_report: ModuleType
) -> None:
    Row = kd_suite.Row
    flags = ("--model-arg", "width_mult=1.4")
    teacher = Row("teacher", "teacher")
    rows = {
        teacher: 60.0,
        Row("peer", "unet"): 61.0,
        Row("student", "student_s"): 50.0,
        Row("student", "student_s", ("cwd",)): 57.5,
        Row("student", "student_s", flags=flags): 56.0,
        Row("student", "student_s", ("cwd",), flags=flags): 56.9,
    }
    records = [_record(row, 0, miou) for row, miou in rows.items()]
    latency = [
        {"row": teacher.name, "backend": "torch", "latency_p50_ms": 1, "params": 1, "flops": 300},
        {
            "row": "student_s scratch",
            "backend": "torch",
            "latency_p50_ms": 1,
            "params": 1,
            "flops": 10,
        },
    ]
    checks = {c["target"]: c for c in kd_report.targets(kd_report.summarise(records, latency))}
    cwd, wide_cwd = "student_s + cwd", "student_s + cwd (model-arg width_mult=1.4)"
    assert checks[f"{cwd}: mIoU >= 95% of teacher"]["met"]  # 57.5 / 60 = 95.8%
    assert checks[f"{cwd}: >= scratch + 2 mIoU"]["value"] == "+7.50"
    assert not checks[f"{wide_cwd}: mIoU >= 95% of teacher"]["met"]  # 56.9 / 60 = 94.8%
    assert checks[f"{wide_cwd}: >= scratch + 2 mIoU"]["value"] == "+0.90"  # vs its own scratch
    assert not checks[f"{wide_cwd}: >= scratch + 2 mIoU"]["met"]
    assert checks["student_s FLOPs <= teacher / 15"] == {
        "target": "student_s FLOPs <= teacher / 15",
        "value": "1/30.0",
        "met": True,
    }
    assert not checks["teacher beats unet"]["met"]


def _finished_run(folder: Path, epochs: int, miou: float) -> None:
    folder.mkdir(parents=True)
    (folder / "last.pt").write_bytes(b"checkpoint")
    lines = [{"epoch": e, "time_s": 2.0, "images_per_s": 5.0} for e in range(1, epochs + 1)]
    (folder / "log.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    scores = {"mean": {"iou": miou, "dice": miou}, "pixel_accuracy": 0.9, "classes": []}
    (folder / "eval_last.json").write_text(json.dumps(scores))


def test_collect_trains_none_and_rows_select_a_slice(
    kd_suite: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    Row = kd_suite.Row
    config = tmp_path / "recipe.yaml"
    config.write_text(yaml.safe_dump({"epochs": 3, "data": {"img_size": [32, 64]}}))
    out = tmp_path / "runs"
    _finished_run(out / "teacher-s0", 3, 0.6)
    _finished_run(out / "student_s-scratch-s0", 3, 0.5)
    _finished_run(out / "student_s-cwd-s0", 2, 0.55)  # stopped at epoch 2 of 3
    args = argparse.Namespace(
        out=out, config=config, seeds=[0], teacher_seed=0, lanes=2, threads=1, epochs=None,
        only=None, rows=None, collect=True, live_teacher=False, eval_splits=["val"],
    )  # fmt: skip
    suite = kd_suite.Suite(args, "data", [])

    def no_training(cmd: list[str], log: Path) -> None:
        raise AssertionError(f"--collect ran {cmd}")

    monkeypatch.setattr(suite, "_call", no_training)
    rows = [Row("student", "student_s"), Row("student", "student_s", ("cwd",))]
    records = suite.run(Row("teacher", "teacher"), rows)
    assert [(r["row"], r["miou"]) for r in records] == [
        ("teacher", pytest.approx(60.0)),
        ("student_s scratch", pytest.approx(50.0)),
    ]
    assert records[1]["train_s"] == 6.0

    args.rows = ["student_s + cwd"]  # a slice: the teacher and that row only
    records = suite.run(Row("teacher", "teacher"), rows)
    assert [r["row"] for r in records] == ["teacher"]  # the row's one run is unfinished
    other = Row("teacher", "teacher", flags=("--aug-scale", "1,1"))
    records = suite.run([Row("teacher", "teacher"), other], rows)
    assert [r["row"] for r in records] == ["teacher"]  # no kept row learns from the other
    args.rows = ["student_s scratch"]  # a slice that needs no teacher trains none
    records = suite.run(Row("teacher", "teacher"), rows)
    assert [r["row"] for r in records] == ["student_s scratch"]
    args.rows = ["teacher"]  # a teacher row alone: trains it, and none of the students
    records = suite.run(Row("teacher", "teacher"), rows)
    assert [r["row"] for r in records] == ["teacher"]
    args.rows = ["student_s + kd"]
    with pytest.raises(SystemExit) as stop:
        suite.run(Row("teacher", "teacher"), rows)
    assert stop.value.code == 2  # a usage error
    assert "--rows: no row named student_s + kd" in capsys.readouterr().err


def _faked_suite(
    kd_suite: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seeds: list[int]
) -> tuple[Any, list[list[str]]]:
    """A suite over a finished seed-0 teacher (60%) whose runs only record their commands and
    leave finished run folders (new teachers at 62%, students at 55%)."""
    config = tmp_path / "recipe.yaml"
    config.write_text(yaml.safe_dump({"epochs": 3, "data": {"img_size": [32, 64]}}))
    _finished_run(tmp_path / "runs" / "teacher-s0", 3, 0.6)
    args = argparse.Namespace(
        out=tmp_path / "runs", config=config, seeds=seeds, teacher_seed=0, lanes=2, threads=1,
        epochs=None, only=None, rows=None, collect=False, live_teacher=False, eval_splits=["val"],
    )  # fmt: skip
    suite = kd_suite.Suite(args, "data", [])
    calls: list[list[str]] = []

    def fake_training(cmd: list[str], log: Path) -> None:
        calls.append(cmd)
        if "--out" in cmd:
            _finished_run(Path(cmd[cmd.index("--out") + 1]), 3, 0.62 if "train" in cmd else 0.55)

    monkeypatch.setattr(suite, "_call", fake_training)
    return suite, calls


def _after(cmd: list[str], flag: str) -> str:
    return cmd[cmd.index(flag) + 1]


def test_a_later_seed_alone_learns_from_the_seed_0_teacher(
    kd_suite: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--seeds 1`` trains seed 1 of the students from the finished seed-0 teacher; it once
    trained a new seed-1 teacher first."""
    Row = kd_suite.Row
    suite, calls = _faked_suite(kd_suite, tmp_path, monkeypatch, seeds=[1])
    records = suite.run(Row("teacher", "teacher"), [Row("student", "student_s", ("cwd",))])
    assert [(r["row"], r["seed"]) for r in records] == [("teacher", 0), ("student_s + cwd", 1)]
    (distill,) = [cmd for cmd in calls if "distill" in cmd]
    assert _after(distill, "--teacher") == str(tmp_path / "runs" / "teacher-s0" / "last.pt")
    assert _after(distill, "--seed") == "1"
    assert not any("train" in cmd for cmd in calls)  # no new teacher


def test_an_ensemble_row_trains_and_averages_another_seed_of_its_teacher(
    kd_suite: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Row = kd_suite.Row
    suite, calls = _faked_suite(kd_suite, tmp_path, monkeypatch, seeds=[0])
    taught = Row("student", "student_s", ("dist",), ensemble=(1,))
    assert taught.name == "student_s + dist (ensemble with seed 1)"
    records = suite.run(Row("teacher", "teacher"), [taught])
    # The second teacher is trained and scored, but the teacher row stays the seed-0 run.
    assert [(r["row"], r["seed"], r["miou"]) for r in records] == [
        ("teacher", 0, pytest.approx(60.0)),
        (taught.name, 0, pytest.approx(55.0)),
    ]
    out = tmp_path / "runs"
    (train,) = [cmd for cmd in calls if "train" in cmd]
    assert _after(train, "--seed") == "1" and _after(train, "--out") == str(out / "teacher-s1")
    (distill,) = [cmd for cmd in calls if "distill" in cmd]
    assert _after(distill, "--teacher") == str(out / "teacher-s0" / "last.pt")
    assert _after(distill, "--ensemble") == str(out / "teacher-s1" / "last.pt")
    assert (out / "teacher-s1" / "eval_last.json").is_file()
