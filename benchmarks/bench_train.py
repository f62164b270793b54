"""Training throughput: images/s of the teacher and students, and the data loader's share.

Trains each model for a few epochs on a synthetic dataset read through the prepared data cache
(``prepare_split``), exactly as ``segcompress train`` does, and reports the last epoch (the first
pays for warm-up). ``data share`` is the time spent waiting for batches over the epoch's time;
the target is at most 10%. Each ``--variants`` entry is a precision and memory format
(``fp32``: float32, NCHW; ``fp32-cl``: channels-last; ``bf16-cl``: bfloat16 autocast and
channels-last, the CPU recipe of the IDD-Lite benchmark; ``fp16-cl``: float16 autocast with a
gradient scaler, CUDA only); speed-ups are against the first variant in the same run. Prints a
table and writes ``benchmarks/results/train.json``.

    python benchmarks/bench_train.py [--sizes 128 256] [--models teacher student_s student_xs]
    python benchmarks/bench_train.py --devices cuda --variants fp32 bf16-cl fp16-cl  # on a GPU
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import torch
from harness import add_arguments, machine_snapshot, write_result

from segcompress.config import TrainConfig
from segcompress.data import MEAN, STD, load_split, prepare_split
from segcompress.data.synthetic import synthesize
from segcompress.engine.distributed import DistInfo
from segcompress.engine.objective import SegObjective
from segcompress.engine.trainer import DataInfo, Trainer, make_loaders, seed_everything
from segcompress.losses import build_segmentation_loss
from segcompress.models.registry import create_model

RESULTS = Path(__file__).resolve().parent / "results" / "train.json"


VARIANTS = {
    "fp32": ("none", False),
    "fp32-cl": ("none", True),
    "bf16-cl": ("bf16", True),
    "fp16-cl": ("fp16", True),  # CUDA only: float16 autocast with a gradient scaler
}


def measure(
    root: Path,
    model_name: str,
    size: int,
    device: torch.device,
    variant: str,
    args: argparse.Namespace,
) -> dict:
    """Train ``args.epochs`` epochs of ``args.steps`` steps; returns the last epoch's numbers."""
    seed_everything(0, deterministic=False)
    train_set = load_split(root, "train", img_size=size, train=True)
    classes = train_set.classes
    model = create_model(model_name, num_classes=classes.num_classes)
    objective = SegObjective(model, build_segmentation_loss(ignore_index=classes.ignore_index))
    with tempfile.TemporaryDirectory() as out:
        amp, channels_last = VARIANTS[variant]
        cfg = TrainConfig(
            out=out,
            epochs=args.epochs,
            batch=args.batch,
            progress=False,
            amp=amp,
            channels_last=channels_last,
        )
        cfg.data.img_size = (size, size)
        loader, _ = make_loaders(
            train_set, None, batch=args.batch, workers=args.workers, seed=0, info=DistInfo()
        )
        trainer = Trainer(
            objective,
            loader,
            None,
            cfg,
            classes,
            data_info=DataInfo(MEAN, STD, train_set.format.name),
            device=device,
        )
        trainer.fit()
        last = trainer.log.rows[-1]
    return {
        "model": model_name,
        "size": size,
        "device": device.type,
        "variant": variant,
        "batch": args.batch,
        "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
        "images_per_s": last["images_per_s"],
        "data_share": last["data_time_share"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["teacher", "student_s", "student_xs"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 256])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=3, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--workers", type=int, default=0)
    add_arguments(parser, RESULTS, threads=None)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--variants", nargs="+", default=["fp32"], choices=list(VARIANTS))
    parser.add_argument(
        "--devices",
        nargs="+",
        default=["cpu", "cuda"],
        choices=["cpu", "cuda"],
        help="devices to measure (cuda only where available)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    started = machine_snapshot(torch.get_num_threads())
    devices = [torch.device(d) for d in args.devices if d == "cpu" or torch.cuda.is_available()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEGCOMPRESS_CACHE"] = str(Path(tmp) / "cache")  # leave ~/.cache alone
        root = Path(tmp) / "synthetic"
        synthesize(root, n_train=args.batch * args.steps, n_val=1, size=(256, 512), seed=0)
        for size in args.sizes:
            prepare_split(root, "train", img_size=size)  # the cache the runs read from
            for device in devices:
                for name in args.models:
                    base = None
                    for variant in args.variants:
                        if VARIANTS[variant][0] == "fp16" and device.type != "cuda":
                            continue
                        rows.append(measure(root, name, size, device, variant, args))
                        r = rows[-1]
                        base = base or r["images_per_s"]
                        r["speedup_vs_first"] = r["images_per_s"] / base
                        print(
                            f"{r['model']:<11} {r['size']:>4} {r['device']:<5} {variant:<8} "
                            f"{r['params_m']:>7.2f}M {r['images_per_s']:>9.2f} img/s "
                            f"x{r['speedup_vs_first']:.2f} data {100 * r['data_share']:>5.1f}%",
                            flush=True,
                        )
    meta = {
        "threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
    }
    write_result(args.results, {"meta": meta, "rows": rows}, started)


if __name__ == "__main__":
    main()
