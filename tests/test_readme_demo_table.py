"""scripts/readme_demo_table.py: the README's demo table is copied from a report, not typed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "readme_demo_table.py"

REPORT = """# segcompress demo report

## Results

> The distilled student scores more.

| Model | Params | GFLOPs | Size MB | Latency ms (backend) | mIoU | mDice |
|---|---:|---:|---:|---:|---:|---:|
| Teacher | 1.449 M | 1.035 | 5.57 | 17.35 (torch) | 0.2676 | 0.3797 |
| Student distilled | 0.341 M | 0.127 | 1.33 | 7.19 (torch) | 0.2176 | 0.3108 |

- Data: synthetic scenes.

| Stage | Seconds |
|---|---:|
| data | 1.0 |
"""

README = """# title

intro

<!-- demo-table:start -->
| Model | old |
|---|---:|
| Teacher | 1 |
<!-- demo-table:end -->

What the numbers mean.
"""


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_demo_table", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_replaces_only_between_markers(script: ModuleType, tmp_path: Path) -> None:
    report, readme = tmp_path / "report.md", tmp_path / "README.md"
    report.write_text(REPORT)
    readme.write_text(README)
    assert script.main(["--report", str(report), "--readme", str(readme)]) == 0
    text = readme.read_text()
    table = script.demo_table(REPORT)
    assert table.splitlines()[-1].startswith("| Student distilled |")
    assert "Stage" not in table and "Data:" not in table
    head, tail = README.split("<!-- demo-table:start -->")[0], README.split("-->")[-1]
    assert text == f"{head}<!-- demo-table:start -->\n{table}\n<!-- demo-table:end -->{tail}"
    assert script.main(["--report", str(report), "--readme", str(readme)]) == 0
    assert readme.read_text() == text  # idempotent


@pytest.mark.parametrize(
    ("report", "readme", "message"),
    [
        (REPORT, README.replace("<!-- demo-table:end -->", ""), "exactly one"),
        (REPORT, README.replace("<!-- demo-table:start -->", ""), "exactly one"),
        (REPORT, "<!-- demo-table:end -->\n<!-- demo-table:start -->\n", "comes before"),
        (REPORT.replace("| Model | Params |", "| Stage |"), README, "no table"),
        (REPORT.split("| Teacher")[0], README, "no rows"),
    ],
)
def test_fails_loudly(
    script: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    report: str,
    readme: str,
    message: str,
) -> None:
    report_path, readme_path = tmp_path / "report.md", tmp_path / "README.md"
    report_path.write_text(report)
    readme_path.write_text(readme)
    assert script.main(["--report", str(report_path), "--readme", str(readme_path)]) == 1
    assert message in capsys.readouterr().err
    assert readme_path.read_text() == readme  # untouched


def test_missing_report(script: ModuleType, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(README)
    assert script.main(["--report", str(tmp_path / "none.md"), "--readme", str(readme)]) == 1
    assert readme.read_text() == README
