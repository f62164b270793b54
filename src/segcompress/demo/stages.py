"""The demo's stages: each one's settings, outputs, work, check and reproducing command.

Data, teacher, student from scratch, distilled student, evaluation, ONNX export, INT8
quantization, benchmark, report. The training stages write their ``TrainConfig`` into
``{out}/configs/`` and train from that file, so the ``segcompress train --config`` command the
report prints is exactly what ran.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from segcompress.demo.runner import Record, Stage
from segcompress.fileio import atomic_write, atomic_write_bytes

# The demo times its ONNX files in ONNX Runtime only: one row per file, as the report lists them.
ORT_BACKENDS = "onnx-fp32,onnx-int8"

if TYPE_CHECKING:
    from segcompress.config import DistillConfig, ModelConfig, TrainConfig
    from segcompress.demo.pipeline import Demo

__all__ = [
    "RUNS",
    "STAGES",
    "STAGE_CLASSES",
    "STAGE_TITLES",
    "TRAININGS",
    "Benchmark",
    "Data",
    "DemoStage",
    "Evaluate",
    "Export",
    "Quantize",
    "Report",
    "StudentKD",
    "StudentScratch",
    "Teacher",
    "Training",
    "build_stages",
    "train_command",
]


def _size(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def train_command(cfg: TrainConfig, config_path: Path) -> str:
    """The ``segcompress train``/``distill`` command that runs ``cfg`` from its config file."""
    verb = "distill" if cfg.distill.teacher else "train"
    return shlex.join(["segcompress", verb, "--config", str(config_path)])


class DemoStage(Stage):
    """A stage of one demo run: it reads its budget and paths from ``demo``."""

    def __init__(self, demo: Demo) -> None:
        self.demo = demo
        self.budget = demo.budget


class Data(DemoStage):
    """Render the synthetic IDD-layout dataset into ``{out}/data`` (offline, seeded)."""

    name = "data"
    title = "synthetic IDD-layout dataset"

    def settings(self) -> dict[str, Any]:
        b = self.budget
        return {"n_train": b.n_train, "n_val": b.n_val, "size": b.synth_size, "seed": b.seed}

    def outputs(self) -> list[Path]:
        return [self.demo.data_root / "synth.json"]

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        from segcompress.data.synthetic import synthesize

        b = self.budget
        summary = synthesize(
            self.demo.data_root,
            n_train=b.n_train,
            n_val=b.n_val,
            size=b.synth_size,
            seed=b.seed,
            progress=self.demo.progress,
        )
        return {"summary": summary}

    def check(self, result: dict[str, Any]) -> bool:
        from segcompress.data.synthetic import is_synthesized

        b = self.budget
        return is_synthesized(
            self.demo.data_root, n_train=b.n_train, n_val=b.n_val, size=b.synth_size, seed=b.seed
        )

    def command(self) -> str:
        b = self.budget
        args = ["--n-train", str(b.n_train), "--n-val", str(b.n_val)]
        args += ["--size", _size(b.synth_size), "--seed", str(b.seed)]
        return shlex.join(["segcompress", "data", "synth", str(self.demo.data_root), *args])


class Training(DemoStage):
    """Train one model in ``{out}/{folder}`` from ``{out}/configs/{folder}.yaml``."""

    needs = (Data.name,)
    folder: ClassVar[str]  # the run folder, also the model's row key in the report

    @property
    def run_dir(self) -> Path:
        return self.demo.out / self.folder

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / "best.pt"

    @property
    def config_path(self) -> Path:
        return self.demo.out / "configs" / f"{self.folder}.yaml"

    def model(self) -> ModelConfig:
        """The architecture trained."""
        from segcompress.config import ModelConfig

        return ModelConfig(name=self.budget.student, args=dict(self.budget.student_args))

    def epochs(self) -> int:
        """Both students get the same number of epochs."""
        return self.budget.epochs

    def distill(self) -> DistillConfig:
        """Distillation settings (none: plain supervised training)."""
        from segcompress.config import DistillConfig

        return DistillConfig()

    def config(self) -> TrainConfig:
        """The full training config; everything but the model, epochs and distillation is
        shared by the three runs, so the students' comparison is like for like."""
        from segcompress.config import (
            AugmentConfig,
            DataConfig,
            OptimConfig,
            TrainConfig,
            config_from_dict,
        )

        b = self.budget
        data = DataConfig(
            root=str(self.demo.data_root), format="idd-kaggle", img_size=b.img_size, workers=0
        )
        return TrainConfig(
            out=str(self.run_dir),
            epochs=self.epochs(),
            batch=b.batch,
            seed=b.seed,
            progress=self.demo.progress,
            samples=b.vis_rows,
            data=data,
            augment=config_from_dict(b.augment, "demo budget augment", cls=AugmentConfig),
            model=self.model(),
            optim=OptimConfig(lr=b.lr, warmup_epochs=b.warmup_epochs),
            distill=self.distill(),
        )

    def settings(self) -> dict[str, Any]:
        from segcompress.config import config_to_dict

        settings = config_to_dict(self.config())
        settings.pop("progress")  # progress bars do not change the result
        return settings

    def outputs(self) -> list[Path]:
        return [self.config_path, self.run_dir / "best.pt", self.run_dir / "last.pt"]

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        from segcompress.config import load_config, save_config
        from segcompress.engine.run import train_run

        self.config_path.parent.mkdir(parents=True, exist_ok=True)
        save_config(self.config(), self.config_path)
        # Train from the file itself, as the printed command would.
        row = train_run(load_config(self.config_path), overwrite=True)
        return {"last": row, "command": self.command()}

    def check(self, result: dict[str, Any]) -> bool:
        from segcompress.engine.checkpoint import load_checkpoint

        last = load_checkpoint(self.run_dir / "last.pt")
        best = load_checkpoint(self.checkpoint)
        return last["epoch"] == self.epochs() and 0 < best["epoch"] <= last["epoch"]

    def command(self) -> str:
        return train_command(self.config(), self.config_path)


