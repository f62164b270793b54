"""Export a checkpoint to one self-contained, checked and verified ONNX file.

Steps: rebuild the model from its checkpoint, fuse it (BN and asymmetric branches folded),
export with ``torch.onnx.export(dynamo=True)``, store the deployment metadata (class table,
input size, normalisation, architecture) in ``metadata_props``, run the ONNX checker, then run
the file in every installed registered runtime (ONNX Runtime, and OpenVINO when it is installed)
against the *unfused* PyTorch model on random inputs (and on real images when data is given).
The export fails, leaving no file behind, when the largest absolute logit difference exceeds
``atol`` or the per-pixel argmax agreement falls below ``min_agreement``.

Shapes: by default height and width are fixed to the checkpoint's input size (``img_size``
overrides it) and only the batch is dynamic; ``dynamic=True`` keeps batch, height and width
dynamic (both through :func:`segcompress.models.export.export_onnx`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import Tensor, nn

from segcompress.data.formats import DataSpec
from segcompress.deploy.metadata import ModelInfo, info_from_checkpoint, write_info
from segcompress.deploy.options import DEFAULT_ATOL, DEFAULT_MIN_AGREEMENT
from segcompress.deploy.registry import available_runtimes
from segcompress.deploy.runtime import load_onnx, load_predictor
from segcompress.deploy.samples import batches, dataset_for, dataset_images, random_images
from segcompress.errors import DataError, SegcompressError, UsageError
from segcompress.fileio import atomic_write_bytes
from segcompress.models.export import export_onnx
from segcompress.models.fuse import fuse

__all__ = [
    "ExportReport",
    "ParityReport",
    "drop_noop_pads",
    "export_checkpoint",
    "export_model",
    "runtime_runner",
    "save_onnx_atomic",
    "verification_runtimes",
    "verify_onnx",
]

# Protobuf cannot serialise a message over 2 GiB: larger weights would need external data.
_PROTOBUF_LIMIT = 2**31
_BYTES_PER_FP32 = 4
_VERIFY_BATCH = 4


@dataclass(frozen=True)
class ParityReport:
    """One runtime (ONNX Runtime or OpenVINO) vs PyTorch on one set of inputs."""

    inputs: str
    shape: tuple[int, ...]
    max_abs_diff: float
    argmax_agreement: float
    runtime: str = "onnxruntime"

    def passed(self, atol: float, min_agreement: float) -> bool:
        return self.max_abs_diff <= atol and self.argmax_agreement >= min_agreement

    def line(self) -> str:
        return (
            f"{self.inputs} {list(self.shape)} ({self.runtime}): max |logit diff| "
            f"{self.max_abs_diff:.2e}, argmax agreement {100 * self.argmax_agreement:.3f}%"
        )


@dataclass
class ExportReport:
    """What was written and how it was checked."""

    path: Path
    size_bytes: int
    info: ModelInfo
    dynamic: bool
    opset: int
    parity: list[ParityReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "dynamic": self.dynamic,
            "opset": self.opset,
            "input_size": list(self.info.input_size),
            "parity": [
                {
                    "inputs": p.inputs,
                    "runtime": p.runtime,
                    "shape": list(p.shape),
                    "max_abs_diff": p.max_abs_diff,
                    "argmax_agreement": p.argmax_agreement,
                }
                for p in self.parity
            ],
        }


def save_onnx_atomic(proto: onnx.ModelProto, path: Path) -> None:
    """Write ``proto`` through :func:`segcompress.fileio.atomic_write`: no half-written models."""
    atomic_write_bytes(path, proto.SerializeToString(), "ONNX model")


def _opset(proto: onnx.ModelProto) -> int:
    return next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), 0)


def drop_noop_pads(proto: onnx.ModelProto) -> int:
    """Remove, in place, every ``Pad`` whose pads are a constant of zeros (the pad to a multiple
    of ``size_divisor`` in a graph fixed to a size that is one already), its readers reading its
    input instead; returns how many went. Runtimes copy such a pad rather than skip it, and a
    quantizer wraps it in a quantize/dequantize pair (BENCHMARKS.md, "Which padding, and how
    fast is `student_lite` in INT8?"). A pad computed at run time (dynamic sizes) stays."""
    graph = proto.graph
    constants = {i.name: i for i in graph.initializer}
    for node in graph.node:
        value = next((a.t for a in node.attribute if a.name == "value"), None)
        if node.op_type == "Constant" and value is not None:
            constants[node.output[0]] = value
    outputs = {o.name for o in graph.output}
    dropped = 0
    for node in list(graph.node):
        if node.op_type != "Pad" or node.domain or node.output[0] in outputs:
            continue
        if len(node.input) < 2 or node.input[1] not in constants:
            continue
        if onnx.numpy_helper.to_array(constants[node.input[1]]).any():
            continue
        for reader in graph.node:
            for i, name in enumerate(reader.input):
                if name == node.output[0]:
                    reader.input[i] = node.input[0]
        graph.node.remove(node)
        dropped += 1
    return dropped


def export_model(
    model: nn.Module,
    path: str | Path,
    info: ModelInfo,
    *,
    dynamic: bool = False,
    opset: int | None = None,
    verbose: bool = False,
) -> Path:
    """Fuse ``model``, export it to ``path`` with ``info`` as metadata (zero pads dropped:
    :func:`drop_noop_pads`), run the ONNX checker.

    ``verbose``: let torch.onnx print its own progress lines (quiet by default).
    """
    path = Path(path)
    weight_bytes = sum(p.numel() for p in model.parameters()) * _BYTES_PER_FP32
    if weight_bytes >= _PROTOBUF_LIMIT:
        raise DataError(
            f"{path}: {weight_bytes / 2**30:.1f} GiB of weights do not fit one ONNX file (2 GiB "
            "protobuf limit); export a smaller model"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    fused = fuse(model)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        raw = Path(tmp) / "raw.onnx"
        export_onnx(
            fused,
            raw,
            example_size=info.input_size,
            opset=opset,
            dynamic_hw=dynamic,
            verbose=verbose,
        )
        proto = onnx.load(str(raw))
    drop_noop_pads(proto)
    write_info(proto, info, precision="fp32", dynamic=str(dynamic).lower())
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise DataError(f"{path}: the exported graph fails the ONNX checker ({first})") from exc
    save_onnx_atomic(proto, path)
    return path


Runner = Callable[[np.ndarray], np.ndarray]


def runtime_runner(path: str | Path, runtime: str = "onnxruntime") -> Runner:
    """``batch -> logits`` (numpy) of ``path`` in ``runtime`` on the CPU, for verification: the
    registered runtime's own predictor (:func:`~segcompress.deploy.runtime.load_predictor`), so
    an export is checked as evaluate, predict and benchmark will run it. An unknown runtime, or
    one whose package is missing, is the lookup's one-line UsageError."""
    predictor = load_predictor(path, device="cpu", runtime=runtime)
    return lambda x: predictor(torch.from_numpy(x)).numpy()


def verification_runtimes() -> list[str]:
    """Every registered runtime that is installed (ONNX Runtime, and OpenVINO when it is): an
    export is checked in each."""
    return list(available_runtimes())


def verify_onnx(
    reference: nn.Module,
    path: str | Path,
    images: Tensor,
    label: str,
    *,
    runner: Runner | None = None,
    runtime: str = "onnxruntime",
) -> ParityReport:
    """Compare ``runtime`` (CPU) on ``path`` with ``reference`` (eval mode) on ``images``."""
    run = runner or runtime_runner(path, runtime)
    reference.eval()
    max_diff, agree, total = 0.0, 0, 0
    for batch in batches(images, _VERIFY_BATCH):
        with torch.inference_mode():
            expected = reference(batch).float().numpy()
        got = run(batch.numpy())
        if got.shape != expected.shape:
            raise DataError(
                f"{path}: {runtime} output shape {list(got.shape)} differs from PyTorch's "
                f"{list(expected.shape)}; the export is wrong"
            )
        max_diff = max(max_diff, float(np.abs(got - expected).max()))
        agree += int((got.argmax(1) == expected.argmax(1)).sum())
        total += expected.shape[0] * expected.shape[2] * expected.shape[3]
    return ParityReport(label, tuple(images.shape), max_diff, agree / total, runtime)


def _check_size(img_size: tuple[int, int]) -> None:
    if any(s < 2 for s in img_size):
        # torch.export specialises dimensions of size 1: the graph would not be what was asked.
        raise UsageError(f"--img-size {img_size[0]}x{img_size[1]}: sides must be at least 2")


def _with_model_args(
    state: dict[str, Any], overrides: dict[str, Any], source: str
) -> dict[str, Any]:
    """``state`` with ``overrides`` merged into its model arguments, checked to change only the
    model's ``export_args``: an argument that holds no weights may still change every feature
    (``decoder_upsample``), and the weights would then compute what they were not trained for."""
    from segcompress.models.registry import create_model, saved_model_args

    saved = saved_model_args(state["model_name"], state["model_args"])
    trained_args = {"num_classes": state["num_classes"], **saved}
    flags = " ".join(f"--model-arg {k}={v}" for k, v in overrides.items())
    try:
        # Rebuilt, so that an argument the checkpoint predates reads as what it computed then.
        trained = create_model(state["model_name"], **trained_args).model_args
        model = create_model(state["model_name"], **{**trained_args, **overrides})
    except SegcompressError as exc:
        raise UsageError(f"{flags}: {exc}") from exc
    changed = [k for k, v in model.model_args.items() if v != trained[k]]
    refused = [f"{k}={trained[k]}" for k in changed if k not in model.export_args]
    if refused:
        allowed = ", ".join(sorted(model.export_args)) or "none"
        raise UsageError(
            f"{flags}: {source}'s {state['model_name']!r} model was trained with "
            f"{', '.join(refused)}, and changing it changes what the weights compute; "
            f"arguments that can change at export: {allowed}"
        )
    return {**state, "model_args": dict(model.model_args)}


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    *,
    img_size: Sequence[int] | None = None,
    dynamic: bool = False,
    opset: int | None = None,
    data: DataSpec | None = None,
    split: str = "val",
    n_images: int = 8,
    atol: float = DEFAULT_ATOL,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    seed: int = 0,
    model_args: dict[str, Any] | None = None,
    verbose: bool = False,
) -> ExportReport:
    """Export ``checkpoint`` to ``out`` and verify it (see the module docstring).

    ``model_args`` override the model's ``export_args``, e.g. ``upsample="nearest"`` for
    ``student_q``'s integer-only logits (recorded in the file's metadata); changing any other
    argument is a UsageError. Raises DataError (and removes ``out``) when a parity check
    fails. ``verbose``: let torch.onnx print its own progress lines (quiet by default).
    """
    from segcompress.engine.checkpoint import load_checkpoint, model_from_checkpoint

    state = load_checkpoint(checkpoint)
    if model_args:
        state = _with_model_args(state, model_args, str(checkpoint))
    info = info_from_checkpoint(state, str(checkpoint))
    if img_size is not None:
        info = ModelInfo(**{**info.__dict__, "input_size": (int(img_size[0]), int(img_size[1]))})
    model = model_from_checkpoint(state, str(checkpoint))
    _check_size(info.input_size)
    out = Path(out)
    export_model(model, out, info, dynamic=dynamic, opset=opset, verbose=verbose)
    try:
        h, w = info.input_size
        checks = [(random_images(2 * _VERIFY_BATCH, (h, w), seed), "random N(0,1)")]
        if dynamic:
            other = (h // 2 + 3, w // 2 + 5)  # odd sizes: exercises padding and cropping
            checks.append((random_images(2, other, seed + 1), "random N(0,1), other size"))
        if data is not None:
            dataset = dataset_for(info, data, split, "--data")
            checks.append((dataset_images(dataset, n_images, info), f"{split} images"))
        parity = []
        for runtime in verification_runtimes():
            run = runtime_runner(out, runtime)
            parity += [
                verify_onnx(model, out, x, label, runner=run, runtime=runtime)
                for x, label in checks
            ]
        failed = [p for p in parity if not p.passed(atol, min_agreement)]
        if failed:
            raise DataError(
                f"{out}: ONNX output differs from PyTorch on {failed[0].line()} (limits: "
                f"{atol:g}, {100 * min_agreement:g}%); the export is not faithful, file removed"
            )
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    proto = load_onnx(out)
    return ExportReport(out, out.stat().st_size, info, dynamic, _opset(proto), parity)
