"""``segcompress-edge run`` and ``segcompress predict`` give the same masks for the same file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from segcompress_edge.cli import main as edge_main

from segcompress.cli import main as segcompress_main


def _masks(folder: Path) -> dict[str, np.ndarray]:
    return {p.name: np.asarray(Image.open(p)) for p in sorted(folder.glob("*.png"))}


@pytest.fixture(scope="module")
def val_images(synth_root: Path) -> Path:
    return synth_root / "val" / "images"


@pytest.mark.parametrize("model", ["fp32_onnx", "int8_onnx"])
def test_edge_masks_equal_predict_masks(model: str, val_images: Path, tmp_path: Path, request):
    path = request.getfixturevalue(model)
    args = [str(path), str(val_images), "--threads", "1"]
    assert segcompress_main(["predict", *args, "--out", str(tmp_path / "predict")]) == 0
    assert edge_main(["run", *args, "--out", str(tmp_path / "edge")]) == 0
    ours, theirs = _masks(tmp_path / "edge"), _masks(tmp_path / "predict")
    assert len(ours) == 3 and ours.keys() == theirs.keys()
    for name, mask in ours.items():
        assert mask.shape == (64, 96)  # the images' own size, not the model's 64x64
        assert np.array_equal(mask, theirs[name]), name
    assert len(np.unique(np.concatenate([m.ravel() for m in ours.values()]))) > 1


def test_edge_onnx_agrees_with_the_torch_checkpoint(fp32_onnx, checkpoint, val_images, tmp_path):
    """Independent of the shared code's model call: the PyTorch checkpoint through `predict`
    and the FP32 file through the edge runtime differ only where logits (nearly) tie."""
    common = [str(val_images), "--threads", "1"]
    out_t, out_e = tmp_path / "torch", tmp_path / "edge"
    assert segcompress_main(["predict", str(checkpoint), *common, "--out", str(out_t)]) == 0
    assert edge_main(["run", str(fp32_onnx), *common, "--out", str(out_e)]) == 0
    ours, theirs = _masks(out_e), _masks(out_t)
    agree = np.mean([np.mean(ours[k] == theirs[k]) for k in ours])
    assert agree >= 0.999
