"""The edge scripts' own logic (no timing): the demo clip's drive and the benchmark's facts."""

from __future__ import annotations

import numpy as np

from segcompress.demo.edge_clip import drive
from tests.benchmark_scripts import load_benchmark


def test_drive_narrows_towards_the_road() -> None:
    scene = np.zeros((90, 160, 3), np.uint8)
    scene[60:, 70:90] = 255  # a bright patch on the road ahead, below the middle
    frames = drive(scene, (36, 64), 5)
    assert len(frames) == 5 and all(f.shape == (36, 64, 3) for f in frames)
    bright = [int((f[..., 0] > 128).sum()) for f in frames]
    assert bright == sorted(bright) and bright[-1] > bright[0]  # it grows as the camera nears


def test_benchmark_names_the_cpu_and_busy_processes() -> None:
    bench = load_benchmark("bench_edge_video")
    cpu = bench.cpu_model()
    assert cpu["model"] and set(cpu["isa"]) <= {
        "avx2",
        "avx512f",
        "avx512_vnni",
        "avx512_bf16",
        "amx_tile",
    }
    load = bench.background()
    assert load["loadavg_1min"] >= 0 and all(p["cpu_percent"] >= 20 for p in load["busy_processes"])