class Teacher(Training):
    """The teacher: its own (lighter) architecture and a longer schedule."""

    name = "teacher"
    title = "train the teacher"
    folder = "teacher"

    def model(self) -> ModelConfig:
        from segcompress.config import ModelConfig

        return ModelConfig(name=self.budget.teacher, args=dict(self.budget.teacher_args))

    def epochs(self) -> int:
        return self.budget.teacher_epochs


class StudentScratch(Training):
    """The student trained on the labels alone: the baseline of the distillation gain."""

    name = "student-scratch"
    title = "train the student from scratch"
    folder = "student_scratch"


class StudentKD(Training):
    """The same student, budget and seed, distilled from the teacher by ``budget.distill``."""

    name = "student-kd"
    title = "distil the teacher into the student"
    folder = "student_kd"
    needs = (Data.name, Teacher.name)

    def distill(self) -> DistillConfig:
        from segcompress.config import DistillConfig, config_from_dict

        recipe = {**self.budget.distill, "teacher": str(self.demo.stage(Teacher).checkpoint)}
        return config_from_dict(recipe, "demo budget distill", cls=DistillConfig)


TRAININGS: tuple[type[Training], ...] = (Teacher, StudentScratch, StudentKD)
# Run folders of the three trained models, in report order.
RUNS = {cls.name: cls.folder for cls in TRAININGS}


def _write_eval(path: Path, name: str, matrix: Any, classes: Any, source: str) -> None:
    """One model's scores and confusion matrix as the report reads them."""
    from segcompress.metrics import compute_scores, scores_to_dict

    data = {
        "model": name,
        "source": source,
        "split": "val",
        "scores": scores_to_dict(compute_scores(matrix, classes.names)),
        "confusion": matrix.cpu().tolist() if hasattr(matrix, "cpu") else matrix.tolist(),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode(), "evaluation")


def _eval_ok(path: Path) -> bool:
    """An evaluation file parses and holds a 2-D confusion matrix and a mean IoU."""
    import numpy as np

    data = json.loads(path.read_text(encoding="utf-8"))
    return np.asarray(data["confusion"]).ndim == 2 and data["scores"]["mean"]["iou"] is not None


FIX_KEYS = ("fix_index", "fix_gain", "fix_images", "fix_gt", "fix_scratch", "fix_kd")


