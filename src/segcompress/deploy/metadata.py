"""What a deployed model must carry so that its file alone is enough to predict and evaluate.

:class:`ModelInfo` holds the class table (names, colours, ignore index), the input size the model
was trained at, the input normalisation and, when known, the registry name and arguments of the
architecture (for FLOP counts). It is read from a training checkpoint and written into ONNX
``metadata_props`` as JSON strings under ``segcompress.*`` keys (readable in Netron or with
``onnx.load(path).metadata_props``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx

from segcompress.data.classes import ClassTable, load_class_table
from segcompress.data.transforms import MEAN, STD
from segcompress.errors import DataError, UsageError

__all__ = [
    "METADATA_PREFIX",
    "METADATA_VERSION",
    "ModelInfo",
    "inference_checkpoint",
    "info_from_checkpoint",
    "info_from_props",
    "info_to_props",
    "resolve_onnx_info",
    "write_info",
]

METADATA_PREFIX = "segcompress."
# Bumped when the meaning of a key changes; readers refuse newer versions.
METADATA_VERSION = 1
_KEYS = ("classes", "input_size", "normalization")


@dataclass(frozen=True)
class ModelInfo:
    """Everything besides the weights that prediction and evaluation need."""

    classes: ClassTable
    input_size: tuple[int, int]
    mean: tuple[float, float, float] = MEAN
    std: tuple[float, float, float] = STD
    model_name: str | None = None
    model_args: dict[str, Any] = field(default_factory=dict)
    dataset_format: str | None = None

    @classmethod
    def of_model(cls, model: Any, input_size: tuple[int, int], classes: ClassTable) -> ModelInfo:
        """The facts of a model built with ``create_model``, weights aside: its registry name
        and every argument, so that the file rebuilds it and a variant's FLOPs are its own."""
        return cls(
            classes=classes,
            input_size=input_size,
            model_name=model.model_name,
            model_args=dict(model.model_args),
        )


def _size(value: Any, source: str) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(isinstance(v, int) and v > 0 for v in value)
    ):
        raise DataError(f"{source}: input size must be two positive integers, got {value!r}")
    return int(value[0]), int(value[1])


def _triple(value: Any, name: str, source: str) -> tuple[float, float, float]:
    try:
        floats = tuple(float(v) for v in value)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{source}: normalisation {name} must be 3 numbers") from exc
    if len(floats) != 3 or (name == "std" and min(floats) <= 0):
        raise DataError(f"{source}: normalisation {name} must be 3 numbers (std > 0)")
    return floats  # type: ignore[return-value]


def info_from_checkpoint(state: Mapping[str, Any], source: str = "checkpoint") -> ModelInfo:
    """The deployment facts of a training checkpoint (see ``engine.checkpoint``); its model
    arguments include those it predates, as it was built (``saved_model_args``)."""
    from segcompress.models.registry import saved_model_args

    if "input_size" not in state:
        raise DataError(f"{source}: checkpoint has no input_size; pass --img-size HxW")
    norm = state.get("normalization") or {"mean": MEAN, "std": STD}
    name = state.get("model_name")
    args = dict(state.get("model_args") or {})
    return ModelInfo(
        classes=ClassTable.from_dict(state["classes"], source=source),
        input_size=_size(list(state["input_size"]), source),
        mean=_triple(norm["mean"], "mean", source),
        std=_triple(norm["std"], "std", source),
        model_name=name,
        model_args=saved_model_args(name, args) if name is not None else args,
        dataset_format=state.get("dataset_format"),
    )


def inference_checkpoint(model: Any, info: ModelInfo) -> dict[str, Any]:
    """A checkpoint dict with the keys ``engine.checkpoint.load_checkpoint`` requires and no
    training state: how an architecture-only (random init) model is handed to another process."""
    from segcompress.engine.checkpoint import CHECKPOINT_FORMAT

    return {
        "format_version": CHECKPOINT_FORMAT,
        "model_name": model.model_name,
        "model_args": dict(model.model_args),
        "model": model.state_dict(),
        "num_classes": info.classes.num_classes,
        "classes": info.classes.to_dict(),
        "ignore_index": info.classes.ignore_index,
        "input_size": list(info.input_size),
        "normalization": {"mean": list(info.mean), "std": list(info.std)},
        "dataset_format": info.dataset_format,
    }


