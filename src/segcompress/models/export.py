"""ONNX export of a (fused) model with dynamic batch, height and width.

Route: ``torch.onnx.export(..., dynamo=True)`` (torch.export + onnxscript) with ``dynamic_shapes``
for batch, height and width, weights embedded (``external_data=False``). The model's padding to
``size_divisor`` is computed from the input's symbolic shape, so one file serves every image size.
The graph has a single input ``"image"`` ``[N, 3, H, W]`` and a single output ``"logits"``.
The exporter's own progress lines (``[torch.onnx] ... ✅``) are printed only with ``verbose``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from segcompress.models.fuse import fuse, is_fused

__all__ = ["INPUT_NAME", "OUTPUT_NAME", "export_onnx"]

INPUT_NAME = "image"
OUTPUT_NAME = "logits"


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    example_size: tuple[int, int] = (64, 64),
    opset: int | None = None,
    dynamic_hw: bool = True,
    verbose: bool = False,
) -> Path:
    """Fuse ``model`` (unless it already is) and write it to ``path`` as ONNX; returns the path.

    The batch is always dynamic. With ``dynamic_hw`` height and width are too, and
    ``example_size`` only traces the graph (sides must exceed 1 so torch.export does not
    specialise them); without it the graph is fixed to ``example_size``. ``verbose``: let
    torch.onnx print its progress (``segcompress --debug``).
    """
    fused = model if is_fused(model) else fuse(model)
    fused.eval()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Batch 2 for the same reason: torch.export specialises dimensions of size 0 and 1.
    example = torch.randn(2, 3, *example_size)
    dims = {0: torch.export.Dim.DYNAMIC}
    if dynamic_hw:
        dims.update({2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC})
    with torch.no_grad():
        torch.onnx.export(
            fused,
            (example,),
            str(path),
            dynamo=True,
            external_data=False,
            dynamic_shapes={"x": dims},
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            verbose=verbose,  # False: none of torch.onnx's own progress lines
        )
    return path
