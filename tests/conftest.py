"""Test-wide settings: one torch thread per xdist worker, and a private data cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

SHARED_IDD_LITE = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "idd20k_lite"

if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)  # two workers on two cores: more threads only fight


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never read or write the user's ~/.cache from tests."""
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def idd_lite_root() -> Path:
    """The real IDD-Lite beside the project; skipped with a reason when absent."""
    if not (SHARED_IDD_LITE / "leftImg8bit").is_dir():
        pytest.skip(f"real IDD-Lite not found at {SHARED_IDD_LITE} (../shared is absent)")
    return SHARED_IDD_LITE


_REPO = Path(__file__).resolve().parents[1]
_TOOL_DIRS = {".hypothesis", ".pytest_cache", ".ruff_cache", ".venv", "__pycache__", ".git"}


def _repo_entries() -> set[str]:
    return {p.name for p in _REPO.iterdir() if p.name not in _TOOL_DIRS}


_BEFORE = _repo_entries()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when tests leave files in the repository root (e.g. a library's temp dump)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    stray = sorted(_repo_entries() - _BEFORE)
    if stray:
        print(f"\ntests left files in {_REPO}: {', '.join(stray)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
