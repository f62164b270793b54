"""Static INT8 quantization of an exported model with ONNX Runtime (QDQ, per-channel weights),
or with NNCF, OpenVINO's post-training quantizer (``engine="nncf"``, the ``openvino`` extra).
Both write an ONNX QDQ file that either runtime runs; which one is faster where is measured in
``benchmarks/bench_edge.py``.

Steps: ``quant_pre_process`` (ONNX shape inference, graph optimisation and symbolic shape
inference; the last is skipped when it fails, as it does on graphs whose padding arithmetic
depends on dynamic sizes), calibration on images given in the model's own preprocessing, then
``quantize_static`` in QDQ format with per-channel INT8 weights and UINT8 activations (ORT's
recommendation for x86 CPUs; signed INT8 activations were slower in both runtimes).
Calibration runs in chunks so that histogram methods (entropy, percentile) never hold every
intermediate tensor of every image at once. The segcompress metadata is copied into the
INT8 file, marked ``precision=int8``.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import Tensor

from segcompress.data.classes import ClassTable
from segcompress.data.formats import DataSpec
from segcompress.data.transforms import MEAN, STD
from segcompress.deploy.metadata import ModelInfo, resolve_onnx_info, write_info
from segcompress.deploy.onnx_export import save_onnx_atomic
from segcompress.deploy.options import CALIBRATION_METHODS
from segcompress.deploy.registry import QUANTIZERS
from segcompress.deploy.runtime import (
    Predictor,
    is_int8,
    load_onnx,
    load_predictor,
    onnx_info,
    renormalize,
)
from segcompress.deploy.samples import batches, dataset_for, dataset_images
from segcompress.errors import DataError, UsageError
from segcompress.metrics import ConfusionMatrix
from segcompress.models.export import INPUT_NAME

__all__ = [
    "QuantizeReport",
    "argmax_agreement",
    "compare_predictors",
    "fp32_op_types",
    "op_type_counts",
    "quantize_dataset",
    "quantize_onnx",
    "runtime_graph",
    "stem_convolutions",
]

# Images per calibration pass: bounds the memory histogram calibrators hold at once.
_CALIB_CHUNK = 8


@dataclass
class QuantizeReport:
    """Sizes, node types (stored QDQ graph; graph ORT runs; nodes of the latter computing in
    FP32), and (when measured) argmax agreement with FP32 and mIoU."""

    path: Path
    fp32_bytes: int
    int8_bytes: int
    method: str
    calib_images: int
    preprocess: str
    op_counts: dict[str, int]
    runtime_ops: dict[str, int]
    fp32_ops: dict[str, int]
    engine: str = "onnxruntime"
    agreement: float | None = None
    agreement_on: str = ""
    miou_fp32: float | None = None
    miou_int8: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["path"] = str(self.path)
        return out


class _Reader:
    """ORT calibration reader over ``[n, 3, H, W]`` images, one image per call, with the
    ``set_range``/``__len__`` ORT's strided (chunked) calibration uses."""

    def __init__(self, images: np.ndarray) -> None:
        self.images = images
        self.set_range(0, len(images))

    def __len__(self) -> int:
        return len(self.images)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._iter = iter(range(start_index, end_index))

    def get_next(self) -> dict[str, np.ndarray] | None:
        i = next(self._iter, None)
        return None if i is None else {INPUT_NAME: self.images[i : i + 1]}


def _chunk(n: int) -> int:
    """The largest divisor of ``n`` not above ``_CALIB_CHUNK`` (ORT needs equal chunks)."""
    return max(d for d in range(1, min(n, _CALIB_CHUNK) + 1) if n % d == 0)


def runtime_graph(path: str | Path) -> onnx.ModelProto:
    """The graph ONNX Runtime actually runs on this CPU, after its optimisations (e.g. a
    DQ -> Conv -> Q group fused into one ``com.microsoft:QLinearConv``)."""
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        options.log_severity_level = 3  # the "hardware specific" serialisation warning
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def op_type_counts(proto: onnx.ModelProto) -> dict[str, int]:
    """Node types (``domain:type`` outside the default domain) with counts, most frequent
    first."""
    return dict(
        Counter(
            f"{n.domain}:{n.op_type}" if n.domain else n.op_type for n in proto.graph.node
        ).most_common()
    )


