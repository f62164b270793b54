"""The accuracy suite shared by bench_idd_lite.py and bench_kd_synthetic.py.

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
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from segcompress.data.formats import DataSpec
from segcompress.deploy.benchmark import benchmark, machine_info

CLI = [sys.executable, "-m", "segcompress"]


@dataclass(frozen=True)
class Row:
    """One line of the results table: a model trained one way (over one or more seeds)."""

    group: str  # "teacher", "peer" or "student"
    model: str
    kd: tuple[str, ...] = ()  # KD terms; empty: trained from the labels alone
    precompute: bool = False  # teacher logits computed once (logit terms only)
    flags: tuple[str, ...] = ()  # extra CLI flags, e.g. ("--lambda-cwd", "10"), named in the row
    epochs: int | None = None  # None: the recipe's
    teacher: str = "teacher"  # name of the teacher row a distilled row learns from
    # More seeds of that teacher row, averaged with it (``distill --ensemble``)
    ensemble: tuple[int, ...] = ()

    @property
    def name(self) -> str:
        if self.group != "student":
            name = self.model
        else:
            name = f"{self.model} " + ("scratch" if not self.kd else "+ " + "+".join(self.kd))
        pairs = zip(self.flags[::2], self.flags[1::2], strict=True)
        options = [f"{flag.lstrip('-')} {value}" for flag, value in pairs]
        if self.epochs is not None:
            options.insert(0, f"{self.epochs} ep")
        if self.kd and self.teacher != "teacher":
            options.append(f"from {self.teacher}")
        if self.kd and self.ensemble:
            options.append(f"ensemble with seed {','.join(map(str, self.ensemble))}")
        return f"{name} ({', '.join(options)})" if options else name

    @property
    def arch(self) -> str:
        """The model and its ``--model-arg`` values: rows of one arch share costs and latency."""
        pairs = zip(self.flags[::2], self.flags[1::2], strict=True)
        return " ".join([self.model, *(value for flag, value in pairs if flag == "--model-arg")])

    @property
    def slug(self) -> str:
        """The name as a folder name: every run of other characters becomes one ``-``."""
        return re.sub(r"[^A-Za-z0-9_]+", "-", self.name.replace(" + ", "-")).strip("-")


def student_rows(student: str, methods: list[tuple[str, ...]]) -> list[Row]:
    """Scratch and distilled rows of one student; logit-only methods use precomputed teacher
    logits."""
    rows = [Row("student", student)]
    for kd in methods:
        precompute = set(kd) <= {"kl", "cwd"}
        rows.append(Row("student", student, kd, precompute=precompute))
    return rows


def add_arguments(parser: argparse.ArgumentParser, out: str, config: str) -> None:
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

    def __init__(self, args: argparse.Namespace, data: str, data_flags: list[str]) -> None:
        self.args = args
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
        """Students over every seed; peers over the first (teachers use ``--teacher-seed``)."""
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


def summarise(records: list[dict[str, Any]], latency: list[dict[str, Any]]) -> list[dict]:
    """Mean and sample std over seeds per row, with the model's costs and latencies."""
    by_row: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_row.setdefault(r["row"], []).append(r)
    lat = {(r["row"], r["backend"]): r for r in latency}
    # Latency depends on the architecture, not the weights: report each model's median over
    # the rows that measured it, so that run-to-run noise does not rank rows of one model.
    per_model: dict[tuple[str, str], list[float]] = {}
    arch_of = {r["row"]: r["arch"] for r in records}
    for r in latency:
        per_model.setdefault((arch_of[r["row"]], r["backend"]), []).append(r["latency_p50_ms"])
    table = []
    for name, runs in by_row.items():
        first = runs[0]
        entry: dict[str, Any] = {
            "row": name,
            "group": first["group"],
            "model": first["model"],
            "arch": first["arch"],
            "kd": first["kd"],
            "seeds": [r["seed"] for r in runs],
        }
        for key in ("miou", "mdice", "pixel_accuracy", "train_s"):
            values = [r[key] for r in runs]
            entry[key] = statistics.fmean(values)
            entry[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        torch_row = lat.get((name, "torch"))
        int8_row = lat.get((name, "onnx-int8"))
        if torch_row:
            entry["params"], entry["flops"] = torch_row["params"], torch_row["flops"]
            entry["torch_ms"] = statistics.median(per_model[(first["arch"], "torch")])
        if int8_row:
            entry["int8_ms"] = statistics.median(per_model[(first["arch"], "onnx-int8")])
            entry["int8_miou"] = int8_row.get("int8_miou")
        table.append(entry)
    return table


def targets(table: list[dict[str, Any]], student: str = "student_s") -> list[dict[str, Any]]:
    """The issue's targets, each with its measured value and whether it is met. A distilled row
    is compared with the scratch row of its own arch (a wider variant with its wider scratch)."""
    teacher = next(r for r in table if r["group"] == "teacher")
    mine = [r for r in table if r["model"] == student]
    scratch_of = {r["arch"]: r for r in mine if not r["kd"]}
    out = []
    for r in mine:
        scratch = scratch_of.get(r["arch"])
        if not r["kd"] or scratch is None:
            continue
        share = r["miou"] / teacher["miou"]
        gain = r["miou"] - scratch["miou"]
        out.append(
            {
                "target": f"{r['row']}: mIoU >= 95% of teacher",
                "value": f"{100 * share:.1f}%",
                "met": share >= 0.95,
            }
        )
        out.append(
            {
                "target": f"{r['row']}: >= scratch + 2 mIoU",
                "value": f"{gain:+.2f}",
                "met": gain >= 2.0,
            }
        )
    for arch, scratch in scratch_of.items():
        if "flops" in scratch and "flops" in teacher:
            ratio = teacher["flops"] / scratch["flops"]
            out.append(
                {
                    "target": f"{arch} FLOPs <= teacher / 15",
                    "value": f"1/{ratio:.1f}",
                    "met": ratio >= 15,
                }
            )
    for r in table:
        if r["group"] == "peer":
            gap = teacher["miou"] - r["miou"]
            out.append(
                {"target": f"teacher beats {r['row']}", "value": f"{gap:+.2f} mIoU", "met": gap > 0}
            )
    return out


def _pm(entry: dict[str, Any], key: str) -> str:
    if len(entry["seeds"]) > 1:
        return f"{entry[key]:.2f} ± {entry[f'{key}_std']:.2f}"
    return f"{entry[key]:.2f}"


def markdown(table: list[dict[str, Any]], checks: list[dict[str, Any]]) -> str:
    """The results table and the targets, as Markdown."""
    lines = [
        "| row | seeds | mIoU | mDice | pixel acc | params (M) | GFLOPs | torch ms | INT8 ms "
        "| INT8 mIoU (seed 0) | train s/run |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in table:
        cost = f"{e['params'] / 1e6:.2f} | {e['flops'] / 1e9:.2f}" if "params" in e else "- | -"
        torch_ms = f"{e['torch_ms']:.1f}" if "torch_ms" in e else "-"
        int8_ms = f"{e['int8_ms']:.1f}" if "int8_ms" in e else "-"
        int8_miou = e.get("int8_miou")
        int8_text = f"{int8_miou:.2f}" if int8_miou is not None else "-"
        lines.append(
            f"| {e['row']} | {len(e['seeds'])} | {_pm(e, 'miou')} | {_pm(e, 'mdice')} "
            f"| {_pm(e, 'pixel_accuracy')} | {cost} | {torch_ms} | {int8_ms} | {int8_text} "
            f"| {e['train_s']:.0f} |"
        )
    lines += ["", "| target | measured | met |", "|---|---:|---|"]
    lines += [f"| {c['target']} | {c['value']} | {'yes' if c['met'] else 'NO'} |" for c in checks]
    return "\n".join(lines)


def save_figure(fig: Any, path: Path) -> None:
    """Lay out, write (making the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def plot(table: list[dict[str, Any]], path: Path, title: str) -> None:
    """Accuracy against ORT INT8 latency (log scale): one point per row, seed std as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {"teacher": "tab:red", "peer": "tab:gray"}
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    for e in table:
        if "int8_ms" not in e:
            continue
        if e["group"] == "student":
            colour = "tab:blue" if e["model"] == "student_s" else "tab:green"
        else:
            colour = colours[e["group"]]
        marker = "o" if not e["kd"] else "^"
        ax.errorbar(
            e["int8_ms"], e["miou"], yerr=e["miou_std"], fmt=marker, color=colour, capsize=2
        )
        label = e["row"].replace("student_", "")
        ax.annotate(
            label, (e["int8_ms"], e["miou"]), fontsize=6, xytext=(4, 2), textcoords="offset points"
        )
    ax.set_xscale("log")
    ax.set_xlabel("ONNX Runtime INT8 latency, batch 1 (ms, log scale)")
    ax.set_ylabel("val mIoU (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    save_figure(fig, path)


def write_results(
    path: Path,
    suite: Suite,
    records: list[dict],
    latency: list[dict],
    started: dict,
    figure: Path | None = None,
    title: str = "",
) -> None:
    table = summarise(records, latency)
    checks = targets(table)
    print(markdown(table, checks))
    if figure is not None and latency:
        plot(table, figure, title)
        print(f"wrote {figure}")
    result = {
        "recipe": suite.recipe,
        "seeds": suite.args.seeds,
        "lanes": suite.args.lanes,
        "threads_per_run": suite.args.threads,
        "machine": {**started, "load_average_after": machine_info()["load_average"]},
        "table": table,
        "targets": checks,
        "runs": records,
        "latency": latency,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path}")
