"""Edge deployment: ONNX export with metadata, INT8 quantization, one runtime, benchmarks.

* :mod:`~segcompress.deploy.runtime`: ``load_predictor(path)`` over a checkpoint or ONNX file;
  :mod:`~segcompress.deploy.openvino_runtime` runs the same ONNX files in OpenVINO.
* :mod:`~segcompress.deploy.onnx_export`: ``export_checkpoint`` (fuse, export, check, verify).
* :mod:`~segcompress.deploy.quantize`: ``quantize_onnx`` / ``quantize_dataset`` (static QDQ by
  ONNX Runtime or NNCF).
* :mod:`~segcompress.deploy.benchmark`: ``benchmark`` (latency, throughput, size, memory).
* :mod:`~segcompress.deploy.metadata`: ``ModelInfo`` and its ONNX ``metadata_props`` form.

Names are imported lazily so that ``import segcompress.deploy`` stays cheap.
"""

from __future__ import annotations

from segcompress.lazy import lazy_getattr

__all__ = [
    "ModelInfo",
    "Predictor",
    "benchmark",
    "evaluate_predictor",
    "export_checkpoint",
    "load_predictor",
    "quantize_dataset",
    "quantize_onnx",
]

_LAZY = {
    "ModelInfo": "segcompress.deploy.metadata",
    "Predictor": "segcompress.deploy.runtime",
    "benchmark": "segcompress.deploy.benchmark",
    "evaluate_predictor": "segcompress.deploy.runtime",
    "export_checkpoint": "segcompress.deploy.onnx_export",
    "load_predictor": "segcompress.deploy.runtime",
    "quantize_dataset": "segcompress.deploy.quantize",
    "quantize_onnx": "segcompress.deploy.quantize",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
