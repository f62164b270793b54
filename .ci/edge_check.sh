#!/usr/bin/env bash
# The vehicle's install, checked: a fresh venv with only `pip install ./edge` (no torch in
# `pip list`) runs an INT8 student on a video. The student and the clip are made first with the
# project's .venv (from `make test`). Prints the venv's installed size. A few minutes at most.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
.venv/bin/python benchmarks/edge_inputs.py "$work/inputs" --model student_xs --size 64x64 \
    --video 240x320 --frames 24
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet ./edge
"$work/venv/bin/pip" list --format=freeze >"$work/pip-list.txt"
if grep -iE '^(torch|torchvision|segcompress)==' "$work/pip-list.txt"; then
    echo "edge_check: the edge venv has torch or segcompress installed (above)" >&2
    exit 1
fi
"$work/venv/bin/segcompress-edge" run "$work/inputs/student_xs.int8.onnx" \
    "$work/inputs/clip.mp4" --out "$work/out" --masks npz --no-progress
"$work/venv/bin/python" - "$work/out/clip.summary.json" <<'PY'
import json, sys
summary = json.load(open(sys.argv[1]))
assert summary["frames"] == 24 and summary["int8"] and summary["complete"], summary
print(f"edge_check: {summary['frames']} frames, INT8, {summary['end_to_end_fps']} frames/s")
PY
echo "edge_check: venv size $(du -sh "$work/venv" | cut -f1) ($(wc -l <"$work/pip-list.txt") packages: $(cut -d= -f1 "$work/pip-list.txt" | tr '\n' ' '))"
