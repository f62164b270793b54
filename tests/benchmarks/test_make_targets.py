"""``make bench`` runs every speed benchmark BENCHMARKS.md cites and ``make bench-accuracy``
every accuracy suite; each target's comment states its time; no benchmark script imports
another (shared code lives in helper modules that are not scripts)."""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import sys
from pathlib import Path

import pytest

from tests.benchmark_scripts import BENCHMARKS, load_benchmark

ROOT = BENCHMARKS.parent
# Scripts that measure accuracy (trained runs, datasets); every other cited one is a speed one.
ACCURACY = {
    "bench_idd_lite",
    "bench_kd_synthetic",
    "bench_kd_patience",
    "bench_int8_student",
    "bench_teacher_tta",
    "bench_encoder_padding",
    "bench_demo_pretrained",
}
# Scripts BENCHMARKS.md names whose numbers need a trained teacher the accuracy suites make.
NEEDS_TEACHER = {"bench_kd_cost", "bench_teacher_targets"}


def _target(name: str) -> tuple[str, str]:
    """The comment of the Makefile block that defines a target, and the target's recipe."""
    for block in (ROOT / "Makefile").read_text().split("\n\n"):
        lines = block.splitlines()
        heads = [i for i, line in enumerate(lines) if line.startswith(f"{name}:")]
        if heads:
            comment = "\n".join(line for line in lines if line.startswith("#"))
            recipe = "\n".join(line for line in lines[heads[0] + 1 :] if line.startswith("\t"))
            return comment, recipe
    raise AssertionError(f"no target {name}")


def _scripts(text: str) -> set[str]:
    return set(re.findall(r"benchmarks/(bench_\w+)\.py", text))


def test_make_bench_runs_every_cited_speed_benchmark() -> None:
    cited = _scripts((ROOT / "BENCHMARKS.md").read_text())
    comment, recipe = _target("bench")
    speed = cited - ACCURACY - NEEDS_TEACHER
    assert speed and speed <= _scripts(recipe.replace("$(RUN)/", "benchmarks/"))
    assert "bench_kd_cost" in recipe  # with TEACHER=...
    assert re.search(r"\d+(\.\d+)? hours?", comment)


def test_make_bench_accuracy_runs_every_accuracy_suite() -> None:
    comment, recipe = _target("bench-accuracy")
    run = _scripts(recipe.replace("$(RUN)/", "benchmarks/"))
    assert run >= ACCURACY
    makefile = (ROOT / "Makefile").read_text()
    listed = re.search(r"^PATIENCE_SUITES := (.*)$", makefile, re.M).group(1).split()
    row_sets = load_benchmark("row_sets")
    suites = row_sets.suite_names(BENCHMARKS / "suites" / "kd_patience.yaml")
    assert set(listed) == set(suites) - {"scratch"}  # scratch: a slice of final
    assert "hours" in comment and "days" in comment


def test_no_benchmark_script_imports_another() -> None:
    # Benchmark scripts: bench_*.py and plot_*.py (edge_inputs.py makes CI's inputs).
    scripts = {p.stem for p in BENCHMARKS.glob("*.py") if p.stem.startswith(("bench_", "plot_"))}
    for path in BENCHMARKS.glob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not (imported & (scripts - {path.stem})), path.name
    helpers = {"harness", "int8_files", "op_profile", "kd_suite", "kd_report", "row_sets"}
    for name in helpers:  # helpers are modules, not scripts
        assert "__main__" not in (BENCHMARKS / f"{name}.py").read_text(), name
    assert Path(BENCHMARKS / "suites").is_dir()


class _Parsed(Exception):
    """Raised once a script's parser has accepted its command line."""


def _commands(target: str) -> list[list[str]]:
    """The benchmark command lines of a Makefile target, its variables filled in (a ``for``
    over a variable becomes one line per value)."""
    text = (ROOT / "Makefile").read_text()
    values = dict(re.findall(r"^(\w+) [:?]?= (.*)$", text, re.M))
    values["RUN"] = "python benchmarks"
    recipe = _target(target)[1].replace("\\\n", " ")
    lines = []
    for line in recipe.splitlines():
        loop = re.search(r"for (\w+) in \$\((\w+)\); do (.*?)\|\|", line)
        expanded = [line]
        if loop:
            name, var, body = loop.groups()
            expanded = [body.replace(f"$${name}", v) for v in values[var].split()]
        for one in expanded:
            one = re.sub(r"\$\((\w+)\)", lambda m: values.get(m.group(1), "x"), one)
            lines += [c.strip() for c in re.split(r"&&|;|then|else", one) if "benchmarks/" in c]
    return [shlex.split(line)[1:] for line in lines]


def _parse_only(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the script's ``main`` until its parser has read ``argv``: a wrong flag exits 2."""
    original = argparse.ArgumentParser.parse_args

    def parse(self, args=None, namespace=None):
        original(self, args, namespace)
        raise _Parsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse)
    monkeypatch.setattr(sys, "argv", argv)
    module = load_benchmark(Path(argv[0]).stem)
    with pytest.raises(_Parsed):
        module.main()


@pytest.mark.parametrize("target", ["bench", "bench-accuracy"])
def test_every_make_command_line_is_accepted_by_its_script(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _commands(target)
    assert len(commands) >= 6
    for argv in commands:
        _parse_only(argv, monkeypatch)
