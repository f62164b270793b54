"""Shared, session-scoped artifacts for the deploy tests (built once: exports take seconds).

The model is ``student_xs`` at 64x64, trained for a few dozen steps on a tiny synthetic set so
that its BatchNorm statistics are non-trivial (fusion matters) and it predicts several classes
(agreement tests then compare real decisions, not one constant class).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from segcompress.data import load_split
from segcompress.data.classes import IDD_LEVEL3
from segcompress.data.synthetic import synthesize
from segcompress.deploy.metadata import ModelInfo, inference_checkpoint
from segcompress.deploy.onnx_export import export_checkpoint
from segcompress.deploy.quantize import quantize_onnx
from segcompress.deploy.samples import dataset_images
from segcompress.engine.checkpoint import save_checkpoint
from segcompress.models.registry import create_model

SIZE = (64, 64)
TRAIN_STEPS = 30
# Not ImageNet's: proves the stored normalisation is the one used, not a default.
MEAN = (0.5, 0.4, 0.3)
STD = (0.25, 0.2, 0.3)


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    synthesize(root, n_train=6, n_val=3, size=(64, 96), seed=1)
    return root


@pytest.fixture(scope="session")
def info() -> ModelInfo:
    return ModelInfo(
        classes=IDD_LEVEL3,
        input_size=SIZE,
        mean=MEAN,
        std=STD,
        model_name="student_xs",
        dataset_format="idd-kaggle",
    )


@pytest.fixture(scope="session")
def trained_model(synth_root: Path, info: ModelInfo) -> torch.nn.Module:
    """student_xs after a few Adam steps on the synthetic train split (in its normalisation)."""
    torch.manual_seed(0)
    data = load_split(synth_root, "train", img_size=SIZE, train=False, format="idd-kaggle")
    images = dataset_images(data, len(data), info)
    masks = torch.stack([data[i][1] for i in range(len(data))])
    model = create_model("student_xs")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(TRAIN_STEPS):
        loss = F.cross_entropy(model(images), masks, ignore_index=IDD_LEVEL3.ignore_index)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, trained_model, info) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "student_xs.pt"
    state = inference_checkpoint(trained_model, info)
    save_checkpoint(state, path)
    return path


@pytest.fixture(scope="session")
def export_report(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path, synth_root: Path):
    """Fixed 64x64 export, verified on random inputs and on the synthetic val images."""
    from segcompress.data.formats import DataSpec

    out = tmp_path_factory.mktemp("onnx") / "student_xs.onnx"
    return export_checkpoint(checkpoint, out, data=DataSpec(root=str(synth_root)))


@pytest.fixture(scope="session")
def fp32_onnx(export_report) -> Path:
    return export_report.path


@pytest.fixture(scope="session")
def dynamic_onnx(tmp_path_factory: pytest.TempPathFactory, checkpoint: Path) -> Path:
    out = tmp_path_factory.mktemp("onnx_dyn") / "student_xs.dyn.onnx"
    return export_checkpoint(checkpoint, out, dynamic=True).path


@pytest.fixture(scope="session")
def int8_report(tmp_path_factory: pytest.TempPathFactory, fp32_onnx: Path, synth_root, info):
    data = load_split(synth_root, "train", img_size=SIZE, train=False, format="idd-kaggle")
    out = tmp_path_factory.mktemp("int8") / "student_xs.int8.onnx"
    return quantize_onnx(fp32_onnx, out, dataset_images(data, len(data), info))
