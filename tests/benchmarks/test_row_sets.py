"""The accuracy studies' row sets (``benchmarks/row_sets.py`` over ``benchmarks/suites/``):
every suite of every file loads; ``{data}`` is filled in; peers and teachers train on the
first seed unless a file says otherwise; mistakes in a file stop with a line naming them."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmark_scripts import BENCHMARKS, load_benchmark

FILES = sorted((BENCHMARKS / "suites").glob("*.yaml"))


@pytest.fixture(scope="module")
def row_sets() -> ModuleType:
    return load_benchmark("row_sets")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_every_suite_loads_with_unique_rows_and_known_teachers(
    row_sets: ModuleType, path: Path
) -> None:
    for name in row_sets.suite_names(path):
        suite = row_sets.load_suite(path, name, "/data")
        names = [r.name for r in suite.teachers + suite.rows]
        assert len(names) == len(set(names)), name
        taught = {r.teacher for r in suite.rows if r.kd}
        assert taught <= {t.name for t in suite.teachers}, name
        assert all(r.group in ("student", "peer") for r in suite.rows)
        assert all(t.group == "teacher" for t in suite.teachers)


def test_data_is_filled_in_and_precompute_follows_kd(row_sets: ModuleType) -> None:
    path = BENCHMARKS / "suites" / "kd_patience.yaml"
    unlabelled = row_sets.load_suite(path, "unlabeled", "/idd").rows[-1]
    assert unlabelled.flags == ("--unlabeled", "/idd/leftImg8bit/test")
    assert unlabelled.name == "student_s + dist (24 ep, unlabeled /idd/leftImg8bit/test)"
    grid = row_sets.load_suite(BENCHMARKS / "suites" / "idd_lite.yaml", "grid")
    by_name = {r.name: r for r in grid.rows}
    assert by_name["student_s + kl+cwd"].precompute  # logit terms: cached targets
    assert not by_name["student_s + kl+feat"].precompute  # features need the live teacher
    assert not by_name["student_s scratch"].precompute


def test_without_every_seed_students_get_every_seed_and_peers_one(
    row_sets: ModuleType,
) -> None:
    kd_suite = load_benchmark("kd_suite")
    import argparse

    grid = row_sets.load_suite(BENCHMARKS / "suites" / "idd_lite.yaml", "grid")
    assert grid.every_seed is None
    suite = kd_suite.Suite.__new__(kd_suite.Suite)
    suite.args, suite.row_set = argparse.Namespace(seeds=[0, 1, 2]), grid
    peer = next(r for r in grid.rows if r.group == "peer")
    student = next(r for r in grid.rows if r.group == "student")
    assert suite.seeds_of(peer) == [0] and suite.seeds_of(student) == [0, 1, 2]
    full = row_sets.load_suite(BENCHMARKS / "suites" / "idd_lite.yaml", "full_grid")
    assert set(grid.rows) < set(full.rows)
    assert [r.name for r in set(full.rows) - set(grid.rows)] == ["student_xs + kl+cwd"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sets: {}\n", "no `suites`"),
        ("sets: {a: [{model: m, kd: [x], colour: red}]}\nsuites: {s: {teachers: [], sets: [a]}}\n",
         "unknown key colour"),
        ("sets: {a: [{model: m}]}\nsuites: {s: {teachers: [t], sets: [a, b]}}\n",
         "no set or teacher b, t"),
        ("teachers: {t: {model: teacher}}\nsets: {a: [{model: m, kd: [x], teacher: u}]}\n"
         "suites: {s: {teachers: [t], sets: [a]}}\n", "no teacher 'u'"),
    ],
)  # fmt: skip
def test_a_wrong_file_stops_with_one_line(
    row_sets: ModuleType, tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "rows.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit, match=message):
        row_sets.load_suite(path, "s")


def test_an_unknown_suite_names_the_suites(row_sets: ModuleType) -> None:
    with pytest.raises(SystemExit, match="has grid, full_grid, variants"):
        row_sets.load_suite(BENCHMARKS / "suites" / "idd_lite.yaml", "nope")
