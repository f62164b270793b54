"""``segcompress demo``: the whole pipeline end to end on offline synthetic data, then a report.

Stages (in order): data, teacher, student-scratch, student-kd, evaluate, export, quantize,
benchmark, report. Each stage writes ``{out}/stages/{stage}.json``: the *key* it was run with
(its configuration and the SHA-256 of every input file) and the SHA-256 of every output file.
A re-run skips a stage only when that record parses, its key equals the key the stage would run
with now, every output still has its recorded hash and the stage's own check passes (a
checkpoint loads and holds the expected number of epochs, an ONNX file parses, a JSON report
input parses). Anything else re-runs the stage, and since the next stage's key holds the hashes
of this stage's outputs, everything downstream of a changed file re-runs too.

The student from scratch and the distilled student get the same budget, seed and data, so the
distillation gain in the report is a like-for-like comparison (one seed, one small validation
split: read it as an indication, not a benchmark).
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_BUDGET",
    "QUICK_BUDGET",
    "RUNS",
    "STAGES",
    "STAGE_TITLES",
    "Demo",
    "DemoBudget",
    "run_demo",
    "train_command",
]

STAGES = (
    "data",
    "teacher",
    "student-scratch",
    "student-kd",
    "evaluate",
    "export",
    "quantize",
    "benchmark",
    "report",
)
STAGE_TITLES = {
    "data": "synthetic IDD-layout dataset",
    "teacher": "train the teacher",
    "student-scratch": "train the student from scratch",
    "student-kd": "distil the teacher into the student",
    "evaluate": "score all three models on the validation split",
    "export": "export the distilled student to ONNX (parity-checked)",
    "quantize": "INT8 static quantization of the ONNX student",
    "benchmark": "latency of every model",
    "report": "write report.html and report.md",
}
# Run folders of the three trained models, in report order.
RUNS = {"teacher": "teacher", "student-scratch": "student_scratch", "student-kd": "student_kd"}
STAGE_FORMAT = 1


@dataclass(frozen=True)
class DemoBudget:
    """Sizes and training budget of one demo run (data, models, epochs, benchmark runs)."""

    n_train: int
    n_val: int
    synth_size: tuple[int, int]
    img_size: tuple[int, int]
    teacher: str
    teacher_args: dict[str, Any]
    student: str
    teacher_epochs: int
    epochs: int
    batch: int
    lr: float
    warmup_epochs: float
    kd: tuple[str, ...]
    temperature: float
    lambda_kd: float
    seed: int
    vis_rows: int
    calib_n: int
    bench_runs: int
    bench_warmup: int
    note: str = ""
    student_args: dict[str, Any] = field(default_factory=dict)


# Sized for 3-10 minutes on 2 CPU cores, quiet or busy (measured; see README). The teacher is
# the project's architecture made lighter (base_width 16, skip_channels 8: 1.4 M parameters, 8x
# the student's FLOPs), since at full size it trains at only ~1-2 img/s on a busy machine. The
# teacher gets more epochs than the students, as a teacher would in practice; both students get
# the same.
DEFAULT_BUDGET = DemoBudget(
    n_train=96,
    n_val=32,
    synth_size=(128, 256),
    img_size=(64, 128),
    teacher="teacher",
    teacher_args={"base_width": 16, "skip_channels": 8},
    student="student_s",
    teacher_epochs=16,
    epochs=8,
    batch=8,
    lr=3e-3,
    warmup_epochs=0.5,
    kd=("kl",),
    temperature=4.0,
    lambda_kd=1.0,
    seed=0,
    vis_rows=4,
    calib_n=32,
    bench_runs=30,
    bench_warmup=3,
    note="teacher made lighter (base_width 16, skip_channels 8) to fit the CPU budget",
)
# A smoke run (tests): tiny data, one epoch, a narrow teacher; its numbers mean nothing.
QUICK_BUDGET = DemoBudget(
    n_train=16,
    n_val=8,
    synth_size=(64, 128),
    img_size=(32, 64),
    teacher="teacher",
    teacher_args={"base_width": 8, "skip_channels": 8},
    student="student_s",
    teacher_epochs=1,
    epochs=1,
    batch=8,
    lr=3e-3,
    warmup_epochs=0.0,
    kd=("kl",),
    temperature=4.0,
    lambda_kd=1.0,
    seed=0,
    vis_rows=2,
    calib_n=8,
    bench_runs=5,
    bench_warmup=1,
    note="--quick smoke run: 16 training images, 1 epoch, teacher at base_width 8 and "
    "skip_channels 8; the numbers only show that every stage works",
)


# -- small helpers -------------------------------------------------------------------------------
def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_json(path: Path, data: Any) -> None:
    """Atomic JSON write: a killed run leaves the old record or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def train_command(cfg: Any) -> str:
    """The ``segcompress train``/``distill`` command line that resolves to exactly ``cfg``."""
    verb = "distill" if cfg.distill.teacher else "train"
    d = cfg.data
    parts = ["segcompress", verb, "--data", d.root, "--format", d.format, "--model", cfg.model.name]
    for key, value in cfg.model.args.items():
        parts += ["--model-arg", f"{key}={value}"]
    parts += [
        "--img-size",
        _size(d.img_size),
        "--epochs",
        str(cfg.epochs),
        "--batch",
        str(cfg.batch),
        "--lr",
        f"{cfg.optim.lr:g}",
        "--warmup-epochs",
        f"{cfg.optim.warmup_epochs:g}",
        "--seed",
        str(cfg.seed),
        "--samples",
        str(cfg.samples),
    ]
    if cfg.distill.teacher:
        kd = cfg.distill
        parts += ["--teacher", kd.teacher, "--kd", ",".join(kd.kd)]
        parts += ["--temperature", f"{kd.temperature:g}", "--lambda-kd", f"{kd.lambda_kd:g}"]
    if not cfg.progress:
        parts.append("--no-progress")
    parts += ["--out", cfg.out]
    return shlex.join(parts)


