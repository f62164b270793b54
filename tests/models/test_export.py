"""ONNX export with dynamic batch, height and width; ONNX Runtime reproduces the logits."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from segcompress.models import fuse
from segcompress.models.export import INPUT_NAME, OUTPUT_NAME, export_onnx
from tests.models.helpers import FOREIGN, NUM_CLASSES, REGISTERED, randomize_bn, small_model


@pytest.mark.slow
@pytest.mark.parametrize("name", REGISTERED)
def test_onnx_export_dynamic_shapes(name, tmp_path):
    model = small_model(name)
    randomize_bn(model)
    fused = fuse(model)
    path = export_onnx(fused, tmp_path / f"{name}.onnx")
    graph = onnx.load(str(path)).graph
    dims = graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims][1] == 3
    assert all(d.dim_param for i, d in enumerate(dims) if i != 1)  # N, H, W symbolic
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == [OUTPUT_NAME]
    # Sizes differ from the traced example (64x64, batch 2); 227x70 also needs padding.
    for shape in [(1, 3, 227, 70), (3, 3, 64, 96)]:
        x = torch.randn(*shape)
        (out,) = session.run(None, {INPUT_NAME: x.numpy()})
        with torch.no_grad():
            ref = fused(x).numpy()
        assert out.shape == (shape[0], NUM_CLASSES, *shape[2:])
        np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", sorted(set(REGISTERED) - FOREIGN))
def test_fixed_size_export_reads_no_shapes(name, tmp_path):
    """At a fixed size (the default export), every resize has constant scales: a target size
    would need ``Shape`` of the dynamic-batch input, and ONNX Runtime's INT8 graphs then
    transposed and dequantized each whole map only to read its shape."""
    path = export_onnx(small_model(name), tmp_path / f"{name}.onnx", dynamic_hw=False)
    graph = onnx.load(str(path)).graph
    constants = {t.name for t in graph.initializer}
    constants |= {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    assert not [n.name for n in graph.node if n.op_type == "Shape"]
    resizes = [n for n in graph.node if n.op_type == "Resize"]
    for node in resizes:
        scales = node.input[2] if len(node.input) > 2 else ""
        sizes = node.input[3] if len(node.input) > 3 else ""
        assert scales in constants and not sizes, node.name
