"""One predictor interface over a torch checkpoint or an ONNX file (FP32 or INT8), the latter
run by ONNX Runtime or OpenVINO.

``load_predictor(path)`` returns a :class:`Predictor`: a callable ``batch -> logits`` (batch
normalised with ``predictor.mean``/``predictor.std``, ``[N, 3, H, W]`` float32; logits
``[N, C, H, W]`` float32 on the CPU for ONNX, on the device for torch) that also knows its
class table, input size and normalisation. Evaluation, prediction and benchmarks all go through
it, so an exported or quantized model is measured on the same harness as the PyTorch one::

    predictor = load_predictor("student.int8.onnx", threads=2)
    matrix = evaluate_predictor(predictor, loader)       # loader of dataset (images, masks)
    ids = predictor.predict_image(rgb)                   # uint8 HxW class ids
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from google.protobuf.message import DecodeError
from torch import Tensor, nn

from segcompress.data.classes import ClassTable
from segcompress.data.transforms import MEAN, STD
from segcompress.deploy import openvino_runtime  # noqa: F401  (registers the openvino runtime)
from segcompress.deploy.metadata import ModelInfo, info_from_checkpoint, resolve_onnx_info
from segcompress.deploy.options import RUNTIMES
from segcompress.deploy.predictor import GraphPredictor, Predictor
from segcompress.deploy.registry import GRAPH_RUNTIMES, GraphRuntime
from segcompress.errors import DataError, UsageError
from segcompress.metrics import ConfusionMatrix

__all__ = [
    "INT8_OP_TYPES",
    "RUNTIMES",
    "GraphPredictor",
    "OnnxPredictor",
    "Predictor",
    "TorchPredictor",
    "channels_last_logits_resize",
    "evaluate_predictor",
    "fixed_input_size",
    "is_int8",
    "is_onnx_file",
    "load_onnx",
    "load_predictor",
    "onnx_info",
    "onnx_session",
    "renormalize",
]

# Node types whose presence makes a graph an INT8 model.
INT8_OP_TYPES = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger"}
)
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".ckpt")
_ZIP_MAGIC = b"PK"  # torch.save writes a zip archive


def _ort_errors() -> tuple[type[BaseException], ...]:
    from onnxruntime.capi import onnxruntime_pybind11_state as state

    names = ("Fail", "InvalidGraph", "InvalidProtobuf", "InvalidArgument", "RuntimeException")
    return tuple(getattr(state, n) for n in names if hasattr(state, n))


def renormalize(
    batch: Tensor,
    src: tuple[Sequence[float], Sequence[float]],
    dst: tuple[Sequence[float], Sequence[float]],
) -> Tensor:
    """Re-express a batch normalised with ``src`` (mean, std) in ``dst``'s normalisation."""
    if tuple(src[0]) == tuple(dst[0]) and tuple(src[1]) == tuple(dst[1]):
        return batch

    def col(v: Sequence[float]) -> Tensor:
        return torch.tensor(v, dtype=batch.dtype, device=batch.device)[:, None, None]

    return (batch * col(src[1]) + col(src[0]) - col(dst[0])) / col(dst[1])


class TorchPredictor(Predictor):
    """A (fused) torch model in eval mode; ``channels_last`` converts inputs and weights."""

    backend = "torch"

    def __init__(
        self,
        model: nn.Module,
        info: ModelInfo,
        source: str,
        device: torch.device,
        *,
        channels_last: bool = False,
    ) -> None:
        super().__init__(info, source, device)
        self.channels_last = channels_last
        model = model.to(device).eval()
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.model = model

    def __call__(self, batch: Tensor) -> Tensor:
        self._check_batch(batch)
        x = batch.to(self.device, torch.float32)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            return self.model(x).float()


class OnnxPredictor(GraphPredictor):
    """An ONNX Runtime session (see :class:`GraphPredictor`)."""

    runtime = "onnxruntime"
    backend_prefix = "onnx"

    def __init__(
        self,
        session: Any,
        info: ModelInfo,
        source: str,
        device: torch.device,
        *,
        int8: bool,
        channels_last_output: bool = False,
    ) -> None:
        """``channels_last_output``: the session delivers NHWC logits (see
        :func:`channels_last_logits_resize`), given back as an NCHW view of them."""
        inp = session.get_inputs()[0]
        super().__init__(info, source, device, inp.shape, int8=int8)
        self.session = session
        self.input_name = inp.name
        self.output_name = session.get_outputs()[0].name
        self.channels_last_output = channels_last_output

    @property
    def providers(self) -> list[str]:
        return list(self.session.get_providers())

    def _run(self, x: np.ndarray) -> np.ndarray:
        try:
            out = self.session.run([self.output_name], {self.input_name: x})[0]
        except _ort_errors() as exc:
            first = str(exc).strip().splitlines()[0]
            raise DataError(
                f"{self.source}: ONNX Runtime failed on a {list(x.shape)} batch ({first})"
            ) from exc
        return out.transpose(0, 3, 1, 2) if self.channels_last_output else out


