"""The patience study's bookkeeping (``benchmarks/bench_kd_patience.py`` and its row sets,
``benchmarks/suites/kd_patience.yaml``): each distilled row is compared with the scratch row of
the same student, schedule and scale/crop setting; the convergence figure is the last
quarter's holdout gain; headline rows get every seed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmark_scripts import BENCHMARKS, load_benchmark

SUITES = BENCHMARKS / "suites" / "kd_patience.yaml"
NO_SCALE = ("--aug-scale", "1,1")
WIDE = ("--model-arg", "width_mult=2")
TTA = ("--tta-scales", "1,1.5")
KL_T1 = ("--temperature", "1")
LONG, LONGER, LONGEST = 24, 48, 96


@pytest.fixture(scope="module")
def patience() -> ModuleType:
    return load_benchmark("bench_kd_patience")


@pytest.fixture(scope="module")
def row_sets() -> ModuleType:
    return load_benchmark("row_sets")


def _student(model: str, kd: tuple[str, ...], flags: tuple[str, ...], epochs: int, **kw):
    row_sets = load_benchmark("row_sets")
    return row_sets.Row("student", model, kd, bool(kd), flags, epochs, **kw)


def _sets(row_sets: ModuleType, data: str = "/idd") -> tuple[dict, dict]:
    return row_sets.load_sets(SUITES, data)


def _record(row, seed: int, holdout: float, val: float, curve: list[float]) -> dict:
    return {"row": row.name, "seed": seed, "epochs": row.epochs, "train_s": 10.0,
            "split_miou": {"holdout": holdout, "val": val}, "curve": curve}  # fmt: skip


def test_gains_are_against_the_matching_scratch_row(patience: ModuleType) -> None:
    s = _student
    no_scale = NO_SCALE
    rows = {
        s("student_s", (), (), 24): (50.0, 51.0),
        s("student_s", (), no_scale, 24): (53.0, 54.0),
        s("student_s", ("cwd",), (), 24): (54.0, 56.0),
        s("student_s", ("cwd",), no_scale, 24, teacher="teacher (aug-scale 1,1)"): (55.0, 55.5),
        s("student_s", (), (), 6): (40.0, 41.0),
    }
    curve = [10.0, 20.0, 30.0, 40.0, 48.0, 49.0, 49.5, 49.2]  # last quarter: 49.0 -> 49.5
    records = [_record(r, 0, h, v, curve) for r, (h, v) in rows.items()]
    table = {e["row"]: e for e in patience.summarise(list(rows), records)}
    cwd = table["student_s + cwd (24 ep)"]
    assert cwd["holdout_gain"] == pytest.approx(4.0) and cwd["val_gain"] == pytest.approx(5.0)
    other = table["student_s + cwd (24 ep, aug-scale 1,1, from teacher (aug-scale 1,1))"]
    assert other["val_gain"] == pytest.approx(1.5)  # against scratch without scale/crop
    assert not other["scale_crop"] and cwd["scale_crop"]
    assert "val_gain" not in table["student_s scratch (6 ep)"]
    assert cwd["last_quarter_gain"] == pytest.approx(0.5)
    wide = WIDE
    q_rows = {
        s("student_q", (), (), 24): (50.0, 52.0),
        s("student_q", (), wide, 24): (52.0, 53.0),
        s("student_q", ("dist",), wide, 24): (53.0, 55.5),
    }
    q_records = [_record(r, 0, h, v, curve) for r, (h, v) in q_rows.items()]
    q_table = {e["row"]: e for e in patience.summarise(list(q_rows), q_records)}
    q_dist = q_table["student_q + dist (24 ep, model-arg width_mult=2)"]
    assert q_dist["val_gain"] == pytest.approx(2.5)  # against the wide scratch row
    assert "| student_s + cwd (24 ep) | 1 | 54.00 | 56.00 | +4.00 | +5.00 | +0.50 | 10 |" in (
        patience.markdown(list(table.values()))
    )


def test_headline_rows_get_every_seed_except_while_selecting(
    patience: ModuleType, row_sets: ModuleType
) -> None:
    seeds = [0, 1, 2]
    final = row_sets.load_suite(SUITES, "final", "idd20k_lite")
    rows = final.rows
    head, other = rows[0], next(r for r in rows if r.epochs == 6)
    assert final.seeds_of(head, seeds) == [0, 1, 2] and final.seeds_of(other, seeds) == [0]
    unlabelled = sorted((r for r in rows if "--unlabeled" in r.flags), key=lambda r: r.epochs)
    assert [(r.epochs, final.seeds_of(r, seeds)) for r in unlabelled] == [
        (24, [0, 1, 2]), (48, [0])
    ]  # fmt: skip
    assert unlabelled[0].flags[-1] == "idd20k_lite/leftImg8bit/test"
    longer = row_sets.load_suite(SUITES, "longer", "idd20k_lite").rows
    assert [(r.kd, "--unlabeled" in r.flags) for r in longer] == [
        ((), False), (("dist",), False), (("dist",), True)
    ]  # fmt: skip
    long_suite = row_sets.load_suite(SUITES, "long_teacher", "idd20k_lite")
    long_rows = long_suite.rows  # teacher as long
    assert [t.name for t in long_suite.teachers] == ["teacher (48 ep, amp bf16)"]
    scratch, wide_scratch, dist, frames, wide, wide_frames, *rest = long_rows
    tta, tta_frames, kl, kl_frames, two, two_frames = rest
    taught = (dist, frames, wide, wide_frames, *rest)
    assert {r.teacher for r in taught} == {"teacher (48 ep, amp bf16)"}
    assert "--unlabeled" in frames.flags and "--unlabeled" not in dist.flags
    assert tta.flags == dist.flags + TTA and tta_frames.flags == frames.flags + TTA
    assert kl.kd == kl_frames.kd == ("dist", "kl") and dist.kd == ("dist",)
    assert kl.flags == dist.flags + KL_T1 and "--unlabeled" in kl_frames.flags
    assert (two, two_frames) == (replace(dist, ensemble=(1,)), replace(frames, ensemble=(1,)))
    assert not any(r.ensemble for r in long_rows[:-2])
    for row in (dist, frames, tta, tta_frames, kl, kl_frames, two, two_frames):  # same data
        assert patience._scratch_of(row) == scratch
    assert patience._scratch_of(wide) == wide_scratch != scratch  # gain against its own width
    assert patience._scratch_of(wide_frames) == wide_scratch
    assert wide_frames.flags == frames.flags + WIDE and wide_frames.kd == ("dist",)
    assert wide.arch == wide_frames.arch == wide_scratch.arch == "student_s width_mult=2"
    assert {r.epochs for r in long_rows} == {48}
    assert all(long_suite.seeds_of(r, seeds) == [0, 1, 2] for r in long_rows)
    select = row_sets.load_suite(SUITES, "select", "idd20k_lite")
    assert select.seeds_of(head, seeds) == [0] and select.eval_splits == ("holdout",)
    names = [r.name for r in rows]
    assert len(names) == len(set(names))  # no row twice
    scratch_suite = row_sets.load_suite(SUITES, "scratch", "idd20k_lite")
    assert scratch_suite.teachers == [] and scratch_suite.rows == [r for r in rows if not r.kd]


def test_every_row_of_a_committed_result_is_in_its_suite(row_sets: ModuleType) -> None:
    """Row names are run folders and result rows: each suite still makes every row its
    committed result JSON holds (those runs read the data from this path)."""
    import json

    results = sorted((BENCHMARKS / "results").glob("kd_patience_*.json"))
    assert results
    # Run before student_q's rows named their decoder (the default then was nearest).
    unnamed = {"student_q scratch (24 ep)", "student_q + dist (24 ep)"}
    for path in results:
        result = json.loads(path.read_text())
        name = result.get("suite") or result["stage"]
        suite = row_sets.load_suite(SUITES, name, "/work/shared/datasets/idd20k_lite")
        made = {r.name for r in suite.teachers + suite.rows}
        assert {e["row"] for e in result["table"]} - unnamed <= made, path.name


def test_bilinear_decoder_rows_pair_with_their_own_scratch_row(
    patience: ModuleType, row_sets: ModuleType
) -> None:
    """student_q with a bilinear decoder, at both widths: every distilled row (from either
    teacher, with or without the unlabelled frames) is scored against the scratch row with the
    same decoder, width and schedule, and every row names its decoder in its arch (costs and
    latency are per arch), so that a row means one model whatever the default is."""
    rows = _sets(row_sets)[1]["student_q"]
    assert all("decoder_upsample=" in r.arch for r in rows)
    bilinear = [r for r in rows if "decoder_upsample=bilinear" in r.flags]
    scratch = {(r.arch, r.epochs): r for r in bilinear if not r.kd}
    assert sorted(scratch) == [
        ("student_q decoder_upsample=bilinear", 24),
        ("student_q decoder_upsample=bilinear", 48),
        ("student_q decoder_upsample=bilinear", 96),
        ("student_q width_mult=2 decoder_upsample=bilinear", 48),
    ]
    distilled = [r for r in bilinear if r.kd]
    assert len(distilled) == 9 and all(r.kd == ("dist",) for r in distilled)
    for dist in distilled:
        assert patience._scratch_of(dist) == scratch[dist.arch, dist.epochs]
    nearest = {r.arch for r in rows if "decoder_upsample=nearest" in r.flags}
    assert nearest == {
        "student_q decoder_upsample=nearest",
        "student_q width_mult=2 decoder_upsample=nearest",
    }
    assert scratch["student_q width_mult=2 decoder_upsample=bilinear", 48].name == (
        "student_q scratch (48 ep, model-arg width_mult=2, model-arg decoder_upsample=bilinear)"
    )


def test_bf16_teacher_rows_distil_both_decoders_from_one_teacher(row_sets: ModuleType) -> None:
    """The same-teacher comparison of the two decoders: both distilled rows learn from the bf16
    teacher of the recipe's length, which the student_q stage trains. At twice the schedule the
    bilinear decoder learns from it on the training split and with IDD-Lite's test frames."""
    teachers, sets = _sets(row_sets)
    rows = [r for r in sets["student_q"] if r.teacher == "teacher (amp bf16)"]
    short = [r for r in rows if r.epochs == LONG]
    assert {r.arch for r in short} == {
        "student_q decoder_upsample=nearest",
        "student_q decoder_upsample=bilinear",
    }
    long = [r for r in rows if r.epochs == LONGER]
    assert {r.arch for r in long} == {"student_q decoder_upsample=bilinear"}
    unlabelled = [
        r.flags[r.flags.index("--unlabeled") + 1] for r in long if "--unlabeled" in r.flags
    ]
    assert len(long) == 2 and unlabelled == ["/idd/leftImg8bit/test"]
    teacher = teachers["teacher_bf16"]
    assert teacher.epochs == teachers["teacher"].epochs and teacher.flags == ("--amp", "bf16")