def _fix_examples(
    predictors: Mapping[str, Any], dataset: Any, loader: Any, k: int
) -> dict[str, Any]:
    """The ``k`` validation images where the distilled student's per-image mIoU gains most over
    the scratch student's (``fix_gain``, in mIoU), with both predictions, for the report."""
    import numpy as np
    import torch

    from segcompress.data import MEAN, STD
    from segcompress.metrics import image_miou
    from segcompress.viz import denormalize

    classes = dataset.classes
    scores: dict[str, list[torch.Tensor]] = {"student_scratch": [], "student_kd": []}
    for images, masks in loader:  # in dataset order: the loader does not shuffle
        for key, found in scores.items():
            pred = predictors[key](images).argmax(1)
            found.append(image_miou(pred, masks, classes.num_classes, classes.ignore_index))
    gain = torch.cat(scores["student_kd"]) - torch.cat(scores["student_scratch"])
    order = torch.argsort(torch.nan_to_num(gain, nan=-2.0), descending=True)[:k].tolist()
    chosen = [dataset[i] for i in order]
    images = torch.stack([image for image, _ in chosen])
    out = {
        "fix_index": np.asarray(order, dtype=np.int64),
        "fix_gain": gain[order].numpy(),
        "fix_images": np.stack([denormalize(im, MEAN, STD) for im in images]),
        "fix_gt": np.stack([mask.numpy() for _, mask in chosen]).astype(np.uint8),
    }
    for key, name in (("student_scratch", "fix_scratch"), ("student_kd", "fix_kd")):
        out[name] = predictors[key](images).argmax(1).numpy().astype(np.uint8)
    return out


class Evaluate(DemoStage):
    """Score the three checkpoints on the validation split, and keep sample predictions."""

    name = "evaluate"
    title = "score all three models on the validation split"
    needs = (Data.name, *RUNS)

    def settings(self) -> dict[str, Any]:
        b = self.budget
        return {"vis_rows": b.vis_rows, "img_size": b.img_size, "batch": b.batch}

    def evaluations(self) -> list[Path]:
        return [self.demo.eval_path(t.folder) for t in self.demo.trainings]

    @property
    def samples_path(self) -> Path:
        return self.demo.out / "eval" / "samples.npz"

    def outputs(self) -> list[Path]:
        return [*self.evaluations(), self.samples_path]

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        import numpy as np
        import torch

        from segcompress.data import MEAN, STD
        from segcompress.engine.checkpoint import load_checkpoint, model_from_checkpoint
        from segcompress.engine.evaluate import evaluate, torch_predictor
        from segcompress.viz import denormalize

        b = self.budget
        dataset, loader = self.demo.val_loader()
        classes = dataset.classes
        vis = [dataset[i] for i in range(min(b.vis_rows, len(dataset)))]
        vis_images = torch.stack([image for image, _ in vis])
        samples: dict[str, Any] = {
            "images": np.stack([denormalize(im, MEAN, STD) for im in vis_images]),
            "gt": np.stack([mask.numpy() for _, mask in vis]).astype(np.uint8),
        }
        device = torch.device("cpu")
        predictors = {}
        for training, path in zip(self.demo.trainings, self.evaluations(), strict=True):
            ckpt = training.checkpoint
            model = model_from_checkpoint(load_checkpoint(ckpt), str(ckpt))
            predict = torch_predictor(model, device)
            matrix = evaluate(
                predict,
                loader,
                classes.num_classes,
                classes.ignore_index,
                progress=self.demo.progress,
            )
            _write_eval(path, training.folder, matrix.matrix, classes, f"{ckpt} (PyTorch)")
            samples[training.folder] = predict(vis_images).argmax(1).numpy().astype(np.uint8)
            predictors[training.folder] = predict
        samples.update(_fix_examples(predictors, dataset, loader, b.vis_rows))
        with atomic_write(self.samples_path, "sample predictions") as fh:
            np.savez_compressed(fh, **samples)
        return {"evaluations": list(RUNS.values()), "classes": classes.to_dict()}

    def check(self, result: dict[str, Any]) -> bool:
        import numpy as np

        if not all(_eval_ok(path) for path in self.evaluations()):
            return False
        with np.load(self.samples_path) as samples:
            return all(k in samples for k in ("images", "gt", "teacher", "student_kd", *FIX_KEYS))

    def command(self, training: Training) -> str:
        """The command that scores ``training``'s checkpoint."""
        root = str(self.demo.data_root)
        path = str(training.checkpoint)
        return shlex.join(["segcompress", "evaluate", path, "--data", root, "--split", "val"])


