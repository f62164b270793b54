"""Copy the demo's results table from a real ``make demo`` run into README.md.

The README shows what ``make demo`` measured; typing those numbers by hand would let them drift
from the run. This script takes the table under "## Results" in ``runs/demo/report.md`` (the
one that starts ``| Model | Params |``) and writes it between the README's markers::

    <!-- demo-table:start -->
    ...
    <!-- demo-table:end -->

Everything outside the markers is left as it is. A missing marker or table stops the script
with one line saying which, and the README is not touched.

    python scripts/readme_demo_table.py [--report runs/demo/report.md] [--readme README.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

START = "<!-- demo-table:start -->"
END = "<!-- demo-table:end -->"
TABLE_HEADER = "| Model | Params |"


class TableError(ValueError):
    """The report has no demo table, or the README no pair of markers."""


def demo_table(report: str) -> str:
    """The results table of a demo ``report.md``: its header line and every row after it."""
    lines = report.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(TABLE_HEADER)), None)
    if start is None:
        raise TableError(f"no table starting {TABLE_HEADER!r} in the report")
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    if end - start < 3:  # header, separator and at least one row
        raise TableError("the report's demo table has no rows")
    return "\n".join(lines[start:end])


def replace_table(readme: str, table: str) -> str:
    """``readme`` with the text between its markers replaced by ``table``."""
    if readme.count(START) != 1 or readme.count(END) != 1:
        raise TableError(f"README needs exactly one {START} and one {END}")
    head, rest = readme.split(START)
    if END not in rest:
        raise TableError(f"{END} comes before {START} in README")
    tail = rest.split(END)[1]
    return f"{head}{START}\n{table}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, default=Path("runs/demo/report.md"))
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    args = parser.parse_args(argv)
    try:
        table = demo_table(args.report.read_text(encoding="utf-8"))
        text = replace_table(args.readme.read_text(encoding="utf-8"), table)
    except (OSError, TableError) as exc:
        print(f"readme_demo_table: {exc}", file=sys.stderr)
        return 1
    args.readme.write_text(text, encoding="utf-8")
    print(f"{args.readme}: demo table copied from {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