def is_onnx_file(path: str | Path) -> bool:
    """ONNX by suffix; checkpoints by suffix or the zip header torch.save writes."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return True
    if suffix in _CHECKPOINT_SUFFIXES:
        return False
    with open(path, "rb") as fh:
        return fh.read(len(_ZIP_MAGIC)) != _ZIP_MAGIC


def load_onnx(path: str | Path) -> onnx.ModelProto:
    """Parse an ONNX file (weights included), naming the file and the fix when it is not one."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: ONNX file not found")
    try:
        return onnx.load(str(path))
    except (DecodeError, OSError, ValueError, RuntimeError) as exc:
        raise DataError(
            f"{path}: not a readable ONNX model ({type(exc).__name__}); the file is corrupt or "
            "truncated: export it again with `segcompress export`"
        ) from exc


def is_int8(proto: onnx.ModelProto) -> bool:
    """True for a quantized graph (QDQ or integer operators)."""
    return any(node.op_type in INT8_OP_TYPES for node in proto.graph.node)


def fixed_input_size(proto: onnx.ModelProto) -> tuple[int, int] | None:
    """The graph's (H, W) when both are fixed, else None (dynamic export)."""
    dims = [d.dim_value or None for d in proto.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) == 4 and dims[2] and dims[3]:
        return int(dims[2]), int(dims[3])
    return None


def onnx_info(
    proto: onnx.ModelProto,
    path: str | Path,
    *,
    classes: ClassTable | str | Path | None = None,
    img_size: Sequence[int] | None = None,
) -> ModelInfo:
    """The file's ModelInfo (see ``resolve_onnx_info``), checked against a fixed graph size."""
    info = resolve_onnx_info(proto, path, classes=classes, img_size=img_size)
    fixed = fixed_input_size(proto)
    if fixed is not None and tuple(info.input_size) != fixed:
        if img_size is not None:
            raise UsageError(
                f"--img-size {img_size[0]}x{img_size[1]}: {path} was exported for "
                f"{fixed[0]}x{fixed[1]} inputs; drop --img-size or re-export with --dynamic"
            )
        raise DataError(
            f"{path}: metadata input size {info.input_size} differs from the graph's "
            f"{fixed}; re-export it with `segcompress export`"
        )
    return info


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except RuntimeError as exc:
        raise UsageError(f"--device {device}: expected auto, cpu, cuda or cuda:N") from exc


def _ort_providers(device: str | torch.device) -> list[str]:
    """The CUDA provider when ``device`` asks for (or ``auto`` finds) it and this onnxruntime
    build has it, then the CPU provider."""
    import onnxruntime as ort

    providers = ["CPUExecutionProvider"]
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    if str(device) != "cpu" and has_cuda:
        providers.insert(0, "CUDAExecutionProvider")
    return providers


def onnx_session(
    path: str | Path,
    *,
    threads: int | None = None,
    device: str | torch.device = "cpu",
    model: bytes | None = None,
) -> Any:
    """An ORT session: the CUDA provider when ``device`` asks for (or ``auto`` finds) it and this
    onnxruntime build has it, else the CPU provider; ``threads`` intra-op threads, one inter-op.
    ``model``: a serialized graph to run instead of the file's own (a rewritten copy of it)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    # The fastest level for FP32 and INT8 files alike (benchmarks/bench_ort_settings.py).
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.inter_op_num_threads = 1
    if threads:
        options.intra_op_num_threads = threads
    try:
        source = str(path) if model is None else model
        return ort.InferenceSession(source, options, providers=_ort_providers(device))
    except _ort_errors() as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(
            f"{path}: ONNX Runtime cannot load this model ({first}); export it again with "
            "`segcompress export`"
        ) from exc


def _constant(proto: onnx.ModelProto, name: str) -> np.ndarray | None:
    """The value of ``name`` when it is an initializer or a ``Constant`` node's output."""
    for init in proto.graph.initializer:
        if init.name == name:
            return onnx.numpy_helper.to_array(init)
    for node in proto.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            value = next((a for a in node.attribute if a.name == "value"), None)
            return None if value is None else onnx.numpy_helper.to_array(value.t)
    return None


