"""The ONNX files the speed studies compare: a model's FP32 file and its INT8 files from each
quantizer, optionally built as before a change (to time it against today's in the same rounds).

Shared by ``bench_int8_ab.py``, ``bench_ort_settings.py`` and ``bench_edge.py``; not a script.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F

from segcompress.cli.common import key_value
from segcompress.data.classes import IDD_LEVEL3
from segcompress.deploy import onnx_export, quantize
from segcompress.deploy.metadata import ModelInfo
from segcompress.deploy.onnx_export import export_model
from segcompress.deploy.quantize import quantize_onnx
from segcompress.deploy.samples import smooth_images
from segcompress.models import baselines, blocks, int8_student, msunet
from segcompress.models.registry import create_model

CALIB_N = 16
BEFORE = " (before)"  # suffix of a --before model's candidates
ZERO_PAD = " (zero pad kept)"  # suffix of a --zero-pad model's candidates
QOPERATOR = "INT8, ORT quantizer, QOperator"
# label -> quantize_onnx options of the INT8 files every model gets
VARIANTS: dict[str, dict[str, Any]] = {
    "INT8, ORT quantizer, FP32 stem": {"fp32_stem": True},
    "INT8, ORT quantizer, INT8 stem": {"fp32_stem": False},
    "INT8, NNCF": {"engine": "nncf"},
}


def model_spec(text: str) -> tuple[str, dict[str, Any]]:
    """``student_q:upsample=nearest`` -> (``student_q``, {``upsample``: ``nearest``}); values
    are read as YAML scalars, like ``--model-arg``."""
    name, _, rest = text.partition(":")
    return name, dict(key_value(item) for item in rest.split(",") if item)


def export_spec(spec: str, size: tuple[int, int], path: Path) -> Path:
    """The model ``spec`` (seed 0, random weights: speed depends on the architecture) exported
    to ``path`` at ``size``, with its model arguments in the metadata (a ``width_mult``
    variant's FLOPs are its own)."""
    torch.manual_seed(0)
    name, kwargs = model_spec(spec)
    model = create_model(name, **kwargs).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    export_model(model, path, ModelInfo.of_model(model, size, IDD_LEVEL3))
    return path


@contextlib.contextmanager
def as_before() -> Iterator[None]:
    """Files built inside are exported and quantized as before BENCHMARKS.md's "Constant resize
    scales": every map resized by target size (the exported graph reads each input's
    ``Shape``; the same values, another graph) and the logits' float resize quantized."""

    def by_size(x: torch.Tensor, like: torch.Tensor, mode: str) -> torch.Tensor:
        align = False if mode == "bilinear" else None
        return F.interpolate(x, size=like.shape[-2:], mode=mode, align_corners=align)

    with contextlib.ExitStack() as stack:
        for module in (blocks, msunet, int8_student, baselines):
            stack.enter_context(mock.patch.object(module, "resize", by_size))
        stack.enter_context(mock.patch.object(quantize, "float_output_resizes", lambda _: []))
        yield


def quantize_qoperator(fp32: Path, out: Path, images: torch.Tensor) -> None:
    """``quantize_onnx``'s default file (per-channel, FP32 stem, same calibration) written in
    ONNX Runtime's QOperator format instead of QDQ: the file itself holds ``QLinearConcat``,
    ``QLinearMul`` and ``QLinearSigmoid`` where the QDQ file has FP32 ops between
    ``DequantizeLinear`` and ``QuantizeLinear``. The library writes QDQ only; this measures
    whether the other would pay. OpenVINO cannot read it (its ``com.microsoft`` ops)."""
    import onnxruntime.quantization as ort_quantization

    quantize_static = ort_quantization.quantize_static

    def as_qoperator(*args: Any, **kwargs: Any) -> None:
        quantize_static(*args, **{**kwargs, "quant_format": ort_quantization.QuantFormat.QOperator})

    with mock.patch.object(ort_quantization, "quantize_static", as_qoperator):
        quantize_onnx(fp32, out, images)


def build_files(
    spec: str, size: tuple[int, int], work: Path, qoperator: bool = False
) -> dict[str, Path]:
    """The FP32 file of the model ``spec`` and its INT8 files (:data:`VARIANTS`, and
    :data:`QOPERATOR` with ``qoperator``), under ``work``; a spec ending in :data:`BEFORE` is
    built :func:`as_before`, one ending in :data:`ZERO_PAD` exported with the zero pad to the
    model's size divisor kept in the graph."""
    if spec.endswith(BEFORE):
        with as_before():
            return build_files(spec.removesuffix(BEFORE), size, work, qoperator)
    if spec.endswith(ZERO_PAD):  # exported as before onnx_export.drop_noop_pads
        with mock.patch.object(onnx_export, "drop_noop_pads", lambda _proto: 0):
            return build_files(spec.removesuffix(ZERO_PAD), size, work, qoperator)
    files = {"FP32": export_spec(spec, size, work / "fp32.onnx")}
    images = smooth_images(CALIB_N, size, 0)
    for i, (label, options) in enumerate(VARIANTS.items()):
        files[label] = work / f"int8-{i}.onnx"
        quantize_onnx(files["FP32"], files[label], images, **options)
    if qoperator:
        files[QOPERATOR] = work / "int8-qoperator.onnx"
        quantize_qoperator(files["FP32"], files[QOPERATOR], images)
    return files
