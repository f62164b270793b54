"""Does an ImageNet encoder help on the demo's synthetic data, at the demo's budget?

Each row is trained with the config the demo's own stage builds (``segcompress demo``:
``StudentScratch`` for the students, ``Teacher`` for the teachers; same epochs, lr, warm-up,
batch, augmentation, loss, image size and val passes), with only the model and the training
seed changed, on the synthetic set rendered as the demo's data stage renders it but with
``--synth-seed`` (default 0, the set the demo's budget was tuned on; the demo reports seed 1).
Every run is ``segcompress train --config FILE`` in its own process; runs already finished are
skipped. Reports each row's best val mIoU (the checkpoint the demo scores) as mean and sample
std over the seeds, the wall time per run, and params and GFLOPs at the training size.
Prints a Markdown table and writes ``benchmarks/results/demo_pretrained.json``.

    .venv/bin/python benchmarks/bench_demo_pretrained.py [--out runs/bench/demo_pretrained]
        [--seeds 0 1 2] [--teacher-seeds 0 1 2] [--no-teachers]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness import add_arguments, machine_snapshot, markdown_table, write_result

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "demo_pretrained.json"


@dataclass(frozen=True)
class Row:
    """One model trained at the demo's recipe: a student's (``teacher=False``) or the
    teacher's (its 18 epochs and val passes every 6)."""

    key: str
    label: str
    model: str
    args: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = False
    teacher: bool = False


STUDENTS = (
    Row("student_s", "student_s from scratch (the demo's former student)", "student_s"),
    Row("student_lite_random", "student_lite, random init", "student_lite"),
    Row("student_lite_imagenet", "student_lite, ImageNet encoder", "student_lite", pretrained=True),
)
TEACHERS = (
    Row(
        "teacher_light",
        "light teacher from scratch (the demo's former teacher)",
        "teacher",
        {"base_width": 16, "skip_channels": 8},
        teacher=True,
    ),
    Row(
        "teacher_lite2_imagenet",
        "teacher, EfficientNet-Lite2 encoder from ImageNet",
        "teacher",
        {"encoder": "efficientnet_lite2"},
        pretrained=True,
        teacher=True,
    ),
)


def demo_stub(out: Path, data: Path) -> Any:
    """What the demo's stages read from their demo run: its folder, budget and data."""
    from segcompress.demo.budget import DEFAULT_BUDGET

    return SimpleNamespace(out=out, budget=DEFAULT_BUDGET, progress=False, data_root=data)


def data_settings(stub: Any, synth_seed: int) -> dict[str, Any]:
    """The demo's data stage settings with the rendering seed replaced."""
    from segcompress.demo.stages import Data

    return {**Data(stub).settings(), "seed": synth_seed}


def run_config(stub: Any, row: Row, seed: int) -> Any:
    """The demo stage's ``TrainConfig`` with only the model, seed and run folder changed."""
    from segcompress.config import ModelConfig
    from segcompress.demo.stages import StudentScratch, Teacher

    cfg = (Teacher if row.teacher else StudentScratch)(stub).config()
    model = ModelConfig(name=row.model, args=dict(row.args), pretrained=row.pretrained)
    return replace(cfg, out=str(stub.out / f"{row.key}-s{seed}"), seed=seed, model=model)


def final_scores(run_dir: Path) -> dict[str, float]:
    """The last epoch's val mIoU and the best over epochs (``best.pt``'s), in percent."""
    with (run_dir / "metrics.csv").open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_miou")]
    if not rows:
        raise SystemExit(f"{run_dir}: no val mIoU in metrics.csv")
    last = rows[-1]
    return {
        "epochs": int(last["epoch"]),
        "best_miou": 100 * float(last["best_miou"]),
        "last_miou": 100 * float(last["val_miou"]),
    }


def train(cfg: Any, config_dir: Path, threads: int) -> dict[str, Any]:
    """Train ``cfg`` from its config file unless a finished run is there; its scores and the
    wall time of the run (recorded in ``wall.json`` when it trained)."""
    from segcompress.config import save_config

    run_dir = Path(cfg.out)
    wall_file = run_dir / "wall.json"
    config_path = config_dir / f"{run_dir.name}.yaml"
    command = [
        str(Path(sys.executable).with_name("segcompress")), "train",
        "--config", str(config_path), "--threads", str(threads), "--overwrite",
    ]  # fmt: skip
    if not wall_file.is_file():
        config_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, config_path)
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env)
        wall = time.perf_counter() - start
        wall_file.write_text(json.dumps({"wall_s": wall}) + "\n", encoding="utf-8")
    scores = final_scores(run_dir)
    if scores["epochs"] != cfg.epochs:
        raise SystemExit(f"{run_dir}: {scores['epochs']} epochs, expected {cfg.epochs}")
    wall = json.loads(wall_file.read_text(encoding="utf-8"))["wall_s"]
    return {"seed": cfg.seed, **scores, "wall_s": round(wall, 1), "command": command[1:]}