def _unique(proto: onnx.ModelProto, base: str) -> str:
    taken = {n for node in proto.graph.node for n in (*node.input, *node.output)}
    taken |= {i.name for i in proto.graph.initializer}
    name, i = base, 0
    while name in taken:
        i += 1
        name = f"{base}_{i}"
    return name


# Steps between the resize and the output that work per element (with one scale), in any layout.
_PER_TENSOR = ("QuantizeLinear", "DequantizeLinear")


def channels_last_logits_resize(proto: onnx.ModelProto) -> bool:
    """Make the ``Resize`` that brings the first output to full size work channels-last, editing
    ``proto`` in place: a ``Transpose`` to NHWC before it, its scales permuted, the output (and
    any per-tensor quantize/dequantize steps after the resize) NHWC. Returns whether it did; it
    leaves any other graph alone: a nearest or cubic resize (ORT's 8-bit nearest resize is
    slower channels-last), a resize by ``sizes``, ``axes`` or a region of interest, anything else
    between the resize and the output, a rank other than 4.

    Why: ONNX Runtime runs the last convolutions of an INT8 graph channels-last, converts their
    small stride-2 logits back to NCHW and then upsamples them with its slow NCHW float resize
    (or, in FP32, with its blocked-layout resize and a reorder of the full-size logits). Kept
    channels-last, the upsampling runs in ORT's threaded NHWC kernel and the transposes cancel:
    ``student_lite`` INT8 about 11% faster at 256x256, FP32 as fast (BENCHMARKS.md, "Which
    padding, and how fast is `student_lite` in INT8?"). Same values: the predictor returns
    an NCHW view of the NHWC logits (:class:`OnnxPredictor`)."""
    graph = proto.graph
    if len(graph.output) == 0:
        return False
    output = graph.output[0]
    dims = output.type.tensor_type.shape.dim
    if len(dims) != 4 or any(output.name in node.input for node in graph.node):
        return False
    producer = {o: n for n in graph.node for o in n.output}
    readers: dict[str, int] = {}
    for reader in graph.node:
        for name in reader.input:
            readers[name] = readers.get(name, 0) + 1
    node = producer.get(output.name)
    while node is not None and node.op_type in _PER_TENSOR and not node.domain:
        scale = _constant(proto, node.input[1])
        if scale is None or scale.size != 1 or readers.get(node.input[0]) != 1:
            return False  # a per-channel step, or a map something else reads NCHW
        node = producer.get(node.input[0])
    if node is None or node.op_type != "Resize" or node.domain or len(node.input) < 3:
        return False
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    roi = node.input[1]
    if (
        attrs.get("mode", b"nearest") != b"linear"
        or "axes" in attrs
        or attrs.get("coordinate_transformation_mode") == b"tf_crop_and_resize"
        or (len(node.input) > 3 and node.input[3])
        or (roi and (_constant(proto, roi) is None or _constant(proto, roi).size))
    ):
        return False
    scales = _constant(proto, node.input[2])
    if scales is None or scales.shape != (4,) or list(scales[:2]) != [1.0, 1.0]:
        return False
    nhwc_input = _unique(proto, f"{node.input[0]}_nhwc")
    nhwc_scales = _unique(proto, f"{node.input[2]}_nhwc")
    transpose = onnx.helper.make_node(
        "Transpose", [node.input[0]], [nhwc_input], name=nhwc_input, perm=[0, 2, 3, 1]
    )
    graph.node.insert(list(graph.node).index(node), transpose)
    graph.initializer.append(
        onnx.numpy_helper.from_array(scales[[0, 2, 3, 1]].astype(scales.dtype), nhwc_scales)
    )
    node.input[0], node.input[2] = nhwc_input, nhwc_scales
    nchw = [onnx.TensorShapeProto.Dimension() for _ in range(4)]
    for new, old in zip(nchw, dims, strict=True):
        new.CopyFrom(old)
    for i, j in enumerate((0, 2, 3, 1)):
        dims[i].CopyFrom(nchw[j])
    return True


# Protobuf cannot serialize a graph of 2 GiB or more; such a file runs as it is.
_SERIALIZABLE = 2**31 - 1


