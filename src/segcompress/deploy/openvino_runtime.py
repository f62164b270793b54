"""OpenVINO as a second runtime for the same ONNX files (optional extra: ``segcompress[openvino]``).

OpenVINO reads the ONNX file directly (FP32, or ORT's QDQ INT8 file, whose Q/DQ pairs its
low-precision transformations fold into integer kernels). Inference precision is pinned to
FP32 for FP32 files: on CPUs with AMX or AVX-512 BF16, OpenVINO's default would silently run
them in bfloat16, and ``openvino-fp32`` would then not be the FP32 model that was verified.

Logits leave the model channels-last (NHWC). OpenVINO's CPU kernels compute in that layout;
asking for the graph's NCHW output made it add a reorder of the full-resolution logits that took
a third of ``student_s``'s time at 256x256 (profiled, ``benchmarks/bench_edge.py``). The
predictor returns them as an NCHW *view* of that memory: same values, no copy, and
``argmax(1)`` then runs over contiguous channels.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.runtime import GraphPredictor
from segcompress.errors import DataError, UsageError

__all__ = [
    "INSTALL_HINT",
    "OpenVinoPredictor",
    "openvino_available",
    "openvino_compile",
    "openvino_version",
    "require_openvino",
    "run_nchw",
]

INSTALL_HINT = "pip install 'segcompress[openvino]'"


def openvino_available() -> bool:
    """Whether the optional ``openvino`` package is installed (without importing it)."""
    return importlib.util.find_spec("openvino") is not None


def require_openvino() -> Any:
    """The ``openvino`` module, or a one-line UsageError naming the install command."""
    if not openvino_available():
        raise UsageError(f"the openvino runtime needs the openvino package: {INSTALL_HINT}")
    import openvino

    return openvino


def openvino_version() -> str | None:
    return require_openvino().__version__ if openvino_available() else None


def _channels_last_output(ov: Any, model: Any) -> Any:
    """``model`` with its rank-4 outputs delivered NHWC (see the module docstring)."""
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model)
    for i, output in enumerate(model.outputs):
        if output.get_partial_shape().rank.get_length() == 4:
            ppp.output(i).tensor().set_layout(ov.Layout("NHWC"))
            ppp.output(i).model().set_layout(ov.Layout("NCHW"))
    return ppp.build()


def openvino_compile(path: str | Path, *, threads: int | None = None, profile: bool = False) -> Any:
    """An OpenVINO ``CompiledModel`` of ``path`` on the CPU: latency hint (one stream),
    ``threads`` inference threads, FP32 inference precision, NHWC logits (see the module
    docstring; :func:`run_nchw` runs it) and, with ``profile``, per-node performance
    counters."""
    ov = require_openvino()
    config: dict[str, Any] = {
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "INFERENCE_PRECISION_HINT": "f32",
    }
    if threads:
        config["INFERENCE_NUM_THREADS"] = int(threads)
    if profile:
        config["PERF_COUNT"] = True
    core = ov.Core()
    try:
        model = _channels_last_output(ov, core.read_model(str(path)))
        return core.compile_model(model, "CPU", config)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or ["no message"])[0]
        raise DataError(
            f"{path}: OpenVINO cannot load this model ({first}); export it again with "
            "`segcompress export`"
        ) from exc


def run_nchw(request: Any, x: np.ndarray) -> np.ndarray:
    """Run ``x`` through an infer request of :func:`openvino_compile`; the first output as an
    NCHW view of its NHWC copy (``share_outputs=False``: not the request's own buffer)."""
    out = np.asarray(request.infer({0: x})[0], dtype=np.float32)
    return out.transpose(0, 3, 1, 2) if out.ndim == 4 else out


def _dims(compiled: Any) -> list[int | None]:
    return [d.get_length() if d.is_static else None for d in compiled.input(0).get_partial_shape()]


class OpenVinoPredictor(GraphPredictor):
    """An OpenVINO compiled model with one infer request (see :class:`GraphPredictor`)."""

    runtime = "openvino"
    backend_prefix = "openvino"

    def __init__(self, compiled: Any, info: ModelInfo, source: str, *, int8: bool) -> None:
        super().__init__(info, source, torch.device("cpu"), _dims(compiled), int8=int8)
        self.compiled = compiled
        self.request = compiled.create_infer_request()

    def _run(self, x: np.ndarray) -> np.ndarray:
        try:
            return run_nchw(self.request, x)
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or ["no message"])[0]
            raise DataError(
                f"{self.source}: OpenVINO failed on a {list(x.shape)} batch ({first})"
            ) from exc

    def profiling_info(self) -> Sequence[Any]:
        """The last inference's per-node counters (compile with ``profile=True``)."""
        return self.request.get_profiling_info()
