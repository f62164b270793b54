"""Shared pieces of the reliability tests: the kill harness and a tiny synthetic dataset."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH_KILL = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_kill.py"


def load_bench_kill() -> ModuleType:
    """``benchmarks/bench_kill.py`` as a module (benchmarks are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("bench_kill", BENCH_KILL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_kill", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def bench_kill() -> ModuleType:
    return load_bench_kill()


@pytest.fixture(scope="module")
def kill_data(tmp_path_factory: pytest.TempPathFactory, bench_kill: ModuleType) -> Path:
    """The kill rounds' synthetic dataset (12 train, 8 val frames at 64x128)."""
    root = tmp_path_factory.mktemp("killdata") / "data"
    bench_kill.make_data(root, seed=0)
    return root