def _load_ort(
    path: Path, info: ModelInfo, *, device: str | torch.device, threads: int | None, int8: bool
) -> OnnxPredictor:
    """The file in ONNX Runtime; on the CPU its logits' final resize channels-last
    (:func:`channels_last_logits_resize`)."""
    model = None
    if _ort_providers(device) == ["CPUExecutionProvider"]:
        proto = load_onnx(path)
        if proto.ByteSize() < _SERIALIZABLE and channels_last_logits_resize(proto):
            model = proto.SerializeToString()
    session = onnx_session(path, threads=threads, device=device, model=model)
    used = "cuda" if "CUDAExecutionProvider" in session.get_providers() else "cpu"
    return OnnxPredictor(
        session,
        info,
        str(path),
        torch.device(used),
        int8=int8,
        channels_last_output=model is not None,
    )


GRAPH_RUNTIMES.add("onnxruntime", GraphRuntime("onnxruntime", _load_ort))


def _load_torch_predictor(
    path: Path,
    device: str | torch.device,
    img_size: Sequence[int] | None,
    *,
    fuse: bool,
    channels_last: bool,
) -> TorchPredictor:
    from segcompress.engine.checkpoint import load_checkpoint, model_from_checkpoint
    from segcompress.models.fuse import fuse as fuse_model

    state = load_checkpoint(path)
    info = info_from_checkpoint(state, str(path))
    if img_size is not None:
        info = ModelInfo(**{**info.__dict__, "input_size": (int(img_size[0]), int(img_size[1]))})
    model = model_from_checkpoint(state, str(path))
    if fuse:
        model = fuse_model(model, inplace=True)
    return TorchPredictor(
        model, info, str(path), _resolve_device(device), channels_last=channels_last
    )


def load_predictor(
    path: str | Path,
    *,
    device: str | torch.device = "auto",
    threads: int | None = None,
    classes: ClassTable | str | Path | None = None,
    img_size: Sequence[int] | None = None,
    fuse: bool = True,
    channels_last: bool = False,
    runtime: str = "onnxruntime",
) -> Predictor:
    """A predictor for a training checkpoint (``.pt``) or an ONNX file (FP32 or INT8).

    Args:
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda[:N]``; for ONNX, the CUDA
            provider is used when this onnxruntime build has it.
        threads: intra-op threads (torch: ``torch.set_num_threads``, process-wide).
        classes / img_size: for ONNX files without segcompress metadata (a class table or its
            YAML/JSON file, and ``(H, W)``); ``img_size`` also overrides the stored input size.
        fuse: re-parameterize torch models (BN and branches folded) as deployed.
        channels_last: torch only: NHWC memory format.
        runtime: for ONNX files, ``onnxruntime`` or ``openvino`` (the optional ``openvino``
            package; CPU), which run the same file.
    """
    path = Path(path)
    graph_runtime = GRAPH_RUNTIMES.get(runtime)
    if not path.is_file():
        raise DataError(f"{path}: model file not found")
    if is_onnx_file(path):
        if channels_last:
            raise UsageError(f"{path}: channels_last applies to torch checkpoints, not ONNX")
        proto = load_onnx(path)
        info = onnx_info(proto, path, classes=classes, img_size=img_size)
        return graph_runtime.load(path, info, device=device, threads=threads, int8=is_int8(proto))
    if runtime != "onnxruntime":
        raise UsageError(
            f"{path}: --runtime {runtime} runs ONNX files; export the checkpoint first "
            "(`segcompress export`)"
        )
    if classes is not None:
        raise UsageError(f"{path}: --classes is for ONNX files without metadata, not checkpoints")
    if threads:
        torch.set_num_threads(threads)
    return _load_torch_predictor(path, device, img_size, fuse=fuse, channels_last=channels_last)


def evaluate_predictor(
    predictor: Predictor,
    loader: Iterable[Any],
    *,
    data_norm: tuple[Sequence[float], Sequence[float]] = (MEAN, STD),
    progress: bool = False,
) -> ConfusionMatrix:
    """Confusion matrix of ``predictor`` on ``(images, masks)`` batches normalised with
    ``data_norm`` (the dataset's; re-normalised to the predictor's when they differ)."""
    from segcompress.engine.evaluate import evaluate

    target = (predictor.mean, predictor.std)

    def predict(images: Tensor) -> Tensor:
        return predictor(renormalize(images, data_norm, target))

    return evaluate(
        predict,
        loader,
        predictor.classes.num_classes,
        predictor.classes.ignore_index,
        progress=progress,
    )
