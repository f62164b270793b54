"""The accuracy suites' runner, shared by bench_idd_lite.py, bench_kd_synthetic.py and
bench_kd_patience.py (which rows: ``row_sets.py``; tables and figures: ``kd_report.py``).

One recipe (a YAML config: epochs, image size, augmentation, optimizer) trains every row: the
teacher, peer models, and each student from scratch and distilled with each KD method over
several seeds. Runs go through the ``segcompress`` CLI exactly as a user would run them, in
``--lanes`` parallel processes of ``--threads`` CPU threads each. A finished run is kept and
skipped when the suite is started again; an interrupted one is resumed. Each run's last
checkpoint (not the best on val: the val split is what we report on) is scored with
``segcompress evaluate``; latency is measured afterwards, alone, with
:func:`segcompress.deploy.benchmark.benchmark` (torch eager and ORT INT8, batch 1).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from row_sets import Row, RowSet, load_suite, suite_names

from segcompress.data.formats import DataSpec
from segcompress.deploy.benchmark import benchmark

CLI = [sys.executable, "-m", "segcompress"]


def add_arguments(
    parser: argparse.ArgumentParser,
    out: str,
    config: str,
    suites: Path,
    suite: str | None,
    suite_aliases: tuple[str, ...] = (),
) -> None:
    """The suites' common flags; ``--suite`` (also spelt ``suite_aliases``) picks a suite of
    the YAML file ``suites``, required where ``suite`` is None."""
    parser.add_argument(
        "--suite",
        *suite_aliases,
        choices=suite_names(suites),
        default=suite,
        required=suite is None,
        help=f"row set of {suites.name}",
    )
    parser.add_argument("--out", type=Path, default=Path(out), help="run folders")
    parser.add_argument("--config", type=Path, default=Path(config), help="shared recipe")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--teacher-seed",
        type=int,
        default=0,
        help="seed of the teacher runs, whatever --seeds says: '--seeds 1' then trains seed 1 "
        "of the students from the finished seed-0 teacher, not a new teacher",
    )
    parser.add_argument("--lanes", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run")
    parser.add_argument("--epochs", type=int, help="override the recipe's epochs")
    parser.add_argument("--only", nargs="+", help="row names to (re)run, e.g. teacher")
    parser.add_argument(
        "--rows",
        nargs="+",
        help="row names to keep, e.g. 'student_s + kl' (with the teachers they learn from): a "
        "slice of the suite for a short GPU loan, or a teacher row alone; finished runs are kept, "
        "unlike --only",
    )
    parser.add_argument("--no-latency", action="store_true", help="skip the latency benchmark")
    parser.add_argument("--latency-threads", type=int, default=2)
    parser.add_argument(
        "--collect",
        action="store_true",
        help="train nothing: score and tabulate the finished runs under --out (runs made "
        "elsewhere, e.g. on a GPU), leaving out missing or unfinished ones",
    )
    parser.add_argument(
        "--eval-splits",
        nargs="+",
        default=["val"],
        help="splits each run's last checkpoint is scored on (e.g. holdout val)",
    )
    parser.add_argument(
        "--live-teacher",
        action="store_true",
        help="run the teacher at every distillation step instead of precomputing its logits "
        "(cheap on a GPU; also lets a recipe use random scale)",
    )


class Suite:
    """Trains and scores the rows; ``run()`` returns the per-run records."""

    def __init__(
        self,
        args: argparse.Namespace,
        data: str,
        data_flags: list[str],
        row_set: RowSet | None = None,
    ) -> None:
        self.args = args
        self.row_set = row_set
        self.data = data
        self.data_flags = data_flags
        self.recipe = yaml.safe_load(args.config.read_text())
        if args.epochs:
            self.recipe["epochs"] = args.epochs
        self.epochs = int(self.recipe["epochs"])
        self.img_size = tuple(self.recipe["data"]["img_size"])
        self.print_lock = threading.Lock()

    def say(self, text: str) -> None:
        with self.print_lock:
            print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def run_dir(self, row: Row, seed: int) -> Path:
        return self.args.out / f"{row.slug}-s{seed}"

    def epochs_of(self, row: Row) -> int:
        return row.epochs or self.epochs

    def _finished(self, folder: Path, epochs: int) -> bool:
        log = folder / "log.jsonl"
        if not (folder / "last.pt").is_file() or not log.is_file():
            return False
        lines = log.read_text().splitlines()
        return bool(lines) and json.loads(lines[-1]).get("epoch") == epochs

    def _call(self, cmd: list[str], log: Path) -> None:
        env = {**os.environ, "OMP_NUM_THREADS": str(self.args.threads)}
        with log.open("a") as handle:
            handle.write(f"$ {' '.join(cmd)}\n")
            handle.flush()
            result = subprocess.run(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd[2:4])} failed ({result.returncode}); see {log}")

    def train(
        self, row: Row, seed: int, teacher: Path | None, ensemble: tuple[Path, ...] = ()
    ) -> dict[str, Any] | None:
        """Train (or resume, or keep) one run, then score its last checkpoint on val; None
        where ``--collect`` finds no finished run."""
        folder = self.run_dir(row, seed)
        log = folder.with_suffix(".log")
        folder.parent.mkdir(parents=True, exist_ok=True)
        epochs = self.epochs_of(row)
        forced = self.args.only and row.name in self.args.only
        if self.args.collect and not self._finished(folder, epochs):
            self.say(f"skip  {row.name} seed {seed}: no finished run in {folder}")
            return None
        if forced or not self._finished(folder, epochs):
            command = "distill" if row.kd else "train"
            cmd = [*CLI, command, "--config", str(self.args.config), "--data", self.data]
            cmd += [*self.data_flags, "--model", row.model, "--seed", str(seed)]
            cmd += ["--epochs", str(epochs), "--out", str(folder), *row.flags]
            if row.kd:
                cmd += ["--teacher", str(teacher), "--kd", ",".join(row.kd)]
                if ensemble:
                    cmd += ["--ensemble", *map(str, ensemble)]
                if row.precompute and not self.args.live_teacher:
                    cmd.append("--precompute-teacher")
            if (folder / "last.pt").is_file() and not forced:
                cmd.append("--resume")
            elif folder.exists():
                cmd.append("--overwrite")
            self.say(f"start {row.name} seed {seed}")
            start = time.perf_counter()
            self._call(cmd, log)
            self.say(f"done  {row.name} seed {seed} in {time.perf_counter() - start:.0f} s")
        for split in self.args.eval_splits:
            scores = folder / _scores_file(split)
            stale = (
                not scores.is_file()
                or scores.stat().st_mtime < folder.joinpath("last.pt").stat().st_mtime
            )
            if stale:
                cmd = [*CLI, "evaluate", str(folder / "last.pt"), "--data", self.data]
                cmd += [*self.data_flags, "--split", split, "--threads", str(self.args.threads)]
                self._call([*cmd, "--json", str(scores)], log)
        return self.record(row, seed, folder)

    def record(self, row: Row, seed: int, folder: Path) -> dict[str, Any]:
        scores = json.loads((folder / _scores_file(self.args.eval_splits[-1])).read_text())
        epochs = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
        other = {
            split: 100 * json.loads((folder / _scores_file(split)).read_text())["mean"]["iou"]
            for split in self.args.eval_splits
        }
        return {
            "row": row.name,
            "group": row.group,
            "model": row.model,
            "arch": row.arch,
            "kd": list(row.kd),
            "epochs": self.epochs_of(row),
            "precomputed_teacher": row.precompute and not self.args.live_teacher,
            "seed": seed,
            "miou": 100 * scores["mean"]["iou"],
            "mdice": 100 * scores["mean"]["dice"],
            "pixel_accuracy": 100 * scores["pixel_accuracy"],
            "class_iou": {c["name"]: _percent(c["iou"]) for c in scores["classes"]},
            "split_miou": other,
            "curve": [_percent(e.get("val_miou")) for e in epochs],
            "train_s": sum(e["time_s"] for e in epochs),
            "images_per_s": epochs[-1]["images_per_s"],
            "folder": str(folder),
        }

    def seeds_of(self, row: Row) -> list[int]:
        """Students over every seed, peers over the first (teachers use ``--teacher-seed``),
        unless the row set names the rows that get every seed."""
        if self.row_set is not None and self.row_set.every_seed is not None:
            return self.row_set.seeds_of(row, self.args.seeds)
        return self.args.seeds if row.group == "student" else self.args.seeds[:1]

    def run(self, teacher_rows: Row | list[Row], other_rows: list[Row]) -> list[dict[str, Any]]:
        """Teachers first (a lane each, while other lanes train rows that need no teacher);
        a distilled row starts once its own teacher (``row.teacher``) has finished, and the
        other seeds of it that its ensemble averages. Those extra teacher runs are scored but
        left out of the records: the teacher row stays the ``--teacher-seed`` run."""
        teachers = [teacher_rows] if isinstance(teacher_rows, Row) else list(teacher_rows)
        seeds = self.args.seeds
        if self.args.rows:
            unknown = set(self.args.rows) - {row.name for row in [*teachers, *other_rows]}
            if unknown:
                print(f"--rows: no row named {', '.join(sorted(unknown))}", file=sys.stderr)
                raise SystemExit(2)
            other_rows = [row for row in other_rows if row.name in self.args.rows]
            needed = {row.teacher for row in other_rows if row.kd}
            teachers = [t for t in teachers if t.name in needed or t.name in self.args.rows]
        with ThreadPoolExecutor(max_workers=self.args.lanes) as pool:
            main = self.args.teacher_seed
            by_name = {t.name: t for t in teachers}
            runs = {(t.name, main) for t in teachers}
            runs |= {(r.teacher, s) for r in other_rows if r.kd for s in r.ensemble}
            teacher_jobs = {
                (name, s): pool.submit(self.train, by_name[name], s, None)
                for name, s in sorted(runs, key=lambda run: (run[0], run[1] != main, run[1]))
            }

            def checkpoint(name: str, s: int) -> Path:
                teacher_jobs[name, s].result()
                return self.run_dir(by_name[name], s) / "last.pt"

            def after_teacher(row: Row, seed: int) -> dict[str, Any] | None:
                members = tuple(checkpoint(row.teacher, s) for s in row.ensemble)
                return self.train(row, seed, checkpoint(row.teacher, main), members)

            jobs: list[Future] = [job for (_, s), job in teacher_jobs.items() if s == main]
            independent = [r for r in other_rows if not r.kd]
            dependent = [r for r in other_rows if r.kd]
            for row in independent:
                for seed in self.seeds_of(row):
                    jobs.append(pool.submit(self.train, row, seed, None))
            for seed in seeds:  # seed-major: every method has a first seed early
                for row in dependent:
                    if seed in self.seeds_of(row):
                        jobs.append(pool.submit(after_teacher, row, seed))
            return [record for job in jobs if (record := job.result()) is not None]

    def latency(self, rows: list[Row], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Per row, of its first recorded checkpoint: torch eager and ORT INT8 p50 latency, and
        the INT8 model's val mIoU (calibrated on training images)."""
        out: list[dict[str, Any]] = []
        spec = DataSpec(root=self.data, format=self.recipe["data"].get("format"))
        folders = {}
        for record in records:
            folders.setdefault(record["row"], Path(record["folder"]))
        for row in rows:
            if row.name not in folders:
                continue
            checkpoint = folders[row.name] / "last.pt"
            work = self.args.out / "deploy" / row.slug
            self.say(f"latency and INT8 accuracy of {row.name}")
            try:
                results = benchmark(
                    [checkpoint],
                    backends=("torch", "onnx-int8"),
                    img_size=self.img_size,
                    batches=(1,),
                    threads=self.args.latency_threads,
                    runs=30,
                    warmup=5,
                    calib=spec,
                    calib_n=32,
                    workdir=work,
                )
            except Exception as exc:  # a peer that does not export is reported, not fatal
                self.say(f"latency of {row.model} failed: {exc}")
                continue
            for r in results:
                r.pop("timings", None)
                out.append({**r, "row": row.name})
            int8 = work / "last.int8.onnx"
            scores = work / "eval_int8.json"
            if int8.is_file():
                cmd = [*CLI, "evaluate", str(int8), "--data", self.data, *self.data_flags]
                self._call([*cmd, "--json", str(scores)], work / "eval.log")
                value = json.loads(scores.read_text())["mean"]["iou"]
                out[-1]["int8_miou"] = 100 * value
        return out


def _scores_file(split: str) -> str:
    return "eval_last.json" if split == "val" else f"eval_{split}.json"


def _percent(value: float | None) -> float | None:
    return None if value is None else 100 * value  # None: class absent from val and predictions


def open_suite(
    args: argparse.Namespace, suites: Path, data: str, data_flags: list[str] | None = None
) -> tuple[Suite, RowSet]:
    """The :class:`Suite` that runs ``args.suite`` of ``suites`` on ``data``, and its rows."""
    row_set = load_suite(suites, args.suite, data)
    if row_set.eval_splits is not None:
        args.eval_splits = list(row_set.eval_splits)
    return Suite(args, data, data_flags or [], row_set), row_set