def info_to_props(info: ModelInfo, **extra: str) -> dict[str, str]:
    """``metadata_props`` entries (all strings) describing ``info``; ``extra`` adds plain keys."""
    props = {
        "version": str(METADATA_VERSION),
        "classes": json.dumps(info.classes.to_dict()),
        "input_size": json.dumps(list(info.input_size)),
        "normalization": json.dumps({"mean": list(info.mean), "std": list(info.std)}),
        "model_name": info.model_name or "",
        "model_args": json.dumps(info.model_args),
        "dataset_format": info.dataset_format or "",
        **extra,
    }
    return {METADATA_PREFIX + k: v for k, v in props.items()}


def info_from_props(props: Mapping[str, str], source: str) -> ModelInfo | None:
    """The ModelInfo stored in ``props``, or None when the file carries no segcompress metadata."""
    ours = {k[len(METADATA_PREFIX) :]: v for k, v in props.items() if k.startswith(METADATA_PREFIX)}
    if not ours:
        return None
    missing = [k for k in _KEYS if k not in ours]
    if missing:
        raise DataError(f"{source}: incomplete segcompress metadata (missing {missing[0]})")
    try:
        version = int(ours.get("version", "1"))
        classes = json.loads(ours["classes"])
        size = json.loads(ours["input_size"])
        norm = json.loads(ours["normalization"])
        args = json.loads(ours.get("model_args") or "{}")
    except (ValueError, TypeError) as exc:
        raise DataError(f"{source}: unreadable segcompress metadata ({exc})") from exc
    if version > METADATA_VERSION:
        raise DataError(
            f"{source}: metadata version {version} is newer than this segcompress reads "
            f"({METADATA_VERSION}); upgrade segcompress"
        )
    if not isinstance(norm, dict) or "mean" not in norm or "std" not in norm:
        raise DataError(f"{source}: metadata normalization needs 'mean' and 'std'")
    return ModelInfo(
        classes=ClassTable.from_dict(classes, source=source),
        input_size=_size(size, source),
        mean=_triple(norm["mean"], "mean", source),
        std=_triple(norm["std"], "std", source),
        model_name=ours.get("model_name") or None,
        model_args=args if isinstance(args, dict) else {},
        dataset_format=ours.get("dataset_format") or None,
    )


def write_info(model: onnx.ModelProto, info: ModelInfo, **extra: str) -> None:
    """Replace the segcompress entries of ``model.metadata_props`` (others are kept)."""
    kept = {p.key: p.value for p in model.metadata_props if not p.key.startswith(METADATA_PREFIX)}
    onnx.helper.set_model_props(model, {**kept, **info_to_props(info, **extra)})


def resolve_onnx_info(
    model: onnx.ModelProto,
    source: str | Path,
    *,
    classes: ClassTable | str | Path | None = None,
    img_size: Sequence[int] | None = None,
) -> ModelInfo:
    """The file's own metadata; for a foreign file (none stored) ``classes`` and ``img_size``
    supply it (ImageNet normalisation assumed). Given values override stored ones."""
    props = {p.key: p.value for p in model.metadata_props}
    stored = info_from_props(props, str(source))
    table = load_class_table(classes) if isinstance(classes, (str, Path)) else classes
    if stored is None:
        if table is None or img_size is None:
            raise UsageError(
                f"{source}: no segcompress metadata in this ONNX file; pass --classes FILE "
                "(class table YAML/JSON) and --img-size HxW, or re-export it with "
                "`segcompress export`"
            )
        return ModelInfo(classes=table, input_size=_size(list(img_size), str(source)))
    changes: dict[str, Any] = {}
    if table is not None:
        changes["classes"] = table
    if img_size is not None:
        changes["input_size"] = _size(list(img_size), str(source))
    return ModelInfo(**{**stored.__dict__, **changes}) if changes else stored
