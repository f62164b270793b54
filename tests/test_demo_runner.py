"""The demo's stage runner on fake stages with tiny outputs: what runs again, and what not."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from segcompress.demo.runner import Record, Runner, Stage
from segcompress.errors import DataError
from segcompress.fileio import file_sha256


class Fake(Stage):
    """Writes ``{name}.txt`` from its setting (and, with ``stamp``, how many times it ran, so
    that a re-run writes new bytes as a training run would)."""

    title = "a fake stage"

    def __init__(
        self,
        name: str,
        folder: Path,
        ran: list[str],
        needs: tuple[str, ...] = (),
        stamp: bool = True,
    ) -> None:
        self.name = name  # type: ignore[misc]
        self.needs = needs  # type: ignore[misc]
        self.path = folder / f"{name}.txt"
        self.ran = ran
        self.stamp = stamp
        self.runs = 0
        self.setting = 1
        self.ok: bool | Exception = True

    def settings(self) -> dict[str, Any]:
        return {"setting": self.setting}

    def outputs(self) -> list[Path]:
        return [self.path]

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        assert set(self.needs) <= set(done)  # dependencies are recorded before a stage runs
        self.ran.append(self.name)
        self.runs += 1
        stamp = f" run {self.runs}" if self.stamp else ""
        self.path.write_text(f"{self.name} setting {self.setting}{stamp}\n", encoding="utf-8")
        return {"setting": self.setting}

    def check(self, result: dict[str, Any]) -> bool:
        if isinstance(self.ok, Exception):
            raise self.ok
        return self.ok and result == {"setting": self.setting}


class Pipeline:
    """a -> b -> c, and d -> e beside them; a fresh runner (as a re-run would be) each time."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.ran: list[str] = []
        needs = {"a": (), "b": ("a",), "c": ("b",), "d": (), "e": ("d",)}
        self.stages = {name: Fake(name, folder, self.ran, dep) for name, dep in needs.items()}

    def run(self, names: str = "abcde") -> tuple[list[str], dict[str, Record]]:
        """The stages that ran, and the records."""
        self.ran.clear()
        records = Runner([self.stages[n] for n in names], self.folder / "stages").run()
        return list(self.ran), records


@pytest.fixture
def pipe(tmp_path: Path) -> Pipeline:
    pipe = Pipeline(tmp_path)
    assert pipe.run()[0] == list("abcde")
    return pipe


def test_complete_stages_are_skipped(pipe: Pipeline, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    ran, records = pipe.run()
    assert ran == []
    assert all(r["skipped"] for r in records.values())
    out = capsys.readouterr().out
    assert "[2/5] b: a fake stage" in out
    assert out.count("up to date, skipped (elapsed") == 5
    assert "runs again" not in out
    assert not list((pipe.folder / "stages").glob(".*"))  # no temporary files left behind
    record = json.loads((pipe.folder / "stages" / "b.json").read_text())
    path = pipe.stages["b"].path
    assert record["outputs"] == {str(path): file_sha256(path)}
    assert record["key"] == {"settings": {"setting": 1}, "inputs": {"a": records["a"]["outputs"]}}


def test_a_changed_output_reruns_its_stage_and_dependents_only(
    pipe: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipe.stages["b"].path.write_text("edited by hand\n", encoding="utf-8")
    capsys.readouterr()
    ran, records = pipe.run()
    assert ran == ["b", "c"]
    assert [n for n, r in records.items() if not r["skipped"]] == ["b", "c"]
    out = capsys.readouterr().out
    assert f"--> b: runs again: {pipe.stages['b'].path} changed since it was written" in out
    assert "--> c: runs again: the outputs of b changed" in out
    assert pipe.run()[0] == []


def test_a_changed_setting_reruns_its_stage_and_dependents_only(
    pipe: Pipeline, capsys: pytest.CaptureFixture[str]
) -> None:
    pipe.stages["d"].setting = 2
    capsys.readouterr()
    assert pipe.run()[0] == ["d", "e"]
    assert "--> d: runs again: its settings changed" in capsys.readouterr().out
    assert pipe.stages["d"].path.read_text().startswith("d setting 2")
    assert pipe.run()[0] == []


def test_a_missing_output_reruns_its_stage(pipe: Pipeline) -> None:
    pipe.stages["a"].path.unlink()
    assert pipe.run()[0] == ["a", "b", "c"]
    assert pipe.stages["a"].path.is_file()


@pytest.mark.parametrize("failure", [False, DataError("truncated checkpoint")])
def test_a_failed_check_reruns_its_stage(pipe: Pipeline, failure: bool | Exception) -> None:
    pipe.stages["e"].ok = failure
    assert pipe.run()[0] == ["e"]


def test_same_bytes_again_leave_the_dependents_alone(tmp_path: Path) -> None:
    """A stage that runs again and writes the very same bytes changes nothing downstream."""
    ran: list[str] = []
    stages = [Fake("a", tmp_path, ran, stamp=False), Fake("b", tmp_path, ran, ("a",))]
    Runner(stages, tmp_path / "stages").run()
    stages[0].path.unlink()
    ran.clear()
    Runner(stages, tmp_path / "stages").run()
    assert ran == ["a"]


def test_dependents_catch_up_after_an_interrupted_run(pipe: Pipeline) -> None:
    """A stage redone by a run that stopped before its dependents: they run the next time."""
    pipe.stages["a"].setting = 2
    assert pipe.run("a")[0] == ["a"]  # the run stops after a
    assert pipe.run()[0] == ["b", "c"]


@pytest.mark.parametrize("damage", ["{", '{"format": 1}', "[]"])
def test_an_unreadable_or_foreign_record_reruns_its_stage(pipe: Pipeline, damage: str) -> None:
    (pipe.folder / "stages" / "d.json").write_text(damage, encoding="utf-8")
    assert pipe.run()[0] == ["d", "e"]


def test_dependencies_must_be_earlier_stages(tmp_path: Path) -> None:
    ran: list[str] = []
    a, b = Fake("a", tmp_path, ran), Fake("b", tmp_path, ran, ("a",))
    with pytest.raises(ValueError, match="needs 'a'"):
        Runner([b, a], tmp_path)
    with pytest.raises(ValueError, match="two stages"):
        Runner([a, a], tmp_path)
