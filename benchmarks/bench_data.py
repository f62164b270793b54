"""Data-layer speed, as ratios measured in one run (not a test: these machines are noisy).

1. Mask decoding at 1920x1080: the lookup-table decoder against the earlier per-colour loop
   (``np.all(mask == colour, -1)`` for each of the 27 colours). Target: at least 20x faster.
2. Loader images/s at 256x512, with and without the prepared cache, from full-size (1080x1920)
   JPEG/PNG sources in the idd-kaggle layout. Target: cached at least 5x faster.

Usage: python benchmarks/bench_data.py [--results benchmarks/results/data.json] [--n 24]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from harness import (
    RESULTS,
    add_arguments,
    interleave,
    machine_snapshot,
    markdown_table,
    time_call,
    write_result,
)

from segcompress.data import IDD_LEVEL3, MaskDecoder, load_split, prepare_split
from segcompress.data.io import read_mask
from segcompress.data.synthetic import synthesize


def per_colour_loop(rgb: np.ndarray) -> np.ndarray:
    """The earlier scripts' decoder: one full-image comparison per colour (26 classes + void)."""
    out = np.full(rgb.shape[:2], 255, dtype=np.uint8)
    for class_id, colour in enumerate([*IDD_LEVEL3.colors, (0, 0, 0)]):
        out[np.all(rgb == np.array(colour, dtype=np.uint8), axis=-1)] = min(class_id, 255)
    return out


def bench_decoding(mask_rgb: np.ndarray, repeats: int) -> dict:
    """Median ms of the lookup-table decoder and of the per-colour loop on one mask."""
    decoder = MaskDecoder(IDD_LEVEL3, "rgb")
    decoder.decode(mask_rgb)  # build the lookup table outside the timing
    lut = statistics.median(time_call(lambda: decoder.decode(mask_rgb), repeats, warmup=0))
    loop = statistics.median(
        time_call(lambda: per_colour_loop(mask_rgb), max(3, repeats // 3), warmup=0)
    )
    return {"lut_ms": lut, "loop_ms": loop, "speedup": loop / lut}


def bench_loader(root: Path, size: tuple[int, int], cache_dir: Path, passes: int) -> dict:
    """Images/s of one pass over the split without and with the prepared cache, timed in
    ``passes`` interleaved rounds (speed-up: the median of the rounds' ratios)."""
    start = time.perf_counter()
    prepare_split(root, "train", img_size=size, cache_dir=cache_dir)
    out: dict = {"prepare_s": time.perf_counter() - start}
    for train in (False, True):
        passes_over = {}
        for use_cache in (False, True):
            ds = load_split(
                root, "train", img_size=size, train=train, use_cache=use_cache, cache_dir=cache_dir
            )
            assert (ds.cache is not None) == use_cache
            passes_over["cached" if use_cache else "uncached"] = lambda ds=ds: [
                ds[i] for i in range(len(ds))
            ]
        rounds = interleave(passes_over, rounds=passes, runs=1, warmup=1)
        n = len(ds)
        out["train" if train else "eval"] = {
            "uncached_img_s": 1000 * n / rounds.median("uncached"),
            "cached_img_s": 1000 * n / rounds.median("cached"),
            "speedup": rounds.speedup("uncached", "cached")["median"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser, RESULTS / "data.json", threads=1, results_aliases=("--json",))
    parser.add_argument("--n", type=int, default=24, help="full-size frames for the loader test")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = machine_snapshot(args.threads)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synth"
        synthesize(root, n_train=args.n, n_val=1, size=(1080, 1920), seed=0)
        mask = read_mask(next((root / "train/rgb_labels").glob("*.png")), "rgb")
        decoding = bench_decoding(mask, repeats=15)
        loader = bench_loader(root, (256, 512), Path(tmp) / "cache", passes=2)

    result = {
        "mask_decoding_1080x1920": decoding,
        "loader_256x512_from_1080x1920": loader,
    }
    table = [
        ["mask decode 1920x1080, lookup table", f"{decoding['lut_ms']:.1f} ms"],
        ["mask decode 1920x1080, per-colour loop (27)", f"{decoding['loop_ms']:.1f} ms"],
        ["**decode speedup** (target >= 20x)", f"**{decoding['speedup']:.1f}x**"],
        [f"cache build, {args.n} frames", f"{loader['prepare_s']:.1f} s"],
    ]
    for name in ("eval", "train"):
        r = loader[name]
        table += [
            [f"loader 256x512 {name}, uncached", f"{r['uncached_img_s']:.1f} img/s"],
            [f"loader 256x512 {name}, cached", f"{r['cached_img_s']:.1f} img/s"],
            [f"**cache speedup, {name}** (target >= 5x)", f"**{r['speedup']:.1f}x**"],
        ]
    print(markdown_table(["measurement", "value"], table))
    write_result(args.results, result, started)


if __name__ == "__main__":
    main()
