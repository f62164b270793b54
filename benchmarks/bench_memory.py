"""Peak memory of predicting one full-size frame: strip-wise resize vs one full-size resize.

Each case runs in a fresh subprocess; the figure is the growth of the process's peak resident
set (VmHWM in /proc/self/status) during ``predict_image``, so imports and weights do not count.
Frames: 1920x1080 (IDD full size) and 3840x2160 (4K); model input 256x512.

Usage: python benchmarks/bench_memory.py [--model student_s] [--results PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

from harness import RESULTS, add_arguments, machine_snapshot, write_result

CHILD = r"""
import json, sys, time
import numpy as np, torch, torch.nn.functional as F
import segcompress
from segcompress.engine import predict

def hwm_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

model_name, h, w, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.set_num_threads(2)
model = segcompress.create_model(model_name, num_classes=26).eval()
if mode == "full":  # the naive way: logits resized to full resolution in one go
    def full(logits, size):
        up = F.interpolate(logits[None], size=size, mode="bilinear", align_corners=False)
        return up[0].argmax(0).to(torch.uint8).numpy()
    predict.resize_argmax = full
image = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
args = ((256, 512), (0.5,) * 3, (0.25,) * 3, torch.device("cpu"))
predict.predict_image(model, image[:64, :64].copy(), *args)  # warm-up at a tiny size
before = hwm_kb()
start = time.perf_counter()
ids = predict.predict_image(model, image, *args)
seconds = time.perf_counter() - start
assert ids.shape == (h, w)
print(json.dumps({"peak_growth_mb": (hwm_kb() - before) / 1024, "seconds": seconds}))
"""


def run(model: str, h: int, w: int, mode: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, model, str(h), str(w), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="student_s")
    add_arguments(parser, RESULTS / "memory.json", threads=None, results_aliases=("--json",))
    args = parser.parse_args()
    started = machine_snapshot(threads=2)  # the child's torch threads
    rows = []
    for h, w in ((1080, 1920), (2160, 3840)):
        strip, full = run(args.model, h, w, "strip"), run(args.model, h, w, "full")
        rows.append({"frame": f"{w}x{h}", "strip": strip, "full": full})
    print(f"\npredict, model {args.model}, input 256x512, 26 classes: peak memory growth")
    print("| frame | strip-wise resize | one full-size resize | ratio |\n|---|---|---|---|")
    for r in rows:
        s, f = r["strip"]["peak_growth_mb"], r["full"]["peak_growth_mb"]
        print(f"| {r['frame']} | {s:.0f} MB | {f:.0f} MB | {f / max(s, 1e-6):.1f}x |")
    write_result(args.results, {"model": args.model, "rows": rows}, started)


if __name__ == "__main__":
    main()
