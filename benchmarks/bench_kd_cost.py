"""What distillation costs in wall time against training the same student alone.

Runs, one after the other on an otherwise idle machine, with the same threads, data, epochs and
augmentation (the patient recipe: random scale/crop on): the student from scratch; distilled
with cached teacher targets, building the cache (a fresh cache folder); distilled again reusing
that cache (as a second seed or method would); and distilled with the teacher run live at every
step. Each is a whole ``segcompress`` command, timed from outside; the epochs' own times come
from each run's ``log.jsonl``. From those it states the wall-time ratio to scratch for these
epochs and for the recipe's (build once, then the distilled epochs). Writes
``benchmarks/results/kd_cost.json``.

    .venv/bin/python benchmarks/bench_kd_cost.py --teacher runs/bench/patient/teacher-s0/last.pt

``--checksum-cost`` measures instead what verifying every cached frame's digest costs (each
read checks its frame; opening the cache checks them all once). In one process, so that a
busy machine slows both sides alike: it builds the cache, times one pass that verifies every
frame, then alternates one-epoch runs that reuse the cache with and without the per-read check.
Writes ``benchmarks/results/kd_checksum_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from harness import add_arguments, machine_snapshot, write_result

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "kd_cost.json"
CHECKSUM_RESULTS = HERE / "results" / "kd_checksum_cost.json"
CONFIG = HERE / "configs" / "idd_lite_patient.yaml"
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "idd20k_lite"
CLI = [sys.executable, "-m", "segcompress"]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def epoch_seconds(folder: Path) -> list[float]:
    rows = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    return [r["time_s"] for r in rows]


def checksum_cost(args: argparse.Namespace) -> dict:
    """Verification time per epoch against a cached distillation epoch (see the docstring)."""
    import contextlib
    import io
    import statistics

    import numpy as np

    import segcompress.engine.teacher_targets as tt
    from segcompress.cli import main as cli

    real = tt.TeacherTargets

    class Unverified(real):  # type: ignore[valid-type,misc]
        def __init__(self, directory: Path, verify: bool = False) -> None:
            super().__init__(directory, verify=False)

    class Timed(real):  # type: ignore[valid-type,misc]
        """Verified reads that add up the time their digests take (workers: 0 in-process)."""

        hashing_s = 0.0

        def row(self, i: int) -> np.ndarray:
            data = np.array(self.logits[i])
            start = time.perf_counter()
            intact = tt.row_digest(data) == self.meta["checksums"][i]
            Timed.hashing_s += time.perf_counter() - start
            assert intact, i
            return data

    def run(argv: list[str]) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli(argv) == 0, argv

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEGCOMPRESS_CACHE"] = str(Path(tmp) / "cache")
        teacher = Path(tmp) / "teacher.pt"  # a snapshot: a training may rewrite the original
        shutil.copyfile(args.teacher, teacher)
        size = "x".join(map(str, yaml.safe_load(CONFIG.read_text())["data"]["img_size"]))
        run(["data", "prepare", str(args.data), "--img-size", size, "--split", "train"])
        common = ["distill", "--config", str(CONFIG), "--data", str(args.data)]
        common += ["--model", args.model, "--teacher", str(teacher), "--kd", args.kd]
        common += ["--precompute-teacher", "--epochs", "1", "--threads", str(args.threads)]
        common += ["--no-progress", "--samples", "0"]
        run([*common, "--out", f"{tmp}/build"])
        (directory,) = (Path(tmp) / "cache" / "teacher-targets").iterdir()
        targets = real(directory)
        start = time.perf_counter()
        assert targets.first_damaged() is None
        verify_all_s = time.perf_counter() - start
        print(f"verify every frame once: {verify_all_s:.2f} s", flush=True)
        epochs: dict[str, list[float]] = {"verified": [], "unverified": []}
        shares: list[float] = []  # digest time / epoch time, both within one verified epoch
        try:
            for repeat in range(args.repeats):
                for name in epochs:
                    tt.TeacherTargets = Timed if name == "verified" else Unverified
                    Timed.hashing_s = 0.0
                    out = Path(tmp) / f"{name}{repeat}"
                    run([*common, "--out", str(out)])
                    epochs[name] += epoch_seconds(out)
                    if name == "verified":
                        shares.append(Timed.hashing_s / epochs[name][-1])
                    print(f"{name}: {epochs[name][-1]:.1f} s/epoch", flush=True)
        finally:
            tt.TeacherTargets = real
        shape = targets.meta["shape"]
        cache_mb = round(targets.path.stat().st_size / 1e6, 1)
    median = {k: statistics.median(v) for k, v in epochs.items()}
    return {
        "frames": shape[0],
        "frame_shape": shape[1:],
        "cache_mb": cache_mb,
        "verify_all_frames_s": verify_all_s,
        "epoch_s": epochs,
        "median_epoch_s": median,
        "digest_share_within_verified_epochs": shares,
        "verify_all_share_of_median_epoch": verify_all_s / median["unverified"],
        "ab_epoch_ratio": median["verified"] / median["unverified"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--kd", default="dist", help="distillation terms (the recipe's)")
    parser.add_argument("--model", default="student_s", help="the student timed")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each timed run")
    add_arguments(parser, RESULTS, threads=1)
    parser.set_defaults(results=None)  # the default depends on --checksum-cost
    parser.add_argument(
        "--checksum-cost", action="store_true", help="what verifying cached frames costs"
    )
    parser.add_argument("--repeats", type=int, default=2, help="--checksum-cost: A/B rounds")
    args = parser.parse_args()
    started = machine_snapshot(args.threads)
    if args.checksum_cost:
        result = {"kd": args.kd, "model": args.model, "threads": args.threads}
        result.update(checksum_cost(args))
        print(f"\n| {result['frames']} frames {result['frame_shape']} | s |")
        print("|---|---:|")
        print(f"| verify every frame once | {result['verify_all_frames_s']:.2f} |")
        for name, value in result["median_epoch_s"].items():
            print(f"| cached distillation epoch, {name} reads (median) | {value:.1f} |")
        shares = ", ".join(f"{100 * x:.2f}%" for x in result["digest_share_within_verified_epochs"])
        print(f"\ndigests within each verified epoch: {shares} of its time")
        write_result(args.results or CHECKSUM_RESULTS, result, started)
        return
    args.results = args.results or RESULTS
    recipe_epochs = int(yaml.safe_load(CONFIG.read_text())["epochs"])
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
        env["SEGCOMPRESS_CACHE"] = str(Path(tmp) / "cache")
        # The prepared image cache is the user's (prepared once); only teacher targets are fresh.
        subprocess.run(
            [*CLI, "data", "prepare", str(args.data), "--img-size", "96x128", "--split", "train"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
        )
        common = ["--config", str(CONFIG), "--data", str(args.data), "--model", args.model]
        common += ["--no-progress"]
        common += ["--epochs", str(args.epochs), "--threads", str(args.threads)]
        distill = ["--teacher", str(args.teacher), "--kd", args.kd]
        runs = {
            "scratch": ["train", *common],
            "cached, building the cache": ["distill", *common, *distill, "--precompute-teacher"],
            "cached, cache reused": ["distill", *common, *distill, "--precompute-teacher"],
            "live teacher": ["distill", *common, *distill],
        }
        for name, cmd in runs.items():
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            wall = timed([*CLI, *cmd, "--out", str(out)], env)
            rows[name] = {"wall_s": wall, "epoch_s": epoch_seconds(out)}
            print(f"{name}: {wall:.0f} s, epochs {rows[name]['epoch_s']}", flush=True)
    scratch = rows["scratch"]
    build_s = rows["cached, building the cache"]["wall_s"] - rows["cached, cache reused"]["wall_s"]
    per_epoch = {k: sum(v["epoch_s"]) / len(v["epoch_s"]) for k, v in rows.items()}
    overhead = scratch["wall_s"] - sum(scratch["epoch_s"])  # start-up, evaluation, pictures
    ratios = {k: v["wall_s"] / scratch["wall_s"] for k, v in rows.items()}

    def recipe_wall(epoch_s: float, extra: float = 0.0) -> float:
        return overhead + recipe_epochs * epoch_s + extra

    at_recipe = {
        "cached, building the cache": recipe_wall(per_epoch["cached, cache reused"], build_s)
        / recipe_wall(per_epoch["scratch"]),
        "cached, cache reused": recipe_wall(per_epoch["cached, cache reused"])
        / recipe_wall(per_epoch["scratch"]),
        "live teacher": recipe_wall(per_epoch["live teacher"]) / recipe_wall(per_epoch["scratch"]),
    }
    head = f"wall s ({args.epochs} epochs) | s/epoch | vs scratch | at {recipe_epochs} epochs"
    print(f"\n| run | {head} |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows.items():
        at = at_recipe.get(name)
        print(
            f"| {name} | {r['wall_s']:.0f} | {per_epoch[name]:.1f} | {ratios[name]:.2f}x "
            f"| {'-' if at is None else f'{at:.2f}x'} |"
        )
    print(f"\ncache build: {build_s:.0f} s")
    result = {
        "kd": args.kd,
        "epochs": args.epochs,
        "recipe_epochs": recipe_epochs,
        "threads": args.threads,
        "runs": rows,
        "cache_build_s": build_s,
        "ratio_to_scratch": ratios,
        "ratio_at_recipe_epochs": at_recipe,
    }
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
