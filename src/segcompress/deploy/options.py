"""Choices and defaults shared by the deploy library and its CLI, importable without torch (so
``segcompress --help`` stays fast)."""

from __future__ import annotations

__all__ = [
    "ALL_BACKENDS",
    "CALIBRATION_METHODS",
    "DEFAULT_ATOL",
    "DEFAULT_BACKENDS",
    "DEFAULT_MIN_AGREEMENT",
]

# Export parity limits: largest absolute logit difference, least per-pixel argmax agreement.
DEFAULT_ATOL = 1e-3
DEFAULT_MIN_AGREEMENT = 0.999
# ONNX Runtime calibration methods offered for static INT8 quantization.
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
# Benchmark backends: torch eager, channels_last, torch.compile, ORT FP32, ORT INT8.
ALL_BACKENDS = ("torch", "torch-cl", "torch-compile", "onnx-fp32", "onnx-int8")
DEFAULT_BACKENDS = ("torch", "torch-cl", "onnx-fp32", "onnx-int8")