class _Log:
    """Stage banners and elapsed times on stdout (flushed: the demo is watched live)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.start = time.perf_counter()

    def banner(self, index: int, name: str, what: str) -> None:
        line = f"[{index}/{self.total}] {name}: {what}"
        print(f"\n{'=' * len(line)}\n{line}\n{'=' * len(line)}", flush=True)

    def done(self, name: str, seconds: float, skipped: bool) -> None:
        total = time.perf_counter() - self.start
        state = "up to date, skipped" if skipped else f"done in {seconds:.1f} s"
        print(f"--> {name}: {state} (elapsed {total:.1f} s)", flush=True)


# -- the pipeline ----------------------------------------------------------------------------------
class Demo:
    """One demo run in ``out``: stage keys, checks and bodies (see the module docstring)."""

    def __init__(self, out: Path, budget: DemoBudget, *, progress: bool) -> None:
        self.out = out
        self.budget = budget
        self.progress = progress
        self.data_root = out / "data"
        self.records: dict[str, dict[str, Any]] = {}

    # paths
    def run_dir(self, stage: str) -> Path:
        return self.out / RUNS[stage]

    def checkpoint(self, stage: str) -> Path:
        return self.run_dir(stage) / "best.pt"

    @property
    def onnx_path(self) -> Path:
        return self.out / "deploy" / "student_kd.onnx"

    @property
    def int8_path(self) -> Path:
        return self.out / "deploy" / "student_kd.int8.onnx"

    def spec(self) -> Any:
        from segcompress.data import DataSpec

        return DataSpec(root=str(self.data_root), format="idd-kaggle")

    def train_config(self, stage: str) -> Any:
        from segcompress.config import (
            DataConfig,
            DistillConfig,
            ModelConfig,
            OptimConfig,
            TrainConfig,
        )

        b = self.budget
        teacher = stage == "teacher"
        distill = DistillConfig()
        if stage == "student-kd":
            distill = DistillConfig(
                teacher=str(self.checkpoint("teacher")),
                kd=list(b.kd),
                temperature=b.temperature,
                lambda_kd=b.lambda_kd,
            )
        return TrainConfig(
            out=str(self.run_dir(stage)),
            epochs=b.teacher_epochs if teacher else b.epochs,
            batch=b.batch,
            seed=b.seed,
            progress=self.progress,
            samples=b.vis_rows,
            data=DataConfig(
                root=str(self.data_root), format="idd-kaggle", img_size=b.img_size, workers=0
            ),
            model=ModelConfig(
                name=b.teacher if teacher else b.student,
                args=dict(b.teacher_args if teacher else b.student_args),
            ),
            optim=OptimConfig(lr=b.lr, warmup_epochs=b.warmup_epochs),
            distill=distill,
        )

    # keys: what a stage's result depends on
    def _outputs_of(self, stage: str) -> dict[str, str]:
        return dict(self.records[stage]["outputs"])

    def key(self, stage: str) -> dict[str, Any]:
        from segcompress.config import config_to_dict

        b = self.budget
        if stage == "data":
            return {"n_train": b.n_train, "n_val": b.n_val, "size": list(b.synth_size)}
        data = {"data": self.records["data"]["result"]["manifest"]}
        if stage in RUNS:
            key = {**data, "config": config_to_dict(self.train_config(stage))}
            key["config"].pop("progress")  # progress bars do not change the result
            if stage == "student-kd":
                key["teacher"] = self._outputs_of("teacher")
            return key
        if stage == "evaluate":
            return {**data, "vis_rows": b.vis_rows, **{s: self._outputs_of(s) for s in RUNS}}
        if stage == "export":
            return {**data, "student-kd": self._outputs_of("student-kd")}
        if stage == "quantize":
            return {**data, "calib_n": b.calib_n, "export": self._outputs_of("export")}
        if stage == "benchmark":
            models = {s: self._outputs_of(s) for s in (*RUNS, "export", "quantize")}
            return {"runs": b.bench_runs, "warmup": b.bench_warmup, **models}
        from segcompress import report

        upstream = {s: self._outputs_of(s) for s in STAGES[:-1]}
        return {"report_version": report.REPORT_VERSION, **upstream}

    # checks: a stage's own test of its outputs, beyond their hashes
    def check(self, stage: str, result: dict[str, Any]) -> bool:
        from segcompress.errors import SegcompressError

        try:
            if stage == "data":
                from segcompress.data.synthetic import is_synthesized

                b = self.budget
                return is_synthesized(
                    self.data_root, n_train=b.n_train, n_val=b.n_val, size=b.synth_size, seed=b.seed
                )
            if stage in RUNS:
                from segcompress.engine.checkpoint import load_checkpoint

                last = load_checkpoint(self.run_dir(stage) / "last.pt")
                best = load_checkpoint(self.checkpoint(stage))
                epochs = self.train_config(stage).epochs
                return last["epoch"] == epochs and 0 < best["epoch"] <= last["epoch"]
            if stage in ("export", "quantize"):
                from segcompress.deploy.runtime import load_onnx

                load_onnx(self.onnx_path if stage == "export" else self.int8_path)
            if stage in ("evaluate", "quantize"):
                import numpy as np

                for name in result["evaluations"]:
                    data = json.loads((self.out / "eval" / f"{name}.json").read_text())
                    matrix = np.asarray(data["confusion"])
                    if matrix.ndim != 2 or data["scores"]["mean"]["iou"] is None:
                        return False
            if stage == "evaluate":
                import numpy as np

                with np.load(self.out / "eval" / "samples.npz") as samples:
                    return all(k in samples for k in ("images", "gt", "teacher", "student_kd"))
            if stage == "benchmark":
                data = json.loads((self.out / "benchmark.json").read_text())
                return len(data["rows"]) == len(result["labels"])
            if stage == "report":
                return "<table" in (self.out / "report.html").read_text(encoding="utf-8")
        except (SegcompressError, OSError, ValueError, KeyError, TypeError):
            return False
        return True

    # bodies: each returns (result, output files)
    def run_stage(self, stage: str) -> tuple[dict[str, Any], list[Path]]:
        body: Callable[[], tuple[dict[str, Any], list[Path]]] = {
            "data": self._data,
            "evaluate": self._evaluate,
            "export": self._export,
            "quantize": self._quantize,
            "benchmark": self._benchmark,
            "report": self._report,
        }.get(stage, lambda: self._train(stage))
        return body()

    def _data(self) -> tuple[dict[str, Any], list[Path]]:
        from segcompress.data.synthetic import read_manifest, synthesize

        b = self.budget
        summary = synthesize(
            self.data_root,
            n_train=b.n_train,
            n_val=b.n_val,
            size=b.synth_size,
            seed=b.seed,
            progress=self.progress,
        )
        return {"summary": summary, "manifest": read_manifest(self.data_root)}, [
            self.data_root / "synth.json"
        ]

    def _train(self, stage: str) -> tuple[dict[str, Any], list[Path]]:
        from segcompress.engine.run import train_run

        cfg = self.train_config(stage)
        row = train_run(cfg, overwrite=True)
        run = self.run_dir(stage)
        return {"last": row, "command": train_command(cfg)}, [run / "best.pt", run / "last.pt"]

    def _evaluate(self) -> tuple[dict[str, Any], list[Path]]:
        import numpy as np
        import torch

        from segcompress.data import MEAN, STD, load_split
        from segcompress.engine.checkpoint import load_checkpoint, model_from_checkpoint
        from segcompress.engine.evaluate import evaluate, torch_predictor
        from segcompress.viz import denormalize

        b = self.budget
        dataset = load_split(self.spec(), "val", img_size=b.img_size, train=False)
        loader = torch.utils.data.DataLoader(dataset, batch_size=b.batch)
        classes = dataset.classes
        vis = [dataset[i] for i in range(min(b.vis_rows, len(dataset)))]
        vis_images = torch.stack([image for image, _ in vis])
        samples: dict[str, Any] = {
            "images": np.stack([denormalize(im, MEAN, STD) for im in vis_images]),
            "gt": np.stack([mask.numpy() for _, mask in vis]).astype(np.uint8),
        }
        outputs = []
        evaluations = []
        device = torch.device("cpu")
        for stage, run in RUNS.items():
            path = self.checkpoint(stage)
            model = model_from_checkpoint(load_checkpoint(path), str(path))
            predict = torch_predictor(model, device)
            matrix = evaluate(
                predict, loader, classes.num_classes, classes.ignore_index, progress=self.progress
            )
            outputs.append(self._write_eval(run, matrix.matrix, classes, f"{path} (PyTorch)"))
            evaluations.append(run)
            samples[run] = predict(vis_images).argmax(1).numpy().astype(np.uint8)
        npz = self.out / "eval" / "samples.npz"
        np.savez_compressed(npz, **samples)
        return {"evaluations": evaluations, "classes": classes.to_dict()}, [*outputs, npz]

    def _write_eval(self, name: str, matrix: Any, classes: Any, source: str) -> Path:
        from segcompress.metrics import compute_scores, scores_to_dict

        scores = compute_scores(matrix, classes.names)
        path = self.out / "eval" / f"{name}.json"
        data = {
            "model": name,
            "source": source,
            "split": "val",
            "scores": scores_to_dict(scores),
            "confusion": matrix.cpu().tolist() if hasattr(matrix, "cpu") else matrix.tolist(),
        }
        _write_json(path, data)
        return path

    def _export(self) -> tuple[dict[str, Any], list[Path]]:
        from segcompress.deploy.onnx_export import export_checkpoint

        report = export_checkpoint(
            self.checkpoint("student-kd"),
            self.onnx_path,
            data=self.spec(),
            split="val",
            n_images=self.budget.vis_rows,
        )
        return report.to_dict(), [self.onnx_path]

    def _quantize(self) -> tuple[dict[str, Any], list[Path]]:
        import torch

        from segcompress.data import load_split
        from segcompress.deploy.quantize import quantize_dataset
        from segcompress.deploy.runtime import evaluate_predictor, load_predictor

        b = self.budget
        report = quantize_dataset(
            self.onnx_path,
            self.int8_path,
            self.spec(),
            calib_split="train",
            calib_n=b.calib_n,
            eval_data=self.spec(),
            eval_split="val",
            batch=b.batch,
        )
        dataset = load_split(self.spec(), "val", img_size=b.img_size, train=False)
        loader = torch.utils.data.DataLoader(dataset, batch_size=b.batch)
        outputs = [self.int8_path]
        evaluations = []
        for name, path in (
            ("student_kd_onnx", self.onnx_path),
            ("student_kd_int8", self.int8_path),
        ):
            predictor = load_predictor(path, device="cpu")
            matrix = evaluate_predictor(predictor, loader).matrix
            outputs.append(self._write_eval(name, matrix, dataset.classes, f"{path} (ORT)"))
            evaluations.append(name)
        return {**report.to_dict(), "evaluations": evaluations}, outputs

    def bench_labels(self) -> list[tuple[str, Path]]:
        """(row key, model file) pairs benchmarked, in report order."""
        return [
            ("teacher", self.checkpoint("teacher")),
            ("student_scratch", self.checkpoint("student-scratch")),
            ("student_kd", self.checkpoint("student-kd")),
            ("student_kd_onnx", self.onnx_path),
            ("student_kd_int8", self.int8_path),
        ]

    def bench_commands(self) -> list[str]:
        b = self.budget
        common = ["--img-size", _size(b.img_size), "--batch", "1"]
        common += ["--runs", str(b.bench_runs), "--warmup", str(b.bench_warmup), "--no-isolate"]
        pts = [str(p) for _, p in self.bench_labels()[:3]]
        onnx = [str(p) for _, p in self.bench_labels()[3:]]
        return [
            shlex.join(["segcompress", "benchmark", *pts, "--backends", "torch", *common]),
            shlex.join(["segcompress", "benchmark", *onnx, *common]),
        ]

    def _benchmark(self) -> tuple[dict[str, Any], list[Path]]:
        import torch

        from segcompress.deploy.benchmark import benchmark, machine_info

        b = self.budget
        machine = machine_info()
        labels = self.bench_labels()
        options = {
            "img_size": b.img_size,
            "batches": (1,),
            "runs": b.bench_runs,
            "warmup": b.bench_warmup,
            "isolate": False,
        }
        threads = torch.get_num_threads()  # in-process benchmarks set it for the whole process
        try:
            rows = benchmark([str(p) for _, p in labels[:3]], backends=("torch",), **options)
            rows += benchmark([str(p) for _, p in labels[3:]], **options)
        finally:
            torch.set_num_threads(threads)
        for (label, _), row in zip(labels, rows, strict=True):
            row["key"] = label
        machine["load_average_after"] = machine_info()["load_average"]
        path = self.out / "benchmark.json"
        _write_json(path, {"machine": machine, "rows": rows, "commands": self.bench_commands()})
        return {"labels": [label for label, _ in labels]}, [path]

    def commands(self) -> dict[str, list[str]]:
        """Per report row, the commands that reproduce it from scratch."""
        b = self.budget
        data = shlex.join(
            [
                "segcompress",
                "data",
                "synth",
                str(self.data_root),
                "--n-train",
                str(b.n_train),
                "--n-val",
                str(b.n_val),
                "--size",
                _size(b.synth_size),
                "--seed",
                str(b.seed),
            ]
        )
        root = str(self.data_root)

        def evaluate(stage: str) -> str:
            path = str(self.checkpoint(stage))
            return shlex.join(["segcompress", "evaluate", path, "--data", root, "--split", "val"])

        kd_pt = str(self.checkpoint("student-kd"))
        onnx, int8 = str(self.onnx_path), str(self.int8_path)
        export = ["segcompress", "export", kd_pt, "--out", onnx, "--data", root]
        export += ["--verify-n", str(b.vis_rows)]
        quantize = ["segcompress", "quantize", onnx, "--out", int8, "--calib-data", root]
        quantize += ["--calib-n", str(b.calib_n), "--eval-data", root]
        train = {s: train_command(self.train_config(s)) for s in RUNS}
        bench_pt, bench_onnx = self.bench_commands()
        return {
            "data": [data],
            "teacher": [train["teacher"], evaluate("teacher"), bench_pt],
            "student_scratch": [train["student-scratch"], evaluate("student-scratch"), bench_pt],
            "student_kd": [train["student-kd"], evaluate("student-kd"), bench_pt],
            "student_kd_onnx": [shlex.join(export), bench_onnx],
            "student_kd_int8": [shlex.join(quantize), bench_onnx],
        }

    def report_inputs(self) -> dict[str, Any]:
        """Everything the report shows, read back from the stages' files."""
        import numpy as np

        from segcompress.engine.logging import read_log

        evals = {}
        for name in [*RUNS.values(), "student_kd_onnx", "student_kd_int8"]:
            evals[name] = json.loads((self.out / "eval" / f"{name}.json").read_text())
        bench = json.loads((self.out / "benchmark.json").read_text())
        with np.load(self.out / "eval" / "samples.npz") as npz:
            samples = {k: npz[k] for k in npz.files}
        return {
            "budget": {
                k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.budget).items()
            },
            "classes": self.records["evaluate"]["result"]["classes"],
            "evaluations": evals,
            "benchmark": bench,
            "samples": samples,
            "curves": {run: read_log(self.out / run / "log.jsonl") for run in RUNS.values()},
            "export": self.records["export"]["result"],
            "quantize": self.records["quantize"]["result"],
            "commands": self.commands(),
            "stages": {s: self.records[s]["seconds"] for s in STAGES[:-1]},
            "data": self.records["data"]["result"]["summary"],
        }

    def _report(self) -> tuple[dict[str, Any], list[Path]]:
        from segcompress.report import write_report

        paths = write_report(self.report_inputs(), self.out)
        return {"files": [str(p) for p in paths]}, paths

    # running
    def _is_current(self, stage: str, key: dict[str, Any]) -> bool:
        record = _read_json(self.out / "stages" / f"{stage}.json")
        if not isinstance(record, dict) or record.get("format") != STAGE_FORMAT:
            return False
        if record.get("key") != json.loads(json.dumps(key)):
            return False
        try:
            if any(_sha256(p) != h for p, h in record["outputs"].items()):
                return False
        except (OSError, AttributeError):
            return False
        if not self.check(stage, record["result"]):
            return False
        self.records[stage] = record
        return True

    def run(self) -> dict[str, dict[str, Any]]:
        """Every stage in order, each skipped when up to date; returns the stage records."""
        log = _Log(len(STAGES))
        for index, stage in enumerate(STAGES, 1):
            log.banner(index, stage, STAGE_TITLES[stage])
            key = self.key(stage)
            if self._is_current(stage, key):
                self.records[stage]["skipped"] = True
                log.done(stage, self.records[stage]["seconds"], skipped=True)
                continue
            start = time.perf_counter()
            result, outputs = self.run_stage(stage)
            seconds = round(time.perf_counter() - start, 2)
            record = {
                "format": STAGE_FORMAT,
                "stage": stage,
                "key": key,
                "seconds": seconds,
                "result": result,
                "outputs": {str(p): _sha256(p) for p in outputs},
            }
            _write_json(self.out / "stages" / f"{stage}.json", record)
            self.records[stage] = {**json.loads(json.dumps(record)), "skipped": False}
            log.done(stage, seconds, skipped=False)
        return self.records


def run_demo(
    out: str | Path = "runs/demo", *, quick: bool = False, progress: bool = True
) -> dict[str, dict[str, Any]]:
    """Run (or complete) the demo in ``out``; returns each stage's record (``skipped`` says
    whether it was up to date)."""
    budget = QUICK_BUDGET if quick else DEFAULT_BUDGET
    return Demo(Path(out), budget, progress=progress).run()
