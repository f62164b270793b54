"""Where inference time goes: per-operator kernel time from each runtime's own profiler.

ONNX Runtime writes a Chrome trace (``SessionOptions.enable_profiling``) with one
``<node>_kernel_time`` event per node and run, whose ``args.op_name`` is the operator type the
CPU provider actually ran (``QLinearConv`` for a fused DQ-Conv-Q group, ``Reorder`` for a
layout change). OpenVINO reports performance counters per executed node (``PERF_COUNT``) with
its node type and kernel (``exec_type``, e.g. ``jit_avx2_I8``: the precision it ran in). Both
are summed over ``runs`` timed calls after ``warmup`` untimed ones and given per call.

:func:`op_category` groups operator types into the categories that decide what INT8 can gain:
convolutions (what integer kernels speed up), quantize/dequantize steps, layout changes,
resizing, concatenation and other element-wise work.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CATEGORIES",
    "OpProfile",
    "Traffic",
    "estimate_traffic",
    "op_category",
    "profile_onnxruntime",
    "profile_openvino",
]

CATEGORIES = ("conv", "quantize", "layout", "resize", "concat", "elementwise", "other")
# Operator types of both runtimes (ORT's CPU provider and contrib ops; OpenVINO's node types).
_CATEGORY_OF = {
    category: frozenset(names.split())
    for category, names in {
        "conv": "Conv QLinearConv ConvInteger FusedConv NchwcConv Convolution GroupConvolution "
        "ConvolutionBackpropData MatMul Gemm FullyConnected QLinearMatMul MatMulInteger",
        "quantize": "QuantizeLinear DequantizeLinear FakeQuantize DynamicQuantizeLinear",
        "layout": "Reorder Transpose Reshape ReorderInput ReorderOutput Subgraph",
        "resize": "Resize Interpolate Upsample QLinearResize",
        "concat": "Concat QLinearConcat Concatenation",
        "elementwise": "Add Mul Sigmoid Relu Clip Div Sub QLinearAdd QLinearMul QLinearSigmoid "
        "Eltwise Multiply Subtract Swish HardSigmoid BatchNormalization Pad Slice Split MaxPool "
        "NhwcMaxPool AveragePool Pooling QLinearAveragePool GlobalAveragePool ReduceMean "
        "Softmax ArgMax Convert",
    }.items()
}


def op_category(op_type: str) -> str:
    """One of :data:`CATEGORIES` for an operator type of either runtime."""
    name = op_type.split(":")[-1]
    for category, names in _CATEGORY_OF.items():
        if name in names:
            return category
    return "other"


@dataclass
class OpProfile:
    """Kernel time per call (ms) by operator type (and, for OpenVINO, by kernel precision)."""

    runtime: str
    path: str
    runs: int
    by_op: dict[str, float]
    counts: dict[str, int] = field(default_factory=dict)
    by_precision: dict[str, float] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return sum(self.by_op.values())

    def by_category(self) -> dict[str, float]:
        """Kernel time per call (ms) by :func:`op_category`, in :data:`CATEGORIES` order."""
        out = dict.fromkeys(CATEGORIES, 0.0)
        for op, ms in self.by_op.items():
            out[op_category(op)] += ms
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "path": self.path,
            "runs": self.runs,
            "total_ms": self.total_ms,
            "by_op": self.by_op,
            "counts": self.counts,
            "by_precision": self.by_precision,
            "by_category": self.by_category(),
        }


def _sorted(times: Counter[str], runs: int) -> dict[str, float]:
    return {k: v / runs for k, v in times.most_common()}


def profile_onnxruntime(
    path: str | Path, x: np.ndarray, *, runs: int = 20, warmup: int = 3, threads: int = 1
) -> OpProfile:
    """ONNX Runtime's per-operator kernel time on input ``x`` (see the module docstring)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        for _ in range(warmup):
            session.run(None, {name: x})
        for _ in range(runs):
            session.run(None, {name: x})
        events = json.loads(Path(session.end_profiling()).read_text())
    times: Counter[str] = Counter()
    nodes: Counter[str] = Counter()
    # Profiling starts at session creation: skip the warm-up calls' events, keep the last runs.
    per_node = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    calls = Counter(e["name"] for e in per_node)
    seen: Counter[str] = Counter()
    for event in per_node:
        seen[event["name"]] += 1
        if seen[event["name"]] <= calls[event["name"]] - runs:
            continue
        op = event["args"].get("op_name", "?")
        times[op] += event["dur"] / 1000.0  # microseconds
        if seen[event["name"]] == calls[event["name"]]:
            nodes[op] += 1
    return OpProfile("onnxruntime", str(path), runs, _sorted(times, runs), dict(nodes))


