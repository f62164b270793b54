"""Choices and defaults shared by the deploy library and its CLI, importable without torch (so
``segcompress --help`` stays fast)."""

from __future__ import annotations

__all__ = [
    "ALL_BACKENDS",
    "CALIBRATION_METHODS",
    "DEFAULT_ATOL",
    "DEFAULT_BACKENDS",
    "DEFAULT_MIN_AGREEMENT",
    "GRAPH_BACKENDS",
    "QUANTIZE_ENGINES",
    "RUNTIMES",
]

# Export parity limits: largest absolute logit difference, least per-pixel argmax agreement.
DEFAULT_ATOL = 1e-3
DEFAULT_MIN_AGREEMENT = 0.999
# ONNX Runtime calibration methods offered for static INT8 quantization.
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
# Who writes the INT8 QDQ file: ONNX Runtime's quantize_static, or NNCF (the openvino extra).
QUANTIZE_ENGINES = ("onnxruntime", "nncf")
# Benchmark backends: torch eager, channels_last, torch.compile; the same ONNX files (FP32 and
# INT8) in ONNX Runtime and in OpenVINO (skipped, said once, when openvino is not installed).
GRAPH_BACKENDS = ("onnx-fp32", "onnx-int8", "openvino-fp32", "openvino-int8")
ALL_BACKENDS = ("torch", "torch-cl", "torch-compile", *GRAPH_BACKENDS)
DEFAULT_BACKENDS = ("torch", "torch-cl", *GRAPH_BACKENDS)
# Runtimes of ONNX files in evaluate / predict / load_predictor.
RUNTIMES = ("onnxruntime", "openvino")
