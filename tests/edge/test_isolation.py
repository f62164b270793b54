"""segcompress-edge never imports torch, torchvision or the training package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

EDGE_SRC = Path(__file__).resolve().parents[2] / "edge" / "src" / "segcompress_edge"
FORBIDDEN = ("torch", "torchvision", "segcompress", "onnx", "matplotlib", "yaml")


def test_no_forbidden_imports_in_the_source() -> None:
    for path in EDGE_SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            roots = {n.split(".")[0] for n in names}
            allowed = {"yaml"} if path.name == "meta.py" else set()  # optional, for --classes
            assert not (roots & (set(FORBIDDEN) - allowed)), f"{path.name}: imports {names}"


def test_a_run_loads_no_torch(int8_onnx: Path, video: Path, tmp_path: Path) -> None:
    code = (
        "import sys; from segcompress_edge.cli import main; "
        f"rc = main(['run', {str(int8_onnx)!r}, {str(video)!r}, '--out', {str(tmp_path)!r}, "
        "'--max-frames', '2', '--threads', '1']); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('torch', 'segcompress', 'onnx')]; "
        "print(rc, bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    assert out.stdout.strip().splitlines()[-1] == "0 []"