def profile_openvino(
    path: str | Path, x: np.ndarray, *, runs: int = 20, warmup: int = 3, threads: int = 1
) -> OpProfile:
    """OpenVINO's performance counters per node type and kernel precision on input ``x``; the
    logits' resize that the runtime leaves to torch (``openvino_runtime.split_logits_resize``)
    is timed around the call and counted as one ``Interpolate`` of precision ``torch``."""
    from segcompress.deploy.openvino_runtime import openvino_compile

    graph = openvino_compile(path, threads=threads, profile=True)
    request = graph.create_infer_request()
    for _ in range(warmup):
        graph.run(request, x)
    times: Counter[str] = Counter()
    precision: Counter[str] = Counter()
    nodes: Counter[str] = Counter()
    for i in range(runs):
        out = np.asarray(request.infer({0: x})[0], dtype=np.float32)
        start = time.perf_counter()
        graph.finish(out)
        if graph.logits_scale is not None:
            ms = (time.perf_counter() - start) * 1000.0
            times["Interpolate"] += ms
            precision["torch"] += ms
            if i == 0:
                nodes["Interpolate"] += 1
        for info in request.get_profiling_info():
            if str(info.status).rsplit(".", 1)[-1] != "EXECUTED":
                continue
            ms = info.real_time.total_seconds() * 1000.0
            times[info.node_type] += ms
            precision[info.exec_type.rsplit("_", 1)[-1]] += ms
            if i == 0:
                nodes[info.node_type] += 1
    return OpProfile(
        "openvino", str(path), runs, _sorted(times, runs), dict(nodes), _sorted(precision, runs)
    )


@dataclass(frozen=True)
class Traffic:
    """Bytes one inference must move at least, if every tensor goes through memory: weights
    read once; each activation written once by its producer and read once by each consumer."""

    weights: int
    activations: int

    @property
    def total(self) -> int:
        return self.weights + self.activations


def estimate_traffic(
    proto: Any, *, activation_bytes: int = 4, weight_bytes: int = 4, batch: int = 1
) -> Traffic:
    """A memory-traffic estimate of an FP32 graph with static height and width (see
    :class:`Traffic`), at ``batch``: ``activation_bytes``/``weight_bytes`` per element (4 for
    FP32, 1 for an all-INT8 execution). Shape-only nodes are ignored; fused kernels that keep a
    tensor in cache move less, so this bounds what memory alone allows, not what a runtime does.
    """
    import onnx

    inferred = onnx.shape_inference.infer_shapes(proto)
    graph = inferred.graph
    weights = {t.name: int(np.prod(t.dims)) for t in graph.initializer}
    shapes: dict[str, int] = {}
    for value in [*graph.input, *graph.value_info, *graph.output]:
        dims = value.type.tensor_type.shape.dim
        if value.type.tensor_type.elem_type != onnx.TensorProto.FLOAT or not dims:
            continue
        sizes = [batch if i == 0 else d.dim_value for i, d in enumerate(dims)]
        if all(sizes):
            shapes[value.name] = int(np.prod(sizes))
    consumers: Counter[str] = Counter(i for n in graph.node for i in n.input)
    moved = sum(n * (1 + consumers[name]) for name, n in shapes.items() if name not in weights)
    return Traffic(sum(weights.values()) * weight_bytes, moved * activation_bytes)
