"""A small make with hashes: run a list of stages in order, skipping each one that is up to date.

Each stage declares its name, what it depends on (earlier stages), its settings and the files
it writes. After a stage runs, the runner writes ``{folder}/{name}.json``: the *key* it ran with
(its settings and the recorded hashes of its dependencies' outputs), the SHA-256 of each of its
outputs, its result and how long it took. A later run skips the stage only when that record
parses, its key equals the key the stage would run with now, every output still has its
recorded hash and the stage's own check passes. Otherwise the stage runs again, and since a
dependent's key holds the hashes of this stage's outputs, every stage downstream of a changed
file runs again too, while stages that do not depend on it are left alone.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from segcompress.errors import SegcompressError
from segcompress.fileio import atomic_write_bytes, file_sha256

__all__ = ["NOT_RUN", "STAGE_FORMAT", "Record", "Runner", "Stage"]

# Version of the record layout; a record of another version is not trusted.
STAGE_FORMAT = 2
# The reason a stage without a record runs (not worth a line of its own in the log).
NOT_RUN = "not run yet"
Record = dict[str, Any]
# What a stage's check may raise when its outputs are broken: the stage then runs again.
_CHECK_ERRORS = (SegcompressError, OSError, ValueError, KeyError, TypeError)


class Stage(ABC):
    """One step of a pipeline: its dependencies, settings and outputs, and the work itself."""

    name: ClassVar[str]
    title: ClassVar[str]  # one line for the banner
    needs: ClassVar[tuple[str, ...]] = ()  # earlier stages whose outputs this one reads

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Everything (JSON-able) the outputs depend on besides the outputs of ``needs``."""

    @abstractmethod
    def outputs(self) -> list[Path]:
        """The files the stage writes: hashed once written, checked before a skip."""

    @abstractmethod
    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        """Do the work and write every output; returns a JSON-able result for the record.

        ``done`` holds the records of the stages before this one, by name.
        """

    def check(self, result: dict[str, Any]) -> bool:
        """The stage's own test of its outputs beyond their hashes (e.g. a checkpoint loads).

        Raising one of the usual errors of a broken file counts as failing.
        """
        return True


class Runner:
    """Runs ``stages`` in order with records in ``folder`` (see the module docstring)."""

    def __init__(self, stages: Sequence[Stage], folder: Path) -> None:
        seen: set[str] = set()
        for stage in stages:
            if stage.name in seen:
                raise ValueError(f"two stages are named {stage.name!r}")
            missing = [name for name in stage.needs if name not in seen]
            if missing:
                raise ValueError(f"stage {stage.name!r} needs {missing[0]!r}, not an earlier stage")
            seen.add(stage.name)
        self.stages = list(stages)
        self.folder = folder
        self.records: dict[str, Record] = {}

    def key(self, stage: Stage) -> dict[str, Any]:
        """What the stage's result depends on, in plain JSON types."""
        inputs = {name: self.records[name]["outputs"] for name in stage.needs}
        return _plain({"settings": stage.settings(), "inputs": inputs})

    def stale(self, stage: Stage, key: dict[str, Any]) -> str | None:
        """Why ``stage`` must run, or None when its record is current (it is then loaded)."""
        path = self.folder / f"{stage.name}.json"
        if not path.exists():
            return NOT_RUN
        record = _read_json(path)
        if not isinstance(record, dict):
            return f"its record {path} is unreadable"
        if record.get("format") != STAGE_FORMAT:
            return "its record is from another version of the demo"
        if record.get("key") != key:
            return _what_changed(stage, record.get("key"), key)
        outputs = record.get("outputs")
        if not isinstance(outputs, dict) or set(outputs) != {str(p) for p in stage.outputs()}:
            return "its outputs are not the ones recorded"
        for name, digest in outputs.items():
            try:
                if file_sha256(name) != digest:
                    return f"{name} changed since it was written"
            except OSError:
                return f"{name} is missing or unreadable"
        try:
            ok = stage.check(record.get("result"))
        except _CHECK_ERRORS:
            ok = False
        if not ok:
            return "its outputs failed their check"
        self.records[stage.name] = {**record, "skipped": True}
        return None

    def run(self) -> dict[str, Record]:
        """Every stage in order, each skipped when up to date; returns the stage records
        (``skipped`` says whether a stage was up to date)."""
        log = _Log(len(self.stages))
        for index, stage in enumerate(self.stages, 1):
            log.banner(index, stage.name, stage.title)
            key = self.key(stage)
            reason = self.stale(stage, key)
            if reason is None:
                log.done(stage.name, self.records[stage.name]["seconds"], skipped=True)
                continue
            if reason != NOT_RUN:
                log.again(stage.name, reason)
            start = time.perf_counter()
            result = stage.run(self.records)
            seconds = round(time.perf_counter() - start, 2)
            record = _plain(
                {
                    "format": STAGE_FORMAT,
                    "stage": stage.name,
                    "key": key,
                    "seconds": seconds,
                    "result": result,
                    "outputs": {str(p): file_sha256(p) for p in stage.outputs()},
                }
            )
            self.folder.mkdir(parents=True, exist_ok=True)
            text = json.dumps(record, indent=2) + "\n"
            atomic_write_bytes(self.folder / f"{stage.name}.json", text.encode(), "stage record")
            self.records[stage.name] = {**record, "skipped": False}
            log.done(stage.name, seconds, skipped=False)
        return self.records


def _what_changed(stage: Stage, old: Any, key: dict[str, Any]) -> str:
    """Which part of a stage's key differs from the recorded one, for the log."""
    if not isinstance(old, dict) or old.get("settings") != key["settings"]:
        return "its settings changed"
    inputs = old.get("inputs") if isinstance(old.get("inputs"), dict) else {}
    for name in stage.needs:
        if inputs.get(name) != key["inputs"][name]:
            return f"the outputs of {name} changed"
    return "its dependencies changed"


def _plain(data: Any) -> Any:
    """``data`` as it reads back from JSON (tuples as lists), so keys compare equal."""
    return json.loads(json.dumps(data))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class _Log:
    """Stage banners and elapsed times on stdout (flushed: the demo is watched live)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.start = time.perf_counter()

    def banner(self, index: int, name: str, what: str) -> None:
        line = f"[{index}/{self.total}] {name}: {what}"
        print(f"\n{'=' * len(line)}\n{line}\n{'=' * len(line)}", flush=True)

    def again(self, name: str, reason: str) -> None:
        print(f"--> {name}: runs again: {reason}", flush=True)

    def done(self, name: str, seconds: float, skipped: bool) -> None:
        total = time.perf_counter() - self.start
        state = "up to date, skipped" if skipped else f"done in {seconds:.1f} s"
        print(f"--> {name}: {state} (elapsed {total:.1f} s)", flush=True)
