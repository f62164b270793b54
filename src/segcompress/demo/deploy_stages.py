"""The demo's deployment stages: ONNX export, INT8 quantization, benchmark, and the report.

They follow the trainings and the evaluation of :mod:`segcompress.demo.stages`; ``STAGE_CLASSES``
is the whole demo in the order its stages run.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segcompress.demo.stages import (
    RUNS,
    TRAININGS,
    Data,
    DemoRun,
    DemoStage,
    Evaluate,
    StudentKD,
    eval_ok,
    size_text,
    write_eval,
)
from segcompress.errors import DataError
from segcompress.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from segcompress.demo.runner import Record

__all__ = [
    "STAGES",
    "STAGE_CLASSES",
    "STAGE_TITLES",
    "Benchmark",
    "EdgeVideo",
    "Export",
    "Quantize",
    "Report",
    "build_stages",
]

# Row-key suffix and benchmark backend prefix of each runtime the ONNX files are scored and
# timed in; OpenVINO's rows appear when the optional package is installed.
RUNTIME_ROWS = {"onnxruntime": ("", "onnx"), "openvino": ("_openvino", "openvino")}


def installed_runtimes() -> list[str]:
    """The runtimes of ``RUNTIME_ROWS`` this machine has (ONNX Runtime always)."""
    from segcompress.deploy.openvino_runtime import openvino_available

    return [r for r in RUNTIME_ROWS if r == "onnxruntime" or openvino_available()]


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
        return {
            "calib_n": b.calib_n,
            "img_size": b.img_size,
            "batch": b.batch,
            "runtimes": installed_runtimes(),
        }

    def models(self) -> list[tuple[str, Path, str]]:
        """(row key, ONNX file, runtime) of the FP32 and the INT8 file in each installed runtime:
        ``student_kd_onnx``/``student_kd_int8`` in ONNX Runtime, then ``..._openvino``."""
        files = [("student_kd_onnx", self.demo.onnx_path), ("student_kd_int8", self.demo.int8_path)]
        return [
            (key + RUNTIME_ROWS[runtime][0], path, runtime)
            for runtime in installed_runtimes()
            for key, path in files
        ]

    def evaluations(self) -> list[Path]:
        return [self.demo.eval_path(name) for name, _, _ in self.models()]

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
        for (name, path, runtime), out in zip(self.models(), self.evaluations(), strict=True):
            predictor = load_predictor(path, device="cpu", runtime=runtime)
            matrix = evaluate_predictor(predictor, loader).matrix
            write_eval(out, name, matrix, dataset.classes, f"{path} ({runtime})")
        return {**report.to_dict(), "evaluations": [name for name, _, _ in self.models()]}

    def check(self, result: dict[str, Any]) -> bool:
        from segcompress.deploy.runtime import load_onnx

        load_onnx(self.demo.int8_path)
        return all(eval_ok(path) for path in self.evaluations())

    def command(self) -> str:
        root, b = str(self.demo.data_root), self.budget
        onnx, int8 = str(self.demo.onnx_path), str(self.demo.int8_path)
        quantize = ["segcompress", "quantize", onnx, "--out", int8, "--calib-data", root]
        return shlex.join([*quantize, "--calib-n", str(b.calib_n), "--eval-data", root])


class Benchmark(DemoStage):
    """Latency of the three checkpoints (PyTorch) and of the two ONNX files in each installed
    runtime (ONNX Runtime, and OpenVINO when installed): one row per model and backend."""

    name = "benchmark"
    title = "latency of every model"
    needs = (*RUNS, Export.name, Quantize.name)

    def settings(self) -> dict[str, Any]:
        b = self.budget
        return {
            "runs": b.bench_runs,
            "warmup": b.bench_warmup,
            "img_size": b.img_size,
            "runtimes": installed_runtimes(),
        }

    @property
    def path(self) -> Path:
        return self.demo.out / "benchmark.json"

    def outputs(self) -> list[Path]:
        return [self.path]

    def labels(self) -> list[tuple[str, Path, str]]:
        """(row key, model file, backend) of every row, in report order: the three checkpoints
        in PyTorch, then each ONNX file in each installed runtime."""
        rows = [(t.folder, t.checkpoint, "torch") for t in self.demo.trainings]
        for key, path, runtime in self.demo.stage(Quantize).models():
            precision = "int8" if path == self.demo.int8_path else "fp32"
            rows.append((key, path, f"{RUNTIME_ROWS[runtime][1]}-{precision}"))
        return rows

    def commands(self) -> tuple[str, str]:
        """The commands for the checkpoints and for the ONNX files."""
        b = self.budget
        common = ["--img-size", size_text(b.img_size), "--batch", "1"]
        common += ["--runs", str(b.bench_runs), "--warmup", str(b.bench_warmup), "--no-isolate"]
        labels = self.labels()
        pts = [str(p) for _, p, backend in labels if backend == "torch"]
        onnx = list(dict.fromkeys(str(p) for _, p, backend in labels if backend != "torch"))
        graph = ",".join(dict.fromkeys(backend for *_, backend in labels if backend != "torch"))
        return (
            shlex.join(["segcompress", "benchmark", *pts, "--backends", "torch", *common]),
            shlex.join(["segcompress", "benchmark", *onnx, "--backends", graph, *common]),
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
        keys = {(str(path), backend): label for label, path, backend in labels}
        measured = {}
        try:
            for path in dict.fromkeys(path for path, _ in keys):  # each file with its backends
                asked = tuple(backend for file, backend in keys if file == path)
                for row in benchmark([path], backends=asked, **options):
                    measured[path, row["backend"]] = row
        finally:
            torch.set_num_threads(threads)
        rows = [{**measured[file_backend], "key": label} for file_backend, label in keys.items()]
        machine["load_average_after"] = machine_info()["load_average"]
        data = {"machine": machine, "rows": rows, "commands": list(self.commands())}
        text = json.dumps(data, indent=2) + "\n"
        atomic_write_bytes(self.path, text.encode(), "benchmark results")
        return {"labels": [label for label, _, _ in labels]}

    def check(self, result: dict[str, Any]) -> bool:
        data = json.loads(self.path.read_text(encoding="utf-8"))
        return len(data["rows"]) == len(result["labels"])


class EdgeVideo(DemoStage):
    """The distilled INT8 student on a synthetic driving clip, run by ``segcompress-edge`` in a
    process of its own, as on the vehicle (where there is no torch)."""

    name = "edge-video"
    title = "segcompress-edge: the INT8 student on a synthetic driving clip"
    needs = (Quantize.name,)
    threads = 2

    def settings(self) -> dict[str, Any]:
        b = self.budget
        return {
            "size": list(b.synth_size),
            "scenes": b.clip_scenes,
            "frames": b.clip_frames,
            "fps": b.clip_fps,
            "seed": b.seed,
            "threads": self.threads,
        }

    @property
    def folder(self) -> Path:
        return self.demo.out / "edge"

    def outputs(self) -> list[Path]:
        names = ("drive.mp4", "drive.overlay.mp4", "drive.summary.json", "frames.png")
        return [self.folder / name for name in names]

    def command(self) -> list[str]:
        clip, out = str(self.folder / "drive.mp4"), str(self.folder)
        run = ["segcompress-edge", "run", str(self.demo.int8_path), clip, "--out", out]
        return [*run, "--threads", str(self.threads), "--overwrite"]

    def run(self, done: Mapping[str, Record]) -> dict[str, Any]:
        from segcompress.demo.edge_clip import frame_strip, render_clip

        s = self.settings()
        self.folder.mkdir(parents=True, exist_ok=True)
        size = (s["size"][0], s["size"][1])
        render_clip(self.folder / "drive.mp4", size, s["scenes"], s["frames"], s["fps"], s["seed"])
        edge = [sys.executable, "-m", "segcompress_edge", *self.command()[1:], "--no-progress"]
        ran = subprocess.run(
            edge, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL
        )
        if ran.returncode != 0:
            last = (ran.stderr.strip().splitlines() or ["no message"])[-1]
            raise DataError(f"segcompress-edge failed on the demo clip: {last}")
        summary = json.loads((self.folder / "drive.summary.json").read_text(encoding="utf-8"))
        shown = frame_strip(
            self.folder / "drive.overlay.mp4", self.folder / "frames.png", s["frames"]
        )
        return {
            "frames": summary["frames"],
            "size": s["size"],
            "end_to_end_fps": summary["end_to_end_fps"],
            "model_ms_p50": summary["model_ms_p50"],
            "threads": self.threads,
            "shown": shown,
            "command": shlex.join(self.command()),
        }

    def check(self, result: dict[str, Any]) -> bool:
        summary = json.loads((self.folder / "drive.summary.json").read_text(encoding="utf-8"))
        return summary["frames"] == self.budget.clip_scenes * self.budget.clip_frames


class Report(DemoStage):
    """``report.html`` and ``report.md`` from every other stage's files and records."""

    name = "report"
    title = "write report.html and report.md"
    needs = (
        Data.name,
        *RUNS,
        Evaluate.name,
        Export.name,
        Quantize.name,
        Benchmark.name,
        EdgeVideo.name,
    )

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
    EdgeVideo,
    Report,
)
STAGES = tuple(cls.name for cls in STAGE_CLASSES)
STAGE_TITLES = {cls.name: cls.title for cls in STAGE_CLASSES}


def build_stages(demo: DemoRun) -> list[DemoStage]:
    """The stages of one demo run, in the order they run."""
    return [cls(demo) for cls in STAGE_CLASSES]
