"""segcompress-edge: run exported segcompress students on a vehicle, with numpy, Pillow, PyAV
and ONNX Runtime (or OpenVINO) only; no torch, no training package."""

from __future__ import annotations

__version__ = "0.1.0"

from segcompress_edge.errors import EdgeError, UsageError
from segcompress_edge.meta import ClassTable, ModelInfo, read_model_info
from segcompress_edge.prepost import preprocess, resize_argmax
from segcompress_edge.runtime import EdgeModel, load_model

__all__ = [
    "ClassTable",
    "EdgeError",
    "EdgeModel",
    "ModelInfo",
    "UsageError",
    "__version__",
    "load_model",
    "preprocess",
    "read_model_info",
    "resize_argmax",
]
