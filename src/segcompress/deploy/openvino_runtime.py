"""OpenVINO as a second runtime for the same ONNX files (optional extra: ``segcompress[openvino]``).

OpenVINO reads the ONNX file directly (FP32, or ORT's QDQ INT8 file, whose Q/DQ pairs its
low-precision transformations fold into integer kernels). Inference precision is pinned to
FP32 for FP32 files: on CPUs with AMX or AVX-512 BF16, OpenVINO's default would silently run
them in bfloat16, and ``openvino-fp32`` would then not be the FP32 model that was verified.

Logits leave the model channels-last (NHWC). OpenVINO's CPU kernels compute in that layout;
asking for the graph's NCHW output makes it add a reorder of the full-resolution logits. The
predictor returns them as an NCHW *view* of that memory: same values, no copy, and
``argmax(1)`` then runs over contiguous channels.

The students' last step, a bilinear resize of the logits by a whole factor, runs in torch on
that channels-last view, not in OpenVINO. OpenVINO computes the resize in its channels-last
layout but then copies the full-size result twice to deliver it (a reorder to planar and a
generic transpose), which cost more than the students' INT8 convolutions. Torch's resize does
the same half-pixel arithmetic on the view, without the copies (what it saves: BENCHMARKS.md,
"OpenVINO's logits"). Only that exact pattern is cut
(:func:`split_logits_resize`); any other graph runs whole.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.predictor import GraphPredictor
from segcompress.deploy.registry import GRAPH_RUNTIMES, GraphRuntime
from segcompress.errors import DataError, UsageError

__all__ = [
    "INSTALL_HINT",
    "OpenVinoGraph",
    "OpenVinoPredictor",
    "openvino_available",
    "openvino_compile",
    "openvino_version",
    "require_openvino",
    "split_logits_resize",
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


def split_logits_resize(model: Any) -> tuple[int, int] | None:
    """Cut ``model`` (an ``ov.Model``, edited in place) before its first output's resize when
    that resize is bilinear with half-pixel centres, no antialiasing or padding, and constant
    whole scale factors on height and width only; returns the factors, or None (nothing cut)
    for any other graph. Torch's ``bilinear`` with ``align_corners=False`` and the same
    ``scale_factor`` computes the same values (see the module docstring)."""
    result = model.get_results()[0]
    node = result.input_value(0).get_node()
    if node.get_type_name() != "Interpolate" or node.get_input_size() != 2:
        return None
    attrs = node.get_attributes()
    expected = {
        "mode": "linear_onnx",
        "shape_calculation_mode": "scales",
        "coordinate_transformation_mode": "half_pixel",
        "antialias": False,
    }
    if any(attrs.get(k) != v for k, v in expected.items()):
        return None
    if any(attrs.get("pads_begin", [])) or any(attrs.get("pads_end", [])):
        return None
    scales_node = node.input_value(1).get_node()
    if scales_node.get_type_name() != "Constant":
        return None
    scales = np.asarray(scales_node.get_data(), dtype=np.float64).ravel()
    if scales.shape != (4,) or list(scales[:2]) != [1.0, 1.0]:
        return None
    factors = scales[2:]
    if np.any(factors < 1) or np.any(factors != np.round(factors)):
        return None
    result.input(0).replace_source_output(node.input_value(0))
    model.validate_nodes_and_infer_types()
    return int(factors[0]), int(factors[1])


class OpenVinoGraph:
    """A compiled model and the logits' resize it leaves to torch (:func:`split_logits_resize`);
    :meth:`run` gives what the ONNX file computes."""

    def __init__(self, compiled: Any, logits_scale: tuple[int, int] | None) -> None:
        self.compiled = compiled
        self.logits_scale = logits_scale

    def create_infer_request(self) -> Any:
        return self.compiled.create_infer_request()

    def run(self, request: Any, x: np.ndarray) -> np.ndarray:
        """``x`` through ``request`` (one of :meth:`create_infer_request`), then :meth:`finish`;
        ``share_outputs=False``: the output is a copy, not the request's own buffer."""
        return self.finish(np.asarray(request.infer({0: x})[0], dtype=np.float32))

    def finish(self, out: np.ndarray) -> np.ndarray:
        """The graph's NHWC output as NCHW logits: a view of it, or resized from it by
        :attr:`logits_scale` (the result channels-last in memory, too)."""
        if out.ndim != 4:
            return out
        nchw = out.transpose(0, 3, 1, 2)
        if self.logits_scale is None:
            return nchw
        # align_corners=False is ONNX's half_pixel; a strided (channels-last) view selects
        # torch's channels-last kernel.
        up = F.interpolate(
            torch.from_numpy(nchw),
            scale_factor=self.logits_scale,
            mode="bilinear",
            align_corners=False,
        )
        return up.numpy()


def openvino_compile(
    path: str | Path, *, threads: int | None = None, profile: bool = False
) -> OpenVinoGraph:
    """``path`` compiled by OpenVINO for the CPU: latency hint (one stream), ``threads``
    inference threads, FP32 inference precision, the logits' final resize left to torch and
    NHWC logits (see the module docstring) and, with ``profile``, per-node performance
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
        model = core.read_model(str(path))
        scale = split_logits_resize(model)
        compiled = core.compile_model(_channels_last_output(ov, model), "CPU", config)
    except RuntimeError as exc:
        first = (str(exc).strip().splitlines() or ["no message"])[0]
        raise DataError(
            f"{path}: OpenVINO cannot load this model ({first}); export it again with "
            "`segcompress export`"
        ) from exc
    return OpenVinoGraph(compiled, scale)


def _dims(graph: OpenVinoGraph) -> list[int | None]:
    shape = graph.compiled.input(0).get_partial_shape()
    return [d.get_length() if d.is_static else None for d in shape]


class OpenVinoPredictor(GraphPredictor):
    """An OpenVINO compiled model with one infer request (see :class:`GraphPredictor`)."""

    runtime = "openvino"
    backend_prefix = "openvino"

    def __init__(self, graph: OpenVinoGraph, info: ModelInfo, source: str, *, int8: bool) -> None:
        super().__init__(info, source, torch.device("cpu"), _dims(graph), int8=int8)
        self.graph = graph
        self.request = graph.create_infer_request()

    def _run(self, x: np.ndarray) -> np.ndarray:
        try:
            return self.graph.run(self.request, x)
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or ["no message"])[0]
            raise DataError(
                f"{self.source}: OpenVINO failed on a {list(x.shape)} batch ({first})"
            ) from exc

    def profiling_info(self) -> Sequence[Any]:
        """The last inference's per-node counters (compile with ``profile=True``)."""
        return self.request.get_profiling_info()


def _load_openvino(
    path: Path, info: ModelInfo, *, device: str | torch.device, threads: int | None, int8: bool
) -> OpenVinoPredictor:
    if str(device) not in ("auto", "cpu"):
        raise UsageError(f"--device {device}: the openvino runtime runs on the CPU here")
    return OpenVinoPredictor(openvino_compile(path, threads=threads), info, str(path), int8=int8)


GRAPH_RUNTIMES.add(
    "openvino",
    GraphRuntime(
        "openvino",
        _load_openvino,
        # Looked up at each call, so that a test (or a caller) that replaces them is obeyed.
        require=lambda: require_openvino(),
        available=lambda: openvino_available(),
        package="openvino",
        install_hint=INSTALL_HINT,
    ),
)