def model_cost(row: Row, num_classes: int, img_size: tuple[int, int]) -> dict[str, Any]:
    """Parameters and GFLOPs (fused, eval mode, one image) at ``img_size``."""
    from segcompress.models.fuse import fuse
    from segcompress.models.profile import count_flops, count_params
    from segcompress.models.registry import create_model

    model = fuse(create_model(row.model, num_classes=num_classes, **row.args)).eval()
    return {"params": count_params(model), "gflops": count_flops(model, img_size) / 1e9}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std (0 for one run) of the best mIoU, and the mean wall time."""
    best = [r["best_miou"] for r in runs]
    return {
        "n": len(runs),
        "miou_mean": statistics.mean(best),
        "miou_std": statistics.stdev(best) if len(best) > 1 else 0.0,
        "last_miou_mean": statistics.mean(r["last_miou"] for r in runs),
        "wall_s_mean": statistics.mean(r["wall_s"] for r in runs),
    }


def table_row(row: dict[str, Any]) -> list[str]:
    """A table line: mIoU as ``mean ± std`` (just the value for one seed), seeds, epochs,
    wall time per run, params (M) and GFLOPs."""
    s = row["summary"]
    miou = f"{s['miou_mean']:.1f}"
    if s["n"] > 1:
        miou += f" ± {s['miou_std']:.1f}"
    seeds = ",".join(str(r["seed"]) for r in row["runs"])
    return [
        row["label"],
        miou,
        seeds,
        str(row["epochs"]),
        f"{s['wall_s_mean']:.0f}",
        f"{row['params'] / 1e6:.2f}",
        f"{row['gflops']:.3f}",
    ]


HEADER = ["model", "val mIoU % (best)", "seeds", "epochs", "s/run", "params (M)", "GFLOPs"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/bench/demo_pretrained"))
    parser.add_argument("--synth-seed", type=int, default=0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher-seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-teachers", action="store_true", help="students only")
    add_arguments(parser, RESULTS, threads=1)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    started = machine_snapshot(args.threads)

    from segcompress.data.synthetic import is_synthesized, synthesize

    out = args.out.resolve()
    stub = demo_stub(out / "runs", out / "data")
    shape = data_settings(stub, args.synth_seed)
    if not is_synthesized(stub.data_root, **shape):
        synthesize(stub.data_root, **shape)
    budget = stub.budget
    plan = [(row, args.seeds) for row in STUDENTS]
    if not args.no_teachers:
        plan += [(row, args.teacher_seeds) for row in TEACHERS]

    rows = []
    for row, seeds in plan:
        runs = [train(run_config(stub, row, s), out / "configs", args.threads) for s in seeds]
        cfg = run_config(stub, row, seeds[0])
        cost = model_cost(row, 26, budget.img_size)
        rows.append(
            {
                "key": row.key,
                "label": row.label,
                "model": row.model,
                "args": row.args,
                "pretrained": row.pretrained,
                "epochs": cfg.epochs,
                **cost,
                "runs": runs,
                "summary": summarize(runs),
            }
        )
    h, w = budget.img_size
    table = markdown_table(HEADER, [table_row(r) for r in rows], numeric=6)
    print(f"Synthetic set (seed {args.synth_seed}) val, {h}x{w}, the demo's recipe\n")
    print(table)
    recipe = {
        "epochs": budget.epochs,
        "teacher_epochs": budget.teacher_epochs,
        "lr": budget.lr,
        "warmup_epochs": budget.warmup_epochs,
        "batch": budget.batch,
        "img_size": list(budget.img_size),
        "augment": budget.augment,
        "loss": budget.loss,
    }
    result = {
        "data": {**shape, "size": list(shape["size"])},
        "recipe": recipe,
        "metric": "best val mIoU over epochs (best.pt, what the demo scores), percent",
        "rows": rows,
        "table": table,
    }
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
