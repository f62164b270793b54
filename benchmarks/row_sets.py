"""The accuracy studies' row sets, read from ``benchmarks/suites/*.yaml``.

Which rows a study trains is data, not code: each YAML file names its teachers, its sets of
rows and its suites (a suite: the teachers, the sets it concatenates and how it scores), and a
script runs one suite by name (``--suite``). Row names, and so run folders and the rows of
result JSONs, derive from a row's fields (:class:`Row`). Not a script: imported by
``kd_suite.py`` and the accuracy scripts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True)
class Row:
    """One line of the results table: a model trained one way (over one or more seeds)."""

    group: str  # "teacher", "peer" or "student"
    model: str
    kd: tuple[str, ...] = ()  # KD terms; empty: trained from the labels alone
    precompute: bool = False  # teacher logits computed once (logit terms only)
    flags: tuple[str, ...] = ()  # extra CLI flags, e.g. ("--lambda-cwd", "10"), named in the row
    epochs: int | None = None  # None: the recipe's
    teacher: str = "teacher"  # name of the teacher row a distilled row learns from
    # More seeds of that teacher row, averaged with it (``distill --ensemble``)
    ensemble: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        if self.group != "student":
            name = self.model
        else:
            name = f"{self.model} " + ("scratch" if not self.kd else "+ " + "+".join(self.kd))
        pairs = zip(self.flags[::2], self.flags[1::2], strict=True)
        options = [f"{flag.lstrip('-')} {value}" for flag, value in pairs]
        if self.epochs is not None:
            options.insert(0, f"{self.epochs} ep")
        if self.kd and self.teacher != "teacher":
            options.append(f"from {self.teacher}")
        if self.kd and self.ensemble:
            options.append(f"ensemble with seed {','.join(map(str, self.ensemble))}")
        return f"{name} ({', '.join(options)})" if options else name

    @property
    def arch(self) -> str:
        """The model and its ``--model-arg`` values: rows of one arch share costs and latency."""
        pairs = zip(self.flags[::2], self.flags[1::2], strict=True)
        return " ".join([self.model, *(value for flag, value in pairs if flag == "--model-arg")])

    @property
    def slug(self) -> str:
        """The name as a folder name: every run of other characters becomes one ``-``."""
        return re.sub(r"[^A-Za-z0-9_]+", "-", self.name.replace(" + ", "-")).strip("-")


SUITES = Path(__file__).resolve().parent / "suites"
ROW_KEYS = {"group", "model", "kd", "epochs", "flags", "teacher", "ensemble", "precompute"}
SUITE_KEYS = {
    "teachers",
    "sets",
    "eval_splits",
    "first_seed_only",
    "scratch_only",
    "figure",
    "figure_model",
    "results",
}


@dataclass(frozen=True)
class RowSet:
    """One suite of a YAML file, its rows built: what a script trains and scores."""

    name: str
    teachers: list[Row]
    rows: list[Row]
    every_seed: frozenset[Row] | None = None  # rows trained over every seed; None: students
    first_seed_only: bool = False
    eval_splits: tuple[str, ...] | None = None  # None: the script's own
    options: dict[str, Any] = field(default_factory=dict)  # figure, figure_model, results
    recipe: dict[str, Any] = field(default_factory=dict)  # the file's `recipe`, if any

    def seeds_of(self, row: Row, seeds: list[int]) -> list[int]:
        """Every seed for the rows of the file's ``every_seed`` sets, the first for others."""
        every = self.every_seed or frozenset()
        return seeds if row in every and not self.first_seed_only else seeds[:1]


def read(path: Path) -> dict[str, Any]:
    """The YAML file as a mapping, with a one-line error naming the file when it is not."""
    text = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(text, dict) or "suites" not in text:
        raise SystemExit(f"{path}: not a row-set file (no `suites`)")
    return text


def suite_names(path: Path) -> list[str]:
    return list(read(path)["suites"])


def make_row(spec: dict[str, Any], teachers: dict[str, Row], data: str, group: str) -> Row:
    """The :class:`Row` of one YAML row; ``{data}`` in a flag becomes ``data``."""
    unknown = set(spec) - ROW_KEYS
    if unknown:
        raise SystemExit(f"row {spec}: unknown key {', '.join(sorted(unknown))}")
    kd = tuple(spec.get("kd", ()))
    teacher = spec.get("teacher", "teacher")
    if teacher not in teachers and teachers:
        raise SystemExit(f"row {spec}: no teacher {teacher!r} (have {', '.join(teachers)})")
    return Row(
        spec.get("group", group),
        spec["model"],
        kd,
        precompute=bool(spec.get("precompute", bool(kd))),
        flags=tuple(str(f).replace("{data}", data) for f in spec.get("flags", ())),
        epochs=spec.get("epochs"),
        teacher=teachers[teacher].name if teachers else "teacher",
        ensemble=tuple(spec.get("ensemble", ())),
    )


def load_sets(path: Path, data: str = "") -> tuple[dict[str, Row], dict[str, list[Row]]]:
    """The file's teachers by key and its sets of rows by name."""
    text = read(path)
    teachers = {
        key: make_row(spec, {}, data, "teacher") for key, spec in text.get("teachers", {}).items()
    }
    sets = {
        name: [make_row(spec, teachers, data, "student") for spec in specs]
        for name, specs in text.get("sets", {}).items()
    }
    return teachers, sets


def load_suite(path: Path, name: str, data: str = "") -> RowSet:
    """Suite ``name`` of ``path``: its teachers, and its sets' rows in order, each once."""
    text = read(path)
    if name not in text["suites"]:
        raise SystemExit(f"--suite {name}: {path.name} has {', '.join(text['suites'])}")
    suite = text["suites"][name]
    unknown = set(suite) - SUITE_KEYS
    if unknown:
        raise SystemExit(f"{path.name}, suite {name}: unknown key {', '.join(sorted(unknown))}")
    teachers, sets = load_sets(path, data)
    missing = [s for s in suite["sets"] if s not in sets] + [
        t for t in suite["teachers"] if t not in teachers
    ]
    if missing:
        raise SystemExit(f"{path.name}, suite {name}: no set or teacher {', '.join(missing)}")
    rows = list(dict.fromkeys(row for s in suite["sets"] for row in sets[s]))
    if suite.get("scratch_only"):
        rows = [row for row in rows if not row.kd]
    every = None
    if "every_seed" in text:
        every = frozenset(row for s in text["every_seed"] for row in sets[s])
    splits = suite.get("eval_splits")
    return RowSet(
        name=name,
        teachers=[teachers[t] for t in suite["teachers"]],
        rows=rows,
        every_seed=every,
        first_seed_only=bool(suite.get("first_seed_only", False)),
        eval_splits=tuple(splits) if splits else None,
        options={k: suite[k] for k in ("figure", "figure_model", "results") if k in suite},
        recipe=text.get("recipe", {}),
    )