def test_larger_teacher_rows_see_frames_at_the_size_it_was_trained_at(
    patience: ModuleType, row_sets: ModuleType
) -> None:
    """The rows distilled from the teacher trained at 1.5x the sides let it see the frames at
    that size, and are the bf16-teacher rows in every other respect (same scratch row)."""
    teachers, sets = _sets(row_sets)
    rows = sets["student_q"]
    teacher = teachers["teacher_large"]
    large = [r for r in rows if r.teacher == teacher.name]
    size = teacher.flags[teacher.flags.index("--img-size") + 1]
    assert size == "144x192" and teacher.flags[:2] == ("--amp", "bf16")
    assert sorted(r.epochs for r in large) == [48, 48, 96, 96]
    for row in large:
        assert row.flags[-2:] == ("--teacher-size", size)
        if row.epochs == LONGER:
            twin = replace(row, flags=row.flags[:-2], teacher=teachers["teacher_bf16"].name)
            assert twin in rows
            assert patience._scratch_of(row) == patience._scratch_of(twin)
        else:  # twice the schedule: the same rows, against a scratch row as long
            assert replace(row, epochs=LONGER) in large
            assert patience._scratch_of(row) in rows
            assert patience._scratch_of(row).epochs == LONGEST


def test_student_q_figure_has_one_line_per_teacher_and_frames(
    patience: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The small student's gain against schedule: one line per teacher (with and without the
    unlabelled frames), each point the val gain over the scratch row of the same schedule;
    student_s rows of the same table stay out of it."""
    s, flags = _student, ("--model-arg", "decoder_upsample=bilinear")
    frames = ("--unlabeled", "/idd/leftImg8bit/test")
    large = "teacher (amp bf16, img-size 144x192)"
    rows = {
        s("student_q", (), flags, 48): 57.0,
        s("student_q", (), flags, 96): 58.0,
        s("student_q", ("dist",), flags, 48, teacher=large): 57.5,
        s("student_q", ("dist",), flags, 96, teacher=large): 58.25,
        s("student_q", ("dist",), flags + frames, 48, teacher=large): 58.5,
        s("student_q", ("dist",), flags, 48, teacher="teacher (amp bf16)"): 57.25,
        s("student_s", (), (), 48): 50.0,
        s("student_s", ("dist",), (), 48): 59.0,
    }
    records = [_record(r, 0, v, v, [v] * 8) for r, v in rows.items()]
    table = patience.summarise(list(rows), records)
    figures = []
    monkeypatch.setattr(patience, "save_figure", lambda fig, path: figures.append(fig))
    patience.plot(table, Path("unused.png"), "student_q")
    (ax,) = figures[0].axes
    lines = {line.get_label(): line.get_xydata().tolist() for line in ax.get_lines()}
    assert {k: v for k, v in lines.items() if not k.startswith("_")} == {
        f"from {large}": [[48.0, 0.5], [96.0, 0.25]],
        f"from {large}, + 404 unlabelled frames": [[48.0, 1.5]],
        "from teacher (amp bf16)": [[48.0, 0.25]],
    }


def test_curve_gains_follow_the_gap_through_the_same_run(patience: ModuleType) -> None:
    """The within-run gain is the distilled row's mean holdout curve minus its scratch row's,
    epoch by epoch, read at each quarter: here it shrinks from +4 to +0.5, faster convergence."""
    s = _student
    scratch, dist = s("student_q", (), (), 8), s("student_q", ("dist",), (), 8)
    base = [10.0, 20.0, 30.0, 40.0, 44.0, 46.0, 47.0, 48.0]
    records = [
        _record(scratch, 0, 48.0, 49.0, base),
        _record(scratch, 1, 48.0, 49.0, [b + 2.0 for b in base]),  # mean curve: base + 1
        _record(dist, 0, 49.5, 50.0, [b + 5.0 if i < 2 else b + 1.5 for i, b in enumerate(base)]),
    ]
    table = {e["row"]: e for e in patience.summarise([scratch, dist], records)}
    gain = table["student_q + dist (8 ep)"]["holdout_curve_gain"]
    assert gain == pytest.approx([4.0, 4.0] + [0.5] * 6)
    assert "holdout_curve_gain" not in table["student_q scratch (8 ep)"]
    text = patience.curve_gains_markdown(list(table.values()))
    assert "| student_q + dist (8 ep) | 1 | 2: +4.00, 4: +0.50, 6: +0.50, 8: +0.50 |" in text


def test_pretrained_distilled_row_is_compared_with_the_pretrained_student_alone(
    patience: ModuleType, row_sets: ModuleType
) -> None:
    """The gain of distillation is over the same ImageNet-started student, not over the
    student from random weights (that difference is ImageNet's, not the teacher's)."""
    teachers, sets = _sets(row_sets)
    random_init, alone, _, distilled, from_large = sets["pretrained"]
    for row in (distilled, from_large):
        assert patience._scratch_of(row) == alone
        assert patience._scratch_of(row) != random_init
    assert distilled.teacher == teachers["teacher_lite2"].name
    assert from_large.teacher == teachers["teacher_lite2_large"].name
    assert "--teacher-size" in from_large.flags
