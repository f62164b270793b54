"""Kill test: SIGKILL a training at random moments, resume, and compare with an uninterrupted run.

The rounds are those of the reliability tests' harness (``tests/reliability/kill_harness.py``,
which describes the kill points): ``--kills`` SIGKILLs at steps, checkpoint writes, evaluations
and random moments, each followed by a resume, then one Ctrl-C and a final round to the end,
whose weights, metrics and log rows must equal those of an uninterrupted run bit for bit.

    python benchmarks/bench_kill.py [--kills 10] [--seed 0] [--results PATH]
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness lives with the tests it serves

from harness import RESULTS, add_arguments, machine_snapshot, write_result  # noqa: E402

from tests.reliability.kill_harness import (  # noqa: E402
    compare_runs,
    finish,
    interrupt,
    kill_campaign,
    make_data,
)

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10, help="kill-and-resume rounds")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    add_arguments(parser, RESULTS / "kill.json", threads=None, results_aliases=("--json",))
    args = parser.parse_args(argv)
    started = machine_snapshot()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["SEGCOMPRESS_CACHE"] = str(root / "cache")
        make_data(root / "data", args.seed)
        start = time.perf_counter()
        finish(root / "data", root / "reference", args.epochs)
        reference_s = time.perf_counter() - start
        records = kill_campaign(
            root / "data",
            root / "killed",
            kills=args.kills,
            epochs=args.epochs,
            seed=args.seed,
            run_s=reference_s,
        )
        # One graceful stop too (Ctrl-C after the first step of the round), then the rest.
        sigint_status, _ = interrupt(root / "data", root / "killed", args.epochs, signal.SIGINT, 1)
        finish(root / "data", root / "killed", args.epochs)
        problems = compare_runs(root / "reference", root / "killed")

    print(
        f"{'round':>5} {'phase':>6} {'nth':>3} {'after s':>7} {'landed':>6} {'saved epoch':>11} "
        f"{'loads':>5}"
    )
    for r in records:
        saved = "-" if r.epoch_saved is None else str(r.epoch_saved)
        print(
            f"{r.round:>5} {r.phase:>6} {r.occurrence:>3} {r.delay_s:>7.2f} {r.landed!s:>6} "
            f"{saved:>11} {r.loadable!s:>5}"
        )
    survived = sum(r.landed and r.loadable for r in records)
    equal = not problems
    print(f"kills landed and survived: {survived}/{len(records)}; final run equal: {equal}")
    print(f"Ctrl-C round exit status: {sigint_status} (expected 130)")
    for problem in problems:
        print(f"  {problem}")
    result = {
        "epochs": args.epochs,
        "seed": args.seed,
        "reference_run_s": round(reference_s, 2),
        "kills": [asdict(r) for r in records],
        "kills_landed": sum(r.landed for r in records),
        "kills_survived": survived,
        "all_checkpoints_loadable": all(r.loadable for r in records),
        "sigint_exit_status": sigint_status,
        "final_equals_uninterrupted": equal,
        "differences": problems,
    }
    write_result(args.results, result, started)
    ok = equal and sigint_status == 130 and all(r.loadable for r in records)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
