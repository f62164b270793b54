"""The teacher's test-time views: which scales (and mirrors) make the strongest cached teacher.

Cached teacher targets are the teacher's logits averaged over test-time views
(``distill --tta-scales``, mirror on by default), computed once per frame, so a stronger
average costs nothing per training step. This scores the teacher on the holdout (part of the
training split, ``benchmarks/splits/``) with each candidate set of scales, with and without the
mirror, and picks the best there. Val is then scored once, for the chosen views and for the
single view and the mirror average (what the cache used before), so that the choice never looks
at val. Several ``--teacher`` checkpoints are scored as one ensemble (their logits averaged,
as ``distill --ensemble`` caches them). ``--size`` scores the teacher as a student of that
size is taught: labels at ``--size``, the teacher's logits shrunk to it, and the frames it sees
at ``--teacher-size`` (as ``distill --teacher-size``; default ``--size``). Both default to the
teacher's input size. Writes ``benchmarks/results/teacher_tta.json``.

    .venv/bin/python benchmarks/bench_teacher_tta.py \\
        --teacher runs/bench/patient/teacher-48-ep-amp-bf16-s0/last.pt --amp bf16
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import torch
from harness import add_arguments, machine_snapshot, write_result
from torch.utils.data import DataLoader, Dataset

from segcompress.cli.common import parse_size
from segcompress.data.dataset import load_split
from segcompress.engine.checkpoint import checkpoint_classes, load_checkpoint, model_from_checkpoint
from segcompress.engine.evaluate import autocast, evaluate
from segcompress.engine.teacher_targets import TargetOptions, teacher_logits
from segcompress.models.ensemble import TeacherEnsemble
from segcompress.models.fuse import fuse

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "teacher_tta.json"
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "idd20k_lite"
HOLDOUT = HERE / "splits" / "idd_lite_holdout.txt"
CANDIDATES = ["1", "1.5", "2", "1,1.5", "0.75,1,1.5", "1,1.5,2"]
# Always scored on val beside the chosen views: the plain teacher and the cache's old default.
REFERENCES = [TargetOptions((1.0,), flip=False), TargetOptions((1.0,), flip=True)]


def parse_scales(text: str) -> tuple[float, ...]:
    return tuple(float(s) for s in text.split(","))


class FramesAndLabels(Dataset):
    """The frames of one split at one size and its labels at another: what a student of the
    labels' size is taught by a teacher that sees the frames at theirs."""

    def __init__(self, frames: Dataset, labels: Dataset) -> None:
        self.frames, self.labels = frames, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.frames[i][0], self.labels[i][1]


def miou(
    teacher: torch.nn.Module,
    loader: DataLoader,
    options: TargetOptions,
    num_classes: int,
    ignore_index: int,
    amp: torch.dtype | None,
    size: tuple[int, int],
) -> float:
    """Val-style mIoU (%) of the teacher's logits averaged over ``options``' views, shrunk or
    grown to ``size``, the labels' size."""

    def predict(images: torch.Tensor) -> torch.Tensor:
        with autocast(torch.device("cpu"), amp):
            return teacher_logits(teacher, images, options, size)

    matrix = evaluate(predict, loader, num_classes, ignore_index)
    return 100 * float(matrix.compute().mean["iou"])


def load_teacher(paths: list[Path]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The teacher with BatchNorm folded, as when the cache is built (the same logits up to
    rounding), or the ensemble of several; and the first checkpoint, whose classes and input
    size every member must share."""
    states = [load_checkpoint(path) for path in paths]
    for path, state in zip(paths[1:], states[1:], strict=True):
        for key in ("num_classes", "input_size"):
            if state[key] != states[0][key]:
                raise SystemExit(f"{path}: {key} {state[key]} differs from {paths[0]}'s")
    members = [
        fuse(model_from_checkpoint(state, str(path)).eval())
        for path, state in zip(paths, states, strict=True)
    ]
    return (members[0] if len(members) == 1 else TeacherEnsemble(members).eval()), states[0]


def choose(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The candidate with the best holdout mIoU (the first of equals: fewer views)."""
    return max(rows, key=lambda r: r["holdout"])


def label(options: TargetOptions) -> str:
    scales = ", ".join(f"{s:g}" for s in options.scales)
    return f"scales {scales}" + (" + mirror" if options.flip else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IDD-Lite root")
    parser.add_argument(
        "--teacher", type=Path, nargs="+", required=True, help="teacher checkpoint(s)"
    )
    parser.add_argument("--scales", nargs="+", default=CANDIDATES, help="candidate scale sets")
    parser.add_argument("--size", type=parse_size, help="labels' size, HxW (the student's)")
    parser.add_argument("--teacher-size", type=parse_size, help="frames' size, HxW")
    parser.add_argument("--amp", choices=("none", "bf16"), default="none")
    add_arguments(parser, RESULTS, threads=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = machine_snapshot(args.threads)
    amp = torch.bfloat16 if args.amp == "bf16" else None
    teacher, state = load_teacher(args.teacher)
    num_classes, ignore = state["num_classes"], checkpoint_classes(state).ignore_index
    size = args.size or tuple(state["input_size"])
    teacher_size = args.teacher_size or size

    def split_at(split: str, img_size: tuple[int, int]) -> Dataset:
        common = {"holdout": str(HOLDOUT), "format": "idd-lite"}
        return load_split(args.data, split, img_size=img_size, train=False, **common)

    loaders = {
        split: DataLoader(
            FramesAndLabels(split_at(split, teacher_size), split_at(split, size))
            if teacher_size != size
            else split_at(split, size),
            batch_size=16,
        )
        for split in ("holdout", "val")
    }
    parsed = [TargetOptions(parse_scales(s), flip) for s in args.scales for flip in (False, True)]
    candidates = list(dict.fromkeys(REFERENCES + parsed))
    rows = []
    for options in candidates:
        start = time.perf_counter()
        score = miou(teacher, loaders["holdout"], options, num_classes, ignore, amp, size)
        rows.append(
            {
                "views": label(options),
                "scales": list(options.scales),
                "flip": options.flip,
                "holdout": score,
                "holdout_s": time.perf_counter() - start,
            }
        )
        print(f"{rows[-1]['views']}: holdout {score:.2f}", flush=True)
    chosen = choose(rows)
    on_val = [*REFERENCES, TargetOptions(tuple(chosen["scales"]), chosen["flip"])]
    for options in dict.fromkeys(on_val):
        row = next(r for r in rows if r["views"] == label(options))
        row["val"] = miou(teacher, loaders["val"], options, num_classes, ignore, amp, size)
    print("\n| views | holdout mIoU | val mIoU |\n|---|---:|---:|")
    for r in rows:
        val = f"{r['val']:.2f}" if "val" in r else "-"
        mark = " (chosen)" if r is chosen else ""
        print(f"| {r['views']}{mark} | {r['holdout']:.2f} | {val} |")
    result = {
        "teacher": [str(path) for path in args.teacher],
        "amp": args.amp,
        "size": list(size),
        "teacher_size": list(teacher_size),
        "threads": args.threads,
        "chosen": chosen["views"],
        "rows": rows,
    }
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