class Export(DemoStage):
    """The distilled student as ONNX, checked against PyTorch on validation images."""

    name = "export"
    title = "export the distilled student to ONNX (parity-checked)"
    needs = (Data.name, StudentKD.name)

    def settings(self) -> dict[str, Any]:
        return {"verify_n": self.budget.vis_rows}

    def outputs(self) -> list[Path]:
        return [self.demo.onnx_path]

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        from segcompress.deploy.onnx_export import export_checkpoint

        report = export_checkpoint(
            self.demo.stage(StudentKD).checkpoint,
            self.demo.onnx_path,
            data=self.demo.spec(),
            split="val",
            n_images=self.budget.vis_rows,
        )
        return report.to_dict()

    def check(self, result: dict[str, Any]) -> bool:
        from segcompress.deploy.runtime import load_onnx

        load_onnx(self.demo.onnx_path)
        return True

    def command(self) -> str:
        root = str(self.demo.data_root)
        kd_pt, onnx = str(self.demo.stage(StudentKD).checkpoint), str(self.demo.onnx_path)
        export = ["segcompress", "export", kd_pt, "--out", onnx, "--data", root]
        return shlex.join([*export, "--verify-n", str(self.budget.vis_rows)])


class Quantize(DemoStage):
    """INT8 static quantization, then the FP32 and INT8 ONNX files scored like the others."""

    name = "quantize"
    title = "INT8 static quantization of the ONNX student"
    needs = (Data.name, Export.name)

    def settings(self) -> dict[str, Any]:
        b = self.budget
        return {"calib_n": b.calib_n, "img_size": b.img_size, "batch": b.batch}

    def models(self) -> list[tuple[str, Path]]:
        """(evaluation name, ONNX file) of the FP32 and the INT8 model."""
        return [("student_kd_onnx", self.demo.onnx_path), ("student_kd_int8", self.demo.int8_path)]

    def evaluations(self) -> list[Path]:
        return [self.demo.eval_path(name) for name, _ in self.models()]

    def outputs(self) -> list[Path]:
        return [self.demo.int8_path, *self.evaluations()]

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        from segcompress.deploy.quantize import quantize_dataset
        from segcompress.deploy.runtime import evaluate_predictor, load_predictor

        b, spec = self.budget, self.demo.spec()
        report = quantize_dataset(
            self.demo.onnx_path,
            self.demo.int8_path,
            spec,
            calib_split="train",
            calib_n=b.calib_n,
            eval_data=spec,
            eval_split="val",
            batch=b.batch,
        )
        dataset, loader = self.demo.val_loader()
        for (name, path), out in zip(self.models(), self.evaluations(), strict=True):
            matrix = evaluate_predictor(load_predictor(path, device="cpu"), loader).matrix
            _write_eval(out, name, matrix, dataset.classes, f"{path} (ORT)")
        return {**report.to_dict(), "evaluations": [name for name, _ in self.models()]}

    def check(self, result: dict[str, Any]) -> bool:
        from segcompress.deploy.runtime import load_onnx

        load_onnx(self.demo.int8_path)
        return all(_eval_ok(path) for path in self.evaluations())

    def command(self) -> str:
        root, b = str(self.demo.data_root), self.budget
        onnx, int8 = str(self.demo.onnx_path), str(self.demo.int8_path)
        quantize = ["segcompress", "quantize", onnx, "--out", int8, "--calib-data", root]
        return shlex.join([*quantize, "--calib-n", str(b.calib_n), "--eval-data", root])