def fp32_op_types(proto: onnx.ModelProto) -> dict[str, int]:
    """Node types that compute on float activations in a graph as ONNX Runtime runs it (see
    :func:`runtime_graph`), with counts: float tensors are the graph's float inputs and what
    DequantizeLinear produces, propagated through every node but QuantizeLinear and Shape
    (which reads only the shape). On an unoptimised QDQ graph every op between a
    DequantizeLinear and a QuantizeLinear would count; ORT fuses most of those groups."""
    float_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
    floats = {i.name for i in proto.graph.input if i.type.tensor_type.elem_type in float_types}
    counts: Counter[str] = Counter()
    for node in proto.graph.node:  # graphs are topologically sorted
        if node.op_type in ("QuantizeLinear", "Shape"):
            continue
        if node.op_type == "DequantizeLinear":
            floats.update(node.output)
            continue
        if any(i in floats for i in node.input):
            counts[f"{node.domain}:{node.op_type}" if node.domain else node.op_type] += 1
            floats.update(node.output)
    return dict(counts.most_common())


def argmax_agreement(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """Share of pixels whose argmax class is the same in two logit batches ``[N, C, H, W]``."""
    a = a.numpy() if isinstance(a, Tensor) else a
    b = b.numpy() if isinstance(b, Tensor) else b
    return float((a.argmax(1) == b.argmax(1)).mean())


def _preprocess(src: Path, dst: Path) -> str:
    """Run ``quant_pre_process``; returns which variant worked."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    src, dst = src.resolve(), dst.resolve()
    try:
        # When symbolic shape inference fails, ORT dumps "sym_shape_infer_temp.onnx" plus an
        # external-data file into the working directory: run it from a scratch folder.
        with (
            tempfile.TemporaryDirectory() as scratch,
            contextlib.chdir(scratch),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            quant_pre_process(str(src), str(dst))
        return "full"
    except Exception:  # symbolic shape inference raises many kinds of errors on dynamic graphs
        logging.getLogger(__name__).info("symbolic shape inference failed; skipping it")
    try:
        quant_pre_process(str(src), str(dst), skip_symbolic_shape=True)
    except Exception as exc:
        msg = f"{src}: ONNX Runtime's quantization pre-processing failed ({exc})"
        raise DataError(msg) from exc
    return "skip-symbolic-shape"


def stem_convolutions(proto: onnx.ModelProto) -> list[str]:
    """Names of the convolutions that read the graph's image input directly."""
    inputs = {i.name for i in proto.graph.input}
    return [n.name for n in proto.graph.node if n.op_type == "Conv" and n.input[0] in inputs]


def float_output_resizes(proto: onnx.ModelProto) -> list[str]:
    """Names of the linear-mode ``Resize`` that brings the logits to the input size, and of
    any crop after it. ONNX Runtime has no integer kernel for it, so quantizing it would only
    add a quantize/dequantize pair on the full-size logits: it rounded them and cost time
    (BENCHMARKS.md, "Which runtime and settings?")."""
    producer = {o: n for n in proto.graph.node for o in n.output}
    names: list[str] = []
    for output in proto.graph.output:
        chain, node = [], producer.get(output.name)
        while node is not None and node.op_type in ("Slice", "Resize"):
            chain.append(node.name)
            if node.op_type == "Resize":
                mode = next((a.s for a in node.attribute if a.name == "mode"), b"nearest")
                if mode != b"nearest":
                    names += chain
                break
            node = producer.get(node.input[0])
    return names


@dataclass(frozen=True)
class QuantSettings:
    """How ``quantize_onnx`` was asked to quantize (the ONNX Runtime engine reads them all)."""

    method: str
    per_channel: bool
    signed: bool
    fp32_stem: bool


@dataclass(frozen=True)
class Quantizer:
    """An engine that writes an INT8 QDQ file: ``run(fp32, out, images, tmp, settings)``
    returns the graph preprocessing it applied. ``own_calibration``: the calibration the engine
    always uses (``method`` must then stay ``minmax``), None when ``method`` chooses it."""

    run: Callable[[Path, Path, np.ndarray, Path, QuantSettings], str]
    own_calibration: str | None = None


def _quantize_ort(
    fp32_path: Path, out: Path, images: np.ndarray, tmp: Path, settings: QuantSettings
) -> str:
    """ONNX Runtime's quantize_static on the preprocessed graph (see :func:`_preprocess`)."""
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    prepared = tmp / "prepared.onnx"
    variant = _preprocess(fp32_path, prepared)
    proto = onnx.load(str(prepared))
    with contextlib.redirect_stdout(io.StringIO()):  # histogram calibrators print progress
        quantize_static(
            str(prepared),
            str(out),
            _Reader(images),
            quant_format=QuantFormat.QDQ,
            per_channel=settings.per_channel,
            activation_type=QuantType.QInt8 if settings.signed else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=methods[settings.method],
            nodes_to_exclude=(stem_convolutions(proto) if settings.fp32_stem else [])
            + float_output_resizes(proto),
            extra_options={"CalibStridedMinMax": _chunk(len(images))},
        )
    return variant


def _quantize_nncf(
    fp32_path: Path, out: Path, images: np.ndarray, tmp: Path, settings: QuantSettings
) -> str:
    """NNCF's default post-training quantization (min-max ranges, fast bias correction) of the
    exported graph as it is; its progress bars are silenced."""
    from segcompress.deploy.openvino_runtime import INSTALL_HINT

    try:
        import nncf
    except ImportError as exc:
        raise UsageError(f"--engine nncf needs the nncf package: {INSTALL_HINT}") from exc
    model = onnx.load(str(fp32_path))
    name = model.graph.input[0].name
    data = nncf.Dataset([{name: images[i : i + 1]} for i in range(len(images))])
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        nncf.set_log_level(logging.ERROR)
        quantized = nncf.quantize(model, data, subset_size=len(images))
    onnx.save(quantized, str(out))
    return "none"


QUANTIZERS.add("onnxruntime", Quantizer(_quantize_ort))
QUANTIZERS.add("nncf", Quantizer(_quantize_nncf, own_calibration="min-max"))


def quantize_onnx(
    fp32_path: str | Path,
    out: str | Path,
    calibration: Tensor,
    *,
    method: str = "minmax",
    info: ModelInfo | None = None,
    per_channel: bool = True,
    signed_activations: bool = False,
    fp32_stem: bool = True,
    engine: str = "onnxruntime",
) -> QuantizeReport:
    """Quantize ``fp32_path`` to ``out`` with ``calibration`` images (``[n, 3, H, W]``, already
    in the model's normalisation); ``info`` supplies metadata a foreign file lacks. ``engine``:
    ``onnxruntime`` (``method`` chooses its calibration; ``per_channel`` weights,
    ``signed_activations`` and ``fp32_stem`` are its settings) or ``nncf`` (its own min-max
    ranges).

    ``fp32_stem`` keeps the convolutions that read the image in FP32. On x86 CPUs without VNNI,
    ORT's u8 x s8 kernels sum pairs of products in saturating 16-bit integers, and the stem's
    raw-image activations saturate them: the IDD-Lite recipe student lost accuracy with an
    INT8 stem and none without, at the same latency (BENCHMARKS.md, "Does INT8 cost
    accuracy?")."""
    quantizer = QUANTIZERS.get(engine)
    if method not in CALIBRATION_METHODS:
        raise UsageError(f"--method {method}: choose one of {', '.join(CALIBRATION_METHODS)}")
    if quantizer.own_calibration and method != "minmax":
        raise UsageError(
            f"--method {method}: --engine {engine} calibrates with its own "
            f"{quantizer.own_calibration}"
        )
    fp32_path, out = Path(fp32_path), Path(out)
    proto = load_onnx(fp32_path)
    if is_int8(proto):
        raise UsageError(f"{fp32_path}: already quantized; give the FP32 model")
    if info is None:
        info = resolve_onnx_info(proto, fp32_path)
    if calibration.dim() != 4 or len(calibration) == 0:
        raise DataError(f"{fp32_path}: the calibration set is empty; give calibration images")
    images = calibration.float().contiguous().numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = QuantSettings(method, per_channel, signed_activations, fp32_stem)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        quantized = Path(tmp) / "int8.onnx"
        variant = quantizer.run(fp32_path, quantized, images, Path(tmp), settings)
        result = onnx.load(str(quantized))
    # An engine with its own calibration is named in the file's metadata by the engine.
    calibration = engine if quantizer.own_calibration else method
    write_info(result, info, precision="int8", calibration=calibration)
    save_onnx_atomic(result, out)
    runtime = runtime_graph(out)
    return QuantizeReport(
        path=out,
        fp32_bytes=fp32_path.stat().st_size,
        int8_bytes=out.stat().st_size,
        method=quantizer.own_calibration or method,
        calib_images=len(images),
        preprocess=variant,
        op_counts=op_type_counts(result),
        runtime_ops=op_type_counts(runtime),
        fp32_ops=fp32_op_types(runtime),
        engine=engine,
    )


def compare_predictors(
    reference: Predictor, candidate: Predictor, loader: Iterable[Any]
) -> tuple[float, ConfusionMatrix, ConfusionMatrix]:
    """One pass over ``(images, masks)`` batches (dataset normalisation): per-pixel argmax
    agreement of ``candidate`` with ``reference`` and both confusion matrices."""
    classes = reference.classes
    matrices = [ConfusionMatrix(classes.num_classes, classes.ignore_index) for _ in range(2)]
    same, total = 0, 0
    for images, masks in loader:
        preds = []
        for predictor, matrix in zip((reference, candidate), matrices, strict=True):
            x = renormalize(images, (MEAN, STD), (predictor.mean, predictor.std))
            pred = predictor(x).cpu().argmax(1)
            matrix.update(pred, masks)
            preds.append(pred)
        same += int((preds[0] == preds[1]).sum())
        total += preds[0].numel()
    return same / max(total, 1), matrices[0], matrices[1]


def quantize_dataset(
    fp32_path: str | Path,
    out: str | Path,
    calib: DataSpec,
    *,
    calib_split: str = "train",
    calib_n: int = 64,
    method: str = "minmax",
    eval_data: DataSpec | None = None,
    eval_split: str = "val",
    classes: ClassTable | str | Path | None = None,
    img_size: Sequence[int] | None = None,
    batch: int = 8,
    threads: int | None = None,
    engine: str = "onnxruntime",
    runtime: str = "onnxruntime",
    fp32_stem: bool = True,
) -> QuantizeReport:
    """Quantize with ``calib_n`` images of ``calib``'s ``calib_split`` (evaluation preprocessing),
    then measure argmax agreement with FP32, and with ``eval_data`` the mIoU of both on
    ``eval_split`` (agreement is then measured there; otherwise on the calibration images).
    ``classes``/``img_size`` describe a foreign ONNX file without segcompress metadata;
    ``engine`` and ``fp32_stem`` quantize (see :func:`quantize_onnx`) and ``runtime`` runs both
    files."""
    from segcompress.metrics import compute_scores

    proto = load_onnx(fp32_path)
    info = onnx_info(proto, fp32_path, classes=classes, img_size=img_size)
    del proto
    dataset = dataset_for(info, calib, calib_split, "--calib-data")
    images = dataset_images(dataset, calib_n, info)
    report = quantize_onnx(
        fp32_path, out, images, method=method, info=info, engine=engine, fp32_stem=fp32_stem
    )
    opts = {"device": "cpu", "threads": threads, "classes": classes, "img_size": img_size}
    opts["runtime"] = runtime
    fp32 = load_predictor(fp32_path, **opts)
    int8 = load_predictor(report.path, **opts)
    if eval_data is None:
        fp32_logits = torch.cat([fp32(b) for b in batches(images, batch)])
        int8_logits = torch.cat([int8(b) for b in batches(images, batch)])
        report.agreement = argmax_agreement(fp32_logits, int8_logits)
        report.agreement_on = f"{len(images)} calibration images ({calib_split})"
        return report
    eval_set = dataset_for(info, eval_data, eval_split, "--eval-data")
    loader = torch.utils.data.DataLoader(eval_set, batch_size=batch)
    agreement, m_fp32, m_int8 = compare_predictors(fp32, int8, loader)
    report.agreement = agreement
    report.agreement_on = f"{len(eval_set)} {eval_split} images"
    report.miou_fp32 = compute_scores(m_fp32.matrix, info.classes.names).mean["iou"]
    report.miou_int8 = compute_scores(m_int8.matrix, info.classes.names).mean["iou"]
    return report
