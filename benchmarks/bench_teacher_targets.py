"""Cached teacher targets: fidelity against the live teacher, build time and size on disk.

For 64 training images (a fixed subset) each stored resolution (``--strides``) is built, then
every image is drawn through the training augmentation (random scale 0.5-2, crop, flip; colour
jitter off, so that only the geometry differs) several times with a fixed seed, and the warped
cached logits are compared with the live teacher run on the augmented image: share of valid
pixels whose argmax agrees, and mean per-pixel KL(live || cached). The same is done with colour
jitter on, which the live teacher sees and the cached one does not. Also prints the cache's size
for IDD-Lite and for full IDD (6,993 training images, 26 classes, 512x1024) at each stride.
Writes ``benchmarks/results/teacher_targets.json``.

    .venv/bin/python benchmarks/bench_teacher_targets.py \\
        --teacher runs/bench/patient/teacher-scale-s0/last.pt
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import torch
from harness import add_arguments, machine_snapshot, write_result

from segcompress.config import AugmentConfig
from segcompress.data.dataset import load_split
from segcompress.engine.checkpoint import load_checkpoint, model_from_checkpoint
from segcompress.engine.teacher_targets import (
    CachedTeacherDataset,
    TargetOptions,
    TrainingFrames,
    target_fidelity,
    teacher_targets,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "teacher_targets.json"
DEFAULT_DATA = HERE.parent.parent / "shared" / "datasets" / "idd20k_lite"
HOLDOUT = HERE / "splits" / "idd_lite_holdout.txt"
FULL_IDD = {"images": 6993, "classes": 26, "size": (512, 1024)}


def cache_bytes(images: int, classes: int, size: tuple[int, int], stride: int) -> int:
    """float16 logits of every image at 1/stride of ``size``."""
    h, w = (math.ceil(s / stride) for s in size)
    return images * classes * h * w * 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IDD-Lite root")
    parser.add_argument("--teacher", type=Path, required=True, help="teacher checkpoint")
    parser.add_argument("--images", type=int, default=64, help="training images compared")
    parser.add_argument("--draws", type=int, default=4, help="augmented draws per image")
    parser.add_argument("--strides", type=int, nargs="+", default=[1, 2, 4])
    add_arguments(parser, RESULTS, threads=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = machine_snapshot(args.threads)
    state = load_checkpoint(args.teacher)
    teacher = model_from_checkpoint(state, str(args.teacher)).eval()
    size = tuple(state["input_size"])
    common = {"img_size": size, "format": "idd-lite", "holdout": str(HOLDOUT)}
    clean = load_split(args.data, "train", train=False, **common)
    indices = list(range(0, len(clean), len(clean) // args.images))[: args.images]
    rows = []
    cpu = torch.device("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        for stride in args.strides:
            options = TargetOptions(stride=stride)
            start = time.perf_counter()
            targets = teacher_targets(
                args.teacher,
                teacher,
                clean.subset(indices),
                options,
                cache_dir=Path(tmp),
                device=cpu,
            )
            assert targets is not None
            build_s = time.perf_counter() - start
            for jitter in (0.0, 0.3):
                augment = AugmentConfig(brightness=jitter, contrast=jitter, saturation=jitter)
                train = load_split(args.data, "train", train=True, augment=augment, **common)
                data = CachedTeacherDataset(TrainingFrames(train.subset(indices)), targets)
                torch.manual_seed(0)
                fidelity = target_fidelity(teacher, data, list(range(len(indices))) * args.draws)
                rows.append(
                    {
                        "stride": stride,
                        "stored": list(targets.logits.shape[-2:]),
                        "colour_jitter": jitter,
                        **fidelity,
                        "build_s_per_image": build_s / len(indices),
                    }
                )
                print(rows[-1], flush=True)
    classes = state["num_classes"]
    sizes = []
    for stride in (1, 2, 4):
        sizes.append(
            {
                "dataset": f"IDD-Lite train minus holdout ({len(clean)} images, {classes} "
                f"classes, {size[0]}x{size[1]})",
                "stride": stride,
                "bytes": cache_bytes(len(clean), classes, size, stride),
            }
        )
        full = FULL_IDD
        sizes.append(
            {
                "dataset": f"IDD ({full['images']} images, {full['classes']} classes, "
                f"{full['size'][0]}x{full['size'][1]})",
                "stride": stride,
                "bytes": cache_bytes(full["images"], full["classes"], full["size"], stride),
            }
        )
    print("\n| stride | stored | colour jitter | argmax agreement | mean KL | build ms/image |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['stride']} | {r['stored'][0]}x{r['stored'][1]} | {r['colour_jitter']} "
            f"| {100 * r['agreement']:.2f}% | {r['kl']:.4f} | {1000 * r['build_s_per_image']:.0f} |"
        )
    print("\n| dataset | stride | cache size |\n|---|---:|---:|")
    for s in sizes:
        print(f"| {s['dataset']} | {s['stride']} | {s['bytes'] / 1e9:.2f} GB |")
    result = {
        "teacher": str(args.teacher),
        "images": len(indices),
        "draws": args.draws,
        "augment": "scale 0.5-2, crop, flip 0.5; colour jitter as in each row",
        "threads": args.threads,
        "fidelity": rows,
        "cache_sizes": sizes,
    }
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
