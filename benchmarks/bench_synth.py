"""Throughput of the synthetic IDD generator on one thread: render only, and render + write.

Prints a table and writes JSON (default ``benchmarks/results/synth.json``)::

    python benchmarks/bench_synth.py [--n 100] [--size 256x512] [--repeats 3] [--results PATH]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from harness import RESULTS, add_arguments, interleave, machine_snapshot, write_result

# One thread everywhere, set before numpy / torch load their thread pools.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    import torch

    from segcompress.cli.common import size_arg
    from segcompress.data.synthetic import image_rng, render_scene, synthesize

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="images per measurement")
    parser.add_argument("--size", type=size_arg, default=(256, 512), help="HxW")
    parser.add_argument("--repeats", type=int, default=3, help="report the best of N runs")
    parser.add_argument("--seed", type=int, default=0)
    add_arguments(parser, RESULTS / "synth.json", threads=None, results_aliases=("--json",))
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    started = machine_snapshot(threads=1)

    render_scene(image_rng(args.seed, "train", 0), args.size)  # warm-up (imports, allocators)
    with tempfile.TemporaryDirectory() as tmp:
        folders = (Path(tmp) / str(i) for i in range(args.repeats))

        def render() -> None:
            for i in range(args.n):
                render_scene(image_rng(args.seed, "train", i), args.size)

        def write() -> None:
            synthesize(next(folders), n_train=args.n, n_val=0, size=args.size, seed=args.seed)

        rounds = interleave({"render": render, "write": write}, args.repeats, runs=1, warmup=0)
        written = sum(p.stat().st_size for p in (Path(tmp) / "0").rglob("*") if p.is_file())
    # best of N: the machine is shared, the minimum is the signal
    render_s, write_s = rounds.best("render") / 1000, rounds.best("write") / 1000

    rows = [
        ("render only", args.n / render_s, 1000 * render_s / args.n),
        ("render + write", args.n / write_s, 1000 * write_s / args.n),
    ]
    h, w = args.size
    print(f"synthetic IDD, {h}x{w}, {args.n} images, 1 thread, best of {args.repeats}")
    print(f"{'stage':<16} {'images/s':>9} {'ms/image':>9}")
    for name, ips, ms in rows:
        print(f"{name:<16} {ips:>9.1f} {ms:>9.1f}")
    print(f"bytes on disk per image: {written / args.n:.0f}")

    result = {
        "size": [h, w],
        "n": args.n,
        "threads": 1,
        "repeats": args.repeats,
        "render_images_per_s": round(rows[0][1], 2),
        "render_write_images_per_s": round(rows[1][1], 2),
        "bytes_per_image": round(written / args.n),
    }
    write_result(args.results, result, started)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
