"""README.md and BENCHMARKS.md stay documents for users: short, current, no lab diary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Study history (sessions, issue numbers, dates, clock times) belongs in docs/studies/.
DIARY = re.compile(r"this session|\bissues? \d+|\b20\d\d-\d\d-\d\d\b|\b[0-2]\d:[0-5]\d\b", re.I)


@pytest.mark.parametrize("name", ["README.md", "BENCHMARKS.md"])
def test_no_diary(name: str) -> None:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    found = [f"{name}:{i}: {line}" for i, line in enumerate(lines, 1) if DIARY.search(line)]
    assert not found, "\n".join(found)


def test_readme_is_short_and_shows_real_data_early() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 220
    assert any(line.startswith("| teacher") for line in lines[:80])


def test_benchmarks_open_with_the_summary() -> None:
    lines = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8").splitlines()
    assert "## Summary" in lines[:10]
