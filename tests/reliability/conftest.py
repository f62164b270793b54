"""Shared pieces of the reliability tests: a tiny synthetic dataset for the kill harness."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import kill_harness


@pytest.fixture(scope="module")
def kill_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kill rounds' synthetic dataset (12 train, 8 val frames at 64x128)."""
    root = tmp_path_factory.mktemp("killdata") / "data"
    kill_harness.make_data(root, seed=0)
    return root