class Benchmark(DemoStage):
    """Latency of the three checkpoints (PyTorch) and the two ONNX files (ONNX Runtime)."""

    name = "benchmark"
    title = "latency of every model"
    needs = (*RUNS, Export.name, Quantize.name)

    def settings(self) -> dict[str, Any]:
        b = self.budget
        return {"runs": b.bench_runs, "warmup": b.bench_warmup, "img_size": b.img_size}

    @property
    def path(self) -> Path:
        return self.demo.out / "benchmark.json"

    def outputs(self) -> list[Path]:
        return [self.path]

    def checkpoints(self) -> list[tuple[str, Path]]:
        """(row key, checkpoint) of the three trained models, run in PyTorch."""
        return [(t.folder, t.checkpoint) for t in self.demo.trainings]

    def labels(self) -> list[tuple[str, Path]]:
        """(row key, model file) pairs benchmarked, in report order: checkpoints, then ONNX."""
        return [*self.checkpoints(), *self.demo.stage(Quantize).models()]

    def commands(self) -> tuple[str, str]:
        """The commands for the checkpoints and for the ONNX files."""
        b = self.budget
        common = ["--img-size", _size(b.img_size), "--batch", "1"]
        common += ["--runs", str(b.bench_runs), "--warmup", str(b.bench_warmup), "--no-isolate"]
        pts = [str(p) for _, p in self.checkpoints()]
        onnx = [str(p) for _, p in self.demo.stage(Quantize).models()]
        return (
            shlex.join(["segcompress", "benchmark", *pts, "--backends", "torch", *common]),
            shlex.join(["segcompress", "benchmark", *onnx, "--backends", ORT_BACKENDS, *common]),
        )

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        import torch

        from segcompress.deploy.benchmark import benchmark, machine_info

        b = self.budget
        machine = machine_info()
        labels = self.labels()
        options = {
            "img_size": b.img_size,
            "batches": (1,),
            "runs": b.bench_runs,
            "warmup": b.bench_warmup,
            "isolate": False,
        }
        threads = torch.get_num_threads()  # in-process benchmarks set it for the whole process
        pts = [str(p) for _, p in self.checkpoints()]
        onnx = [str(p) for _, p in self.demo.stage(Quantize).models()]
        try:
            rows = benchmark(pts, backends=("torch",), **options)
            rows += benchmark(onnx, backends=tuple(ORT_BACKENDS.split(",")), **options)
        finally:
            torch.set_num_threads(threads)
        for (label, _), row in zip(labels, rows, strict=True):
            row["key"] = label
        machine["load_average_after"] = machine_info()["load_average"]
        data = {"machine": machine, "rows": rows, "commands": list(self.commands())}
        text = json.dumps(data, indent=2) + "\n"
        atomic_write_bytes(self.path, text.encode(), "benchmark results")
        return {"labels": [label for label, _ in labels]}

    def check(self, result: dict[str, Any]) -> bool:
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return len(data["rows"]) == len(result["labels"])


class Report(DemoStage):
    """``report.html`` and ``report.md`` from every other stage's files and records."""

    name = "report"
    title = "write report.html and report.md"
    needs = (Data.name, *RUNS, Evaluate.name, Export.name, Quantize.name, Benchmark.name)

    def settings(self) -> dict[str, Any]:
        from segcompress.report import REPORT_VERSION

        return {"report_version": REPORT_VERSION, "budget": self.demo.report_budget()}

    def outputs(self) -> list[Path]:
        from segcompress.report import FIGURES

        out = self.demo.out
        figures = [out / "figures" / f"{name}.png" for name in FIGURES]
        return [out / "report.html", out / "report.md", *figures]

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        from segcompress.report import write_report

        paths = write_report(self.demo.report_inputs(done), self.demo.out)
        return {"files": [str(p) for p in paths]}

    def check(self, result: dict[str, Any]) -> bool:
        return "<table" in (self.demo.out / "report.html").read_text(encoding="utf-8")


# The demo, in the order its stages run.
STAGE_CLASSES: tuple[type[DemoStage], ...] = (
    Data,
    *TRAININGS,
    Evaluate,
    Export,
    Quantize,
    Benchmark,
    Report,
)
STAGES = tuple(cls.name for cls in STAGE_CLASSES)
STAGE_TITLES = {cls.name: cls.title for cls in STAGE_CLASSES}


def build_stages(demo: Demo) -> list[DemoStage]:
    """The stages of one demo run, in the order they run."""
    return [cls(demo) for cls in STAGE_CLASSES]
