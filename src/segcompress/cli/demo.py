"""``segcompress demo``: the whole pipeline on synthetic data, ending in an HTML report."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def _demo(args: argparse.Namespace) -> int:
    from segcompress.demo import run_demo

    records = run_demo(args.out, quick=args.quick, progress=args.progress)
    ran = [s for s, r in records.items() if not r.get("skipped")]
    print(f"\ndemo: report in {args.out}/report.html ({len(ran)} of {len(records)} stages ran)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="synthetic data -> teacher -> students -> ONNX/INT8 -> benchmark -> report",
        description="Run every stage on an offline synthetic IDD-layout dataset and write "
        "report.html and report.md. A re-run skips stages whose outputs are complete.",
    )
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    p.add_argument(
        "--quick", action="store_true", help="tiny smoke run (about a minute; numbers mean nothing)"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    p.set_defaults(func=_demo)
