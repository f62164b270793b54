"""The benchmark harness (``benchmarks/harness.py``): the rotated interleaving order, the
statistics over rounds, the machine snapshot's fields and the result file's round trip."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    return load_benchmark("harness")


def test_rounds_rotate_the_order_and_keep_every_call(harness: ModuleType) -> None:
    calls: list[str] = []
    candidates = {name: (lambda n=name: calls.append(n)) for name in "ABC"}
    rounds = harness.interleave(candidates, rounds=4, runs=2, warmup=1)
    per_round = [calls[i : i + 9] for i in range(0, len(calls), 9)]  # 3 x (1 warm-up + 2 runs)
    firsts = [[c for i, c in enumerate(r) if i % 3 == 0] for r in per_round]
    assert firsts == [list("ABC"), list("BCA"), list("CAB"), list("ABC")]
    assert len(rounds.times) == 4
    assert all(
        list(r) == list("ABC") and all(len(v) == 2 for v in r.values()) for r in rounds.times
    )


def test_statistics_over_rounds(harness: ModuleType) -> None:
    rounds = harness.Rounds(
        [
            {"fp32": [10.0, 12.0, 11.0], "int8": [5.0, 5.0, 6.0]},
            {"fp32": [20.0, 20.0, 20.0], "int8": [8.0, 8.0, 8.0]},  # a slow round
            {"fp32": [9.0, 9.0, 9.0], "int8": [3.0, 3.0, 3.0]},
        ]
    )
    assert rounds.p50s("fp32") == [11.0, 20.0, 9.0]
    assert rounds.best("fp32") == 9.0 and rounds.best("int8") == 3.0
    assert rounds.median("fp32") == 11.0
    assert rounds.ratios("fp32", "int8") == pytest.approx([2.2, 2.5, 3.0])
    assert rounds.speedup("fp32", "int8") == {"median": pytest.approx(2.5), "range": [2.2, 3.0]}
    assert rounds.per_round_p50()[1] == {"fp32": 20.0, "int8": 8.0}
    assert rounds.p90("int8") == pytest.approx(harness.percentile([5, 5, 6, 8, 8, 8, 3, 3, 3], 90))
    assert harness.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert harness.percentile([1.0, 2.0, 3.0, 4.0, 5.0], 90) == pytest.approx(4.6)


def test_machine_snapshot_names_cpu_threads_and_versions(harness: ModuleType) -> None:
    import numpy
    import torch

    snap = harness.machine_snapshot(threads=3)
    for key in ("cpu", "cores", "isa", "load_average", "onnxruntime", "python", "platform"):
        assert key in snap
    assert snap["threads"] == 3
    assert snap["torch"] == torch.__version__ and snap["numpy"] == numpy.__version__
    assert isinstance(snap["isa"], list) and snap["cpu"]
    model = harness.lscpu_model()
    if model is not None:  # lscpu present: its name wins over /proc/cpuinfo's
        assert snap["cpu"] == model


def test_result_round_trip_adds_the_machine_and_replaces_whole(
    harness: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "deep" / "r.json"
    started = {"cpu": "x", "load_average": [1.0, 1.0, 1.0]}
    harness.write_result(path, {"rows": [{"p50_ms": 1.5}]}, started)
    data = json.loads(path.read_text())
    assert data["rows"] == [{"p50_ms": 1.5}] and data["machine"]["cpu"] == "x"
    assert len(data["machine"]["load_average_after"]) == 3
    harness.write_result(path, {"rows": []})
    assert json.loads(path.read_text()) == {"rows": []}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no partial file left


def test_result_with_nan_is_refused_and_the_old_file_kept(
    harness: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "r.json"
    harness.write_result(path, {"ok": 1})
    with pytest.raises(ValueError):
        harness.write_result(path, {"ratio": math.nan})
    assert json.loads(path.read_text()) == {"ok": 1}


def test_common_arguments_keep_older_spellings(harness: ModuleType) -> None:
    parser = argparse.ArgumentParser()
    harness.add_arguments(parser, "a.json", threads=1, rounds=5, results_aliases=("--json",))
    args = parser.parse_args(["--json", "b.json", "--rounds", "2"])
    assert (args.results, args.threads, args.rounds) == (Path("b.json"), 1, 2)
    assert not hasattr(args, "runs")
    assert harness.markdown_table(["a", "ms"], [["x", "1.0"]], numeric=1) == (
        "| a | ms |\n|---|---:|\n| x | 1.0 |"
    )
