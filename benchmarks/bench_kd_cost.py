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
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from segcompress.deploy.benchmark import machine_info

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "kd_cost.json"
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--teacher", type=Path, required=True)
    parser.add_argument("--kd", default="dist", help="distillation terms (the recipe's)")
    parser.add_argument("--model", default="student_s", help="the student timed")
    parser.add_argument("--epochs", type=int, default=2, help="epochs of each timed run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    started = machine_info()
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
        "machine": {**started, "load_average_after": machine_info()["load_average"]},
        "runs": rows,
        "cache_build_s": build_s,
        "ratio_to_scratch": ratios,
        "ratio_at_recipe_epochs": at_recipe,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.results}")


if __name__ == "__main__":
    main()
