"""What every benchmark script shares: its common arguments, the machine it ran on, interleaved
timing rounds and the result file.

A timing read alone says little on a shared CPU, so each result JSON carries the snapshot of
the machine (CPU model, the ISA flags that pick INT8/BF16 kernels, cores, threads, library
versions, load before and after). Candidates compared against each other are timed in
interleaved rounds, each round in a rotated order, so that a slow minute or a warm cache falls
on all of them alike; ratios are taken within a round. This module is imported by the scripts
and is not one itself.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def add_arguments(
    parser: argparse.ArgumentParser,
    results: Path | str,
    *,
    threads: int | None = 2,
    rounds: int | None = None,
    runs: int | None = None,
    results_aliases: Sequence[str] = (),
) -> None:
    """``--results`` (default ``results``; ``results_aliases`` keep a script's older spelling,
    e.g. ``--json``), ``--threads``, and where the script times in rounds, ``--rounds`` and
    ``--runs`` (calls per candidate per round). ``None`` leaves an argument out."""
    parser.add_argument(
        "--results", *results_aliases, dest="results", type=Path, default=Path(results),
        help="result JSON",
    )  # fmt: skip
    if threads is not None:
        parser.add_argument("--threads", type=int, default=threads, help="CPU threads")
    if rounds is not None:
        parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds")
    if runs is not None:
        parser.add_argument("--runs", type=int, default=runs, help="timed calls per round")


def lscpu_model() -> str | None:
    """The CPU's model name as ``lscpu`` reports it (None where lscpu is missing or silent)."""
    try:
        out = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=True, env={**os.environ, "LC_ALL": "C"}
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name" and value.strip():
            return value.strip()
    return None


def machine_snapshot(threads: int | None = None) -> dict[str, Any]:
    """The machine a result was measured on: the deployment harness's CPU, ISA flags, cores,
    load and runtime versions, with the CPU named by lscpu, the threads the benchmark used and
    the numpy and segcompress versions. Imports torch and the runtimes: call it after a script
    has set its thread variables."""
    import numpy

    import segcompress
    from segcompress.deploy.benchmark import machine_info

    info = machine_info()
    return {
        **info,
        "cpu": lscpu_model() or info["cpu"],
        "threads": threads,
        "numpy": numpy.__version__,
        "segcompress": getattr(segcompress, "__version__", None),
        "platform": platform.platform(),
    }


@dataclass
class Rounds:
    """Per-call milliseconds of every candidate in every round (``times[r][name]``)."""

    times: list[dict[str, list[float]]] = field(default_factory=list)

    def p50s(self, name: str) -> list[float]:
        """Each round's median of ``name``."""
        return [statistics.median(r[name]) for r in self.times]

    def median(self, name: str) -> float:
        """The median over rounds of each round's median: one slow round moves it little."""
        return statistics.median(self.p50s(name))

    def p90(self, name: str) -> float:
        """The 90th percentile of every call of ``name`` over all rounds."""
        return percentile([t for r in self.times for t in r[name]], 90)

    def best(self, name: str) -> float:
        """The fastest call of ``name`` over all rounds: on a shared machine, the least
        disturbed one."""
        return min(t for r in self.times for t in r[name])

    def ratios(self, base: str, name: str) -> list[float]:
        """``base``'s median over ``name``'s, round by round (> 1: ``name`` is faster)."""
        return [statistics.median(r[base]) / statistics.median(r[name]) for r in self.times]

    def speedup(self, base: str, name: str) -> dict[str, Any]:
        """The median of :meth:`ratios` and their range over rounds."""
        ratios = self.ratios(base, name)
        return {"median": statistics.median(ratios), "range": [min(ratios), max(ratios)]}

    def per_round_p50(self) -> list[dict[str, float]]:
        """``[{name: that round's median}]``: what result files keep of the rounds."""
        return [{k: statistics.median(v) for k, v in r.items()} for r in self.times]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile by linear interpolation between the nearest ranks."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def time_call(fn: Callable[[], Any], runs: int, warmup: int = 3) -> list[float]:
    """Milliseconds of each of ``runs`` calls of ``fn()``, after ``warmup`` untimed ones (the
    deployment harness's loop, so that both time alike)."""
    from segcompress.models.profile import time_calls

    return time_calls(lambda _: fn(), None, runs, warmup)


def interleave(
    candidates: Mapping[str, Callable[[], Any]], rounds: int, runs: int, warmup: int = 3
) -> Rounds:
    """Time every candidate in each of ``rounds`` rounds of ``runs`` calls (after ``warmup``
    untimed calls per round). Round ``r`` starts at the ``r``-th candidate and wraps, so no
    candidate always runs first or right after the same neighbour."""
    names = list(candidates)
    result = Rounds()
    for r in range(rounds):
        start = r % len(names) if names else 0
        order = names[start:] + names[:start]
        timed = {name: time_call(candidates[name], runs, warmup) for name in order}
        result.times.append({name: timed[name] for name in names})
    return result


def write_result(
    path: Path, result: Mapping[str, Any], started: Mapping[str, Any] | None = None
) -> Path:
    """Write ``result`` as indented JSON to ``path`` (made with its folder; an older file is
    replaced whole, never half-written). ``started`` is the snapshot taken before measuring:
    it goes in as ``machine`` with the load average after. NaN and infinity are refused
    (``ValueError``): they are not JSON, and a reader would choke on the file later."""
    data = dict(result)
    if started is not None:
        data["machine"] = {**started, "load_average_after": _load_average()}
    text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    print(f"wrote {path}")
    return path


def _load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: int = 0) -> str:
    """A Markdown table; the last ``numeric`` columns are right-aligned."""
    align = ["---"] * (len(header) - numeric) + ["---:"] * numeric
    lines = [f"| {' | '.join(header)} |", f"|{'|'.join(align)}|"]
    lines += [f"| {' | '.join(str(cell) for cell in row)} |" for row in rows]
    return "\n".join(lines)
