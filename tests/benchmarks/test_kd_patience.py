"""The patience suite's bookkeeping (``benchmarks/bench_kd_patience.py``): each distilled row is
compared with the scratch row of the same student, schedule and scale/crop setting; the
convergence figure is the last quarter's holdout gain; headline rows get every seed."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def patience() -> ModuleType:
    return load_benchmark("bench_kd_patience")


def _record(row, seed: int, holdout: float, val: float, curve: list[float]) -> dict:
    return {"row": row.name, "seed": seed, "epochs": row.epochs, "train_s": 10.0,
            "split_miou": {"holdout": holdout, "val": val}, "curve": curve}  # fmt: skip


def test_gains_are_against_the_matching_scratch_row(patience: ModuleType) -> None:
    s = patience._student
    no_scale = patience.NO_SCALE
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
    wide = patience.WIDE
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


def test_headline_rows_get_every_seed_except_while_selecting(patience: ModuleType) -> None:
    args = argparse.Namespace(seeds=[0, 1, 2], stage="final")
    suite = patience.PatienceSuite.__new__(patience.PatienceSuite)
    suite.args, suite.data = args, "idd20k_lite"
    rows = patience.final_rows(Path(suite.data))
    head, other = patience.headline_rows()[0], rows[-1]
    assert suite.seeds_of(head) == [0, 1, 2] and suite.seeds_of(other) == [0]
    unlabelled = [r for r in rows if "--unlabeled" in r.flags]
    assert [(r.epochs, suite.seeds_of(r)) for r in unlabelled] == [(24, [0, 1, 2]), (48, [0])]
    longer = patience.longer_rows(Path(suite.data))
    assert [(r.kd, "--unlabeled" in r.flags) for r in longer] == [
        ((), False), (("dist",), False), (("dist",), True)
    ]  # fmt: skip
    long_rows = patience.long_teacher_rows(Path(suite.data))  # teacher as long
    scratch, wide_scratch, dist, frames, wide, wide_frames, *rest = long_rows
    tta, tta_frames, kl, kl_frames, two, two_frames = rest
    taught = (dist, frames, wide, wide_frames, *rest)
    assert {r.teacher for r in taught} == {"teacher (48 ep, amp bf16)"}
    assert "--unlabeled" in frames.flags and "--unlabeled" not in dist.flags
    assert (
        tta.flags == dist.flags + patience.TTA and tta_frames.flags == frames.flags + patience.TTA
    )
    assert kl.kd == kl_frames.kd == ("dist", "kl") and dist.kd == ("dist",)
    assert kl.flags == dist.flags + patience.KL_T1 and "--unlabeled" in kl_frames.flags
    assert (two, two_frames) == (replace(dist, ensemble=(1,)), replace(frames, ensemble=(1,)))
    assert not any(r.ensemble for r in long_rows[:-2])
    for row in (dist, frames, tta, tta_frames, kl, kl_frames, two, two_frames):  # same data
        assert patience._scratch_of(row) == scratch
    assert patience._scratch_of(wide) == wide_scratch != scratch  # gain against its own width
    assert patience._scratch_of(wide_frames) == wide_scratch
    assert wide_frames.flags == frames.flags + patience.WIDE and wide_frames.kd == ("dist",)
    assert wide.arch == wide_frames.arch == wide_scratch.arch == "student_s width_mult=2"
    assert {r.epochs for r in long_rows} == {48}
    assert all(suite.seeds_of(r) == [0, 1, 2] for r in long_rows)
    args.stage = "select"
    assert suite.seeds_of(head) == [0]
    names = [r.name for r in rows]
    assert len(names) == len(set(names))  # no row twice


def test_bilinear_decoder_rows_pair_with_their_own_scratch_row(patience: ModuleType) -> None:
    """student_q with a bilinear decoder, at both widths: every distilled row (from either
    teacher, with or without the unlabelled frames) is scored against the scratch row with the
    same decoder, width and schedule, and every row names its decoder in its arch (costs and
    latency are per arch), so that a row means one model whatever the default is."""
    rows = patience.student_q_rows(Path("/idd"))
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


def test_bf16_teacher_rows_distil_both_decoders_from_one_teacher(patience: ModuleType) -> None:
    """The same-teacher comparison of the two decoders: both distilled rows learn from the bf16
    teacher of the recipe's length, which the student_q stage trains. At twice the schedule the
    bilinear decoder learns from it on the training split and with IDD-Lite's test frames."""
    rows = [r for r in patience.student_q_rows(Path("/idd")) if r.teacher == "teacher (amp bf16)"]
    short = [r for r in rows if r.epochs == patience.LONG]
    assert {r.arch for r in short} == {
        "student_q decoder_upsample=nearest",
        "student_q decoder_upsample=bilinear",
    }
    long = [r for r in rows if r.epochs == patience.LONGER]
    assert {r.arch for r in long} == {"student_q decoder_upsample=bilinear"}
    unlabelled = [
        r.flags[r.flags.index("--unlabeled") + 1] for r in long if "--unlabeled" in r.flags
    ]
    assert len(long) == 2 and unlabelled == ["/idd/leftImg8bit/test"]
    teacher = patience.TEACHER_BF16
    assert teacher.epochs == patience.TEACHER.epochs and teacher.flags == ("--amp", "bf16")


def test_larger_teacher_rows_see_frames_at_the_size_it_was_trained_at(patience: ModuleType) -> None:
    """The rows distilled from the teacher trained at 1.5x the sides let it see the frames at
    that size, and are the bf16-teacher rows in every other respect (same scratch row)."""
    rows = patience.student_q_rows(Path("/idd"))
    large = [r for r in rows if r.teacher == patience.TEACHER_LARGE.name]
    teacher = patience.TEACHER_LARGE
    size = teacher.flags[teacher.flags.index("--img-size") + 1]
    assert size == "144x192" and teacher.flags[:2] == ("--amp", "bf16")
    assert sorted(r.epochs for r in large) == [48, 48, 96, 96]
    for row in large:
        assert row.flags[-2:] == ("--teacher-size", size)
        if row.epochs == patience.LONGER:
            twin = replace(row, flags=row.flags[:-2], teacher=patience.TEACHER_BF16.name)
            assert twin in rows
            assert patience._scratch_of(row) == patience._scratch_of(twin)
        else:  # twice the schedule: the same rows, against a scratch row as long
            assert replace(row, epochs=patience.LONGER) in large
            assert patience._scratch_of(row) in rows
            assert patience._scratch_of(row).epochs == patience.LONGEST


def test_student_q_figure_has_one_line_per_teacher_and_frames(
    patience: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The small student's gain against schedule: one line per teacher (with and without the
    unlabelled frames), each point the val gain over the scratch row of the same schedule;
    student_s rows of the same table stay out of it."""
    s, flags = patience._student, ("--model-arg", "decoder_upsample=bilinear")
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
    s = patience._student
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


def test_pretrained_distilled_row_is_compared_with_the_pretrained_student_alone(patience) -> None:
    """The gain of distillation is over the same ImageNet-started student, not over the
    student from random weights (that difference is ImageNet's, not the teacher's)."""
    random_init, alone, _, distilled = patience.pretrained_rows()
    assert patience._scratch_of(distilled) == alone
    assert patience._scratch_of(distilled) != random_init
    assert distilled.teacher == patience.TEACHER_LITE2.name
