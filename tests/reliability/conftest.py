"""Shared pieces of the reliability tests: the kill harness and a tiny synthetic dataset."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="session")
def bench_kill() -> ModuleType:
    return load_benchmark("bench_kill")


@pytest.fixture(scope="module")
def kill_data(tmp_path_factory: pytest.TempPathFactory, bench_kill: ModuleType) -> Path:
    """The kill rounds' synthetic dataset (12 train, 8 val frames at 64x128)."""
    root = tmp_path_factory.mktemp("killdata") / "data"
    bench_kill.make_data(root, seed=0)
    return root
