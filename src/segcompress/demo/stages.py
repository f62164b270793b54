"""The demo's first stages: data, teacher, student trained alone, distilled student, evaluation.

Each stage has its settings, outputs, work, check and reproducing command; the deployment
stages that follow are in :mod:`segcompress.demo.deploy_stages`. The training stages write
their ``TrainConfig`` into ``{out}/configs/`` and train from that file, so the
``segcompress train --config`` command the report prints is exactly what ran.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from segcompress.demo.runner import Record, Stage
from segcompress.fileio import atomic_write, atomic_write_bytes

if TYPE_CHECKING:
    from segcompress.config import DistillConfig, ModelConfig, TrainConfig
    from segcompress.data import DataSpec
    from segcompress.demo.budget import DemoBudget

__all__ = [
    "RUNS",
    "TRAININGS",
    "Data",
    "DemoRun",
    "DemoStage",
    "Evaluate",
    "StudentKD",
    "StudentScratch",
    "Teacher",
    "Training",
    "eval_ok",
    "size_text",
    "train_command",
    "write_eval",
]


def size_text(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def train_command(cfg: TrainConfig, config_path: Path) -> str:
    """The ``segcompress train``/``distill`` command that runs ``cfg`` from its config file."""
    verb = "distill" if cfg.distill.teacher else "train"
    return shlex.join(["segcompress", verb, "--config", str(config_path)])


S = TypeVar("S", bound="DemoStage")


class DemoRun(Protocol):
    """What a stage needs from the demo run it belongs to (:class:`segcompress.demo.Demo`).

    The stages depend on this interface, not on the pipeline that builds them."""

    out: Path
    budget: DemoBudget
    progress: bool
    data_root: Path
    unlabeled_root: Path
    onnx_path: Path
    int8_path: Path

    def stage(self, cls: type[S]) -> S: ...

    @property
    def trainings(self) -> list[Training]: ...

    def eval_path(self, name: str) -> Path: ...

    def spec(self) -> DataSpec: ...

    def val_loader(self) -> tuple[Any, Any]: ...

    def report_budget(self) -> dict[str, Any]: ...

    def report_inputs(self, done: Mapping[str, Record]) -> dict[str, Any]: ...


class DemoStage(Stage):
    """A stage of one demo run: it reads its budget and paths from ``demo``."""

    def __init__(self, demo: DemoRun) -> None:
        self.demo = demo
        self.budget = demo.budget


class Data(DemoStage):
    """Render the synthetic IDD-layout dataset into ``{out}/data`` (offline, seeded)."""

    name = "data"
    title = "synthetic IDD-layout dataset"

    def settings(self) -> dict[str, Any]:
        """The arguments of ``synthesize`` and ``is_synthesized`` that define the dataset."""
        b = self.budget
        return {
            "n_train": b.n_train,
            "n_val": b.n_val,
            "n_unlabeled": b.n_unlabeled,
            "size": b.synth_size,
            "seed": b.seed,
        }

    def outputs(self) -> list[Path]:
        return [self.demo.data_root / "synth.json"]

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        from segcompress.data.synthetic import synthesize

        summary = synthesize(self.demo.data_root, **self.settings(), progress=self.demo.progress)
        return {"summary": summary}

    def check(self, result: dict[str, Any]) -> bool:
        from segcompress.data.synthetic import is_synthesized

        return is_synthesized(self.demo.data_root, **self.settings())

    def command(self) -> str:
        b = self.budget
        args = ["--n-train", str(b.n_train), "--n-val", str(b.n_val)]
        if b.n_unlabeled:
            args += ["--n-unlabeled", str(b.n_unlabeled)]
        args += ["--size", size_text(b.synth_size), "--seed", str(b.seed)]
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

        b = self.budget
        return ModelConfig(
            name=b.student, args=dict(b.student_args), pretrained=b.student_pretrained
        )

    def epochs(self) -> int:
        """Both students get the same number of epochs."""
        return self.budget.epochs

    def eval_every(self) -> int:
        """Epochs between val passes: every epoch, so the students' curves are complete."""
        return 1

    def unlabeled(self) -> list[str]:
        """Folders of frames without masks this training adds (none: the labelled set only)."""
        return []

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
            LossConfig,
            OptimConfig,
            TrainConfig,
            config_from_dict,
        )

        b = self.budget
        data = DataConfig(
            root=str(self.demo.data_root),
            format="idd-kaggle",
            img_size=b.img_size,
            workers=0,
            unlabeled=self.unlabeled(),
        )
        return TrainConfig(
            out=str(self.run_dir),
            epochs=self.epochs(),
            eval_every=self.eval_every(),
            batch=b.batch,
            seed=b.seed,
            progress=self.demo.progress,
            samples=b.vis_rows,
            data=data,
            augment=config_from_dict(b.augment, "demo budget augment", cls=AugmentConfig),
            loss=config_from_dict(b.loss, "demo budget loss", cls=LossConfig),
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
    """The teacher: its own architecture, start and a longer schedule."""

    name = "teacher"
    title = "train the teacher"
    folder = "teacher"

    def model(self) -> ModelConfig:
        from segcompress.config import ModelConfig

        b = self.budget
        return ModelConfig(
            name=b.teacher, args=dict(b.teacher_args), pretrained=b.teacher_pretrained
        )

    def epochs(self) -> int:
        return self.budget.teacher_epochs

    def eval_every(self) -> int:
        """Fewer val passes: at 16 epochs they took a fifth of the teacher's stage."""
        return self.budget.teacher_eval_every


class StudentScratch(Training):
    """The student trained on the labels alone: the baseline of the distillation gain."""

    name = "student-scratch"
    title = "train the student alone (labels only)"
    folder = "student_scratch"


class StudentKD(Training):
    """The same student, budget and seed, distilled from the teacher by ``budget.distill``, on
    the labelled training set plus the budget's ``n_unlabeled`` frames (teacher targets only)."""

    name = "student-kd"
    title = "distil the teacher into the student"
    folder = "student_kd"
    needs = (Data.name, Teacher.name)

    def unlabeled(self) -> list[str]:
        """The synthetic frames rendered without masks, when the budget has any."""
        return [str(self.demo.unlabeled_root)] if self.budget.n_unlabeled else []

    def distill(self) -> DistillConfig:
        from segcompress.config import DistillConfig, config_from_dict

        recipe = {**self.budget.distill, "teacher": str(self.demo.stage(Teacher).checkpoint)}
        return config_from_dict(recipe, "demo budget distill", cls=DistillConfig)


TRAININGS: tuple[type[Training], ...] = (Teacher, StudentScratch, StudentKD)
# Run folders of the three trained models, in report order.
RUNS = {cls.name: cls.folder for cls in TRAININGS}


def write_eval(path: Path, name: str, matrix: Any, classes: Any, source: str) -> None:
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


def eval_ok(path: Path) -> bool:
    """An evaluation file parses and holds a 2-D confusion matrix and a mean IoU."""
    import numpy as np

    data = json.loads(path.read_text(encoding="utf-8"))
    return np.asarray(data["confusion"]).ndim == 2 and data["scores"]["mean"]["iou"] is not None


FIX_KEYS = ("fix_index", "fix_gain", "fix_images", "fix_gt", "fix_scratch", "fix_kd")


class _Pictures:
    """Validation images drawn at the rendered size: the input and ground truth as rendered,
    each model's logits (at the training size) upsampled bilinearly to it, as a deployed model
    labels a frame larger than its input."""

    def __init__(self, dataset: Any, large: Any, predictors: Mapping[str, Any]) -> None:
        self.dataset, self.large, self.predictors = dataset, large, predictors

    def draw(
        self, indices: list[int], names: Mapping[str, str], prefix: str = ""
    ) -> dict[str, Any]:
        """``{prefix}images``, ``{prefix}gt`` and, per model, ``names[model]``: class ids."""
        import numpy as np
        import torch
        import torch.nn.functional as F

        from segcompress.data import MEAN, STD
        from segcompress.viz import denormalize

        large = [self.large[i] for i in indices]
        inputs = torch.stack([self.dataset[i][0] for i in indices])
        out = {
            f"{prefix}images": np.stack([denormalize(image, MEAN, STD) for image, _ in large]),
            f"{prefix}gt": np.stack([mask.numpy() for _, mask in large]).astype(np.uint8),
        }
        size = tuple(large[0][1].shape[-2:])
        for model, name in names.items():
            logits = self.predictors[model](inputs)
            up = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            out[name] = up.argmax(1).numpy().astype(np.uint8)
        return out


def _fix_examples(pictures: _Pictures, loader: Any, k: int) -> dict[str, Any]:
    """The ``k`` validation images where the distilled student's per-image mIoU (at the
    training size) gains most over the student trained alone's (``fix_gain``, in mIoU), drawn."""
    import numpy as np
    import torch

    from segcompress.metrics import image_miou

    classes = pictures.dataset.classes
    scores: dict[str, list[torch.Tensor]] = {"student_scratch": [], "student_kd": []}
    for images, masks in loader:  # in dataset order: the loader does not shuffle
        for key, found in scores.items():
            pred = pictures.predictors[key](images).argmax(1)
            found.append(image_miou(pred, masks, classes.num_classes, classes.ignore_index))
    gain = torch.cat(scores["student_kd"]) - torch.cat(scores["student_scratch"])
    order = torch.argsort(torch.nan_to_num(gain, nan=-2.0), descending=True)[:k].tolist()
    names = {"student_scratch": "fix_scratch", "student_kd": "fix_kd"}
    drawn = pictures.draw(order, names, prefix="fix_")
    index = np.asarray(order, dtype=np.int64)
    return {"fix_index": index, "fix_gain": gain[order].numpy(), **drawn}


class Evaluate(DemoStage):
    """Score the three checkpoints on the validation split, and keep sample predictions."""

    name = "evaluate"
    title = "score all three models on the validation split"
    needs = (Data.name, *RUNS)

    def settings(self) -> dict[str, Any]:
        b = self.budget
        return {
            "vis_rows": b.vis_rows,
            "img_size": b.img_size,
            "picture_size": b.synth_size,
            "batch": b.batch,
        }

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

        from segcompress.data import load_split
        from segcompress.engine.checkpoint import load_checkpoint, model_from_checkpoint
        from segcompress.engine.evaluate import evaluate, torch_predictor

        b = self.budget
        dataset, loader = self.demo.val_loader()
        classes = dataset.classes
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
            write_eval(path, training.folder, matrix.matrix, classes, f"{ckpt} (PyTorch)")
            predictors[training.folder] = predict
        large = load_split(self.demo.spec(), "val", img_size=b.synth_size, train=False)
        pictures = _Pictures(dataset, large, predictors)
        rows = list(range(min(b.vis_rows, len(dataset))))
        samples = pictures.draw(rows, {name: name for name in predictors})
        samples.update(_fix_examples(pictures, loader, b.vis_rows))
        with atomic_write(self.samples_path, "sample predictions") as fh:
            np.savez_compressed(fh, **samples)
        return {"evaluations": list(RUNS.values()), "classes": classes.to_dict()}

    def check(self, result: dict[str, Any]) -> bool:
        import numpy as np

        if not all(eval_ok(path) for path in self.evaluations()):
            return False
        with np.load(self.samples_path) as samples:
            return all(k in samples for k in ("images", "gt", "teacher", "student_kd", *FIX_KEYS))

    def command(self, training: Training) -> str:
        """The command that scores ``training``'s checkpoint."""
        root = str(self.demo.data_root)
        path = str(training.checkpoint)
        return shlex.join(["segcompress", "evaluate", path, "--data", root, "--split", "val"])
