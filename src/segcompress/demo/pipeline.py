"""One demo run: its budget, paths and stages, and what the report gathers from them."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from segcompress.data.synthetic.writer import UNLABELED
from segcompress.demo.budget import DEFAULT_BUDGET, QUICK_BUDGET, DemoBudget
from segcompress.demo.deploy_stages import Benchmark, EdgeVideo, Export, Quantize, build_stages
from segcompress.demo.runner import Record, Runner
from segcompress.demo.stages import Data, DemoStage, Evaluate, StudentKD, Training

if TYPE_CHECKING:
    from collections.abc import Mapping

    from segcompress.config import TrainConfig
    from segcompress.data import DataSpec

__all__ = ["Demo", "run_demo"]

S = TypeVar("S", bound=DemoStage)


class Demo:
    """One demo run in ``out``: the paths its stages share, and the report's inputs."""

    def __init__(self, out: str | Path, budget: DemoBudget, *, progress: bool) -> None:
        self.out = Path(out)
        self.budget = budget
        self.progress = progress
        self.data_root = self.out / "data"
        self.unlabeled_root = self.data_root / UNLABELED / "images"
        self.onnx_path = self.out / "deploy" / "student_kd.onnx"
        self.int8_path = self.out / "deploy" / "student_kd.int8.onnx"
        self.stages = build_stages(self)

    def stage(self, cls: type[S]) -> S:
        """This run's stage of class ``cls``."""
        for stage in self.stages:
            if isinstance(stage, cls):
                return stage
        raise LookupError(f"the demo has no {cls.__name__} stage")

    @property
    def trainings(self) -> list[Training]:
        """The three training stages, in report order (teacher, student alone, distilled)."""
        return [s for s in self.stages if isinstance(s, Training)]

    def train_config(self, name: str) -> TrainConfig:
        """The config the training stage ``name`` (a key of ``RUNS``) trains with."""
        return next(t for t in self.trainings if t.name == name).config()

    def eval_path(self, name: str) -> Path:
        return self.out / "eval" / f"{name}.json"

    def spec(self) -> DataSpec:
        from segcompress.data import DataSpec

        return DataSpec(root=str(self.data_root), format="idd-kaggle")

    def val_loader(self) -> tuple[Any, Any]:
        """The validation split at the training size, and a loader over it in budget batches."""
        import torch

        from segcompress.data import load_split

        dataset = load_split(self.spec(), "val", img_size=self.budget.img_size, train=False)
        return dataset, torch.utils.data.DataLoader(dataset, batch_size=self.budget.batch)

    def run(self) -> dict[str, Record]:
        """Every stage in order, each skipped when up to date; returns the stage records."""
        return Runner(self.stages, self.out / "stages").run()

    def commands(self) -> dict[str, list[str]]:
        """Per report row, the commands that reproduce it from scratch."""
        evaluate = self.stage(Evaluate)
        bench_pt, bench_onnx = self.stage(Benchmark).commands()
        commands = {"data": [self.stage(Data).command()]}
        for training in self.trainings:
            commands[training.folder] = [training.command(), evaluate.command(training), bench_pt]
        for key, path, runtime in self.stage(Quantize).models():
            made_by = Quantize if path == self.int8_path else Export
            score = ["segcompress", "evaluate", str(path), "--data", str(self.data_root)]
            score += ["--split", "val", "--runtime", runtime]
            commands[key] = [self.stage(made_by).command(), shlex.join(score), bench_onnx]
        return commands

    def report_budget(self) -> dict[str, Any]:
        """The budget as the report shows it, with the KD terms the distilled student used."""
        budget = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self.budget).items()}
        kd = self.stage(StudentKD).distill()
        return {**budget, "kd": kd.kd, "temperature": kd.temperature, "lambda_kd": kd.lambda_kd}

    def report_inputs(self, done: Mapping[str, Record]) -> dict[str, Any]:
        """Everything the report shows, read back from the stages' files and records."""
        import numpy as np

        from segcompress.engine.logging import read_log

        rows = [name for name, _, _ in self.stage(Benchmark).labels()]  # every model, in order
        evals = {name: json.loads(self.eval_path(name).read_text()) for name in rows}
        bench = json.loads(self.stage(Benchmark).path.read_text())
        with np.load(self.stage(Evaluate).samples_path) as npz:
            samples = {k: npz[k] for k in npz.files}
        return {
            "budget": self.report_budget(),
            "classes": done[Evaluate.name]["result"]["classes"],
            "evaluations": evals,
            "benchmark": bench,
            "samples": samples,
            "curves": {t.folder: read_log(t.run_dir / "log.jsonl") for t in self.trainings},
            "export": done[Export.name]["result"],
            "quantize": done[Quantize.name]["result"],
            "commands": self.commands(),
            "stages": {name: record["seconds"] for name, record in done.items()},
            "data": done[Data.name]["result"]["summary"],
            "edge": {
                **done[EdgeVideo.name]["result"],
                "strip": str(self.stage(EdgeVideo).folder / "frames.png"),
            },
        }


def run_demo(
    out: str | Path = "runs/demo", *, quick: bool = False, progress: bool = True
) -> dict[str, Record]:
    """Run (or complete) the demo in ``out``; returns each stage's record (``skipped`` says
    whether it was up to date)."""
    budget = QUICK_BUDGET if quick else DEFAULT_BUDGET
    return Demo(out, budget, progress=progress).run()
