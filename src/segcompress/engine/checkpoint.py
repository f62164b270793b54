"""Checkpoints: self-describing plain dicts, written atomically, read with ``weights_only=True``.

A checkpoint holds everything later steps need from its path alone (model name and arguments,
class table, input size, normalisation, dataset format) plus the training state for an exact
``--resume`` (optimizer, schedule, AMP scaler, RNG states, early-stopping counters). Only plain
types and tensors go in, so ``torch.load(weights_only=True)`` reads it and a file that would need
arbitrary unpickling is refused without running any of its code.
"""

from __future__ import annotations

import pickle
import platform
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from segcompress.data.classes import ClassTable
from segcompress.errors import DataError, SegcompressError
from segcompress.fileio import atomic_write

__all__ = [
    "CHECKPOINT_FORMAT",
    "capture_rng_state",
    "checkpoint_classes",
    "load_checkpoint",
    "load_model",
    "load_model_weights",
    "model_from_checkpoint",
    "restore_rng_state",
    "save_checkpoint",
    "versions",
]

CHECKPOINT_FORMAT = 1
_REQUIRED = ("format_version", "model_name", "model_args", "model", "num_classes", "classes")
# Types of the required keys, checked before use: a crafted file may hold anything there.
_TYPES = {
    "format_version": int,
    "model_name": str,
    "model_args": dict,
    "model": dict,
    "num_classes": int,
    "classes": dict,
}


def versions() -> dict[str, str]:
    """Library versions that wrote a file, for reproducing a result later."""
    from segcompress import __version__

    return {
        "segcompress": __version__,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
    }


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Write ``state`` so that ``path`` is always either the old file or the complete new one.

    A crash or kill while saving must never leave a truncated ``last.pt`` behind (that would lose
    the run), hence :func:`segcompress.fileio.atomic_write`. A failed write (full disk, lost
    permission) is a ``DataError`` naming the file; the previous ``path`` is then still intact.
    """
    with atomic_write(path, "checkpoint") as fh:
        torch.save(state, fh)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint's dict (metadata and tensors) without executing anything from the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: checkpoint not found")
    try:
        with warnings.catch_warnings():
            # A foreign pickle's protocol warning would bury the one-line error below.
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise DataError(
            f"{path}: refused to load: not a checkpoint of plain types (it would need arbitrary "
            "unpickling, or is no pickle at all); nothing in it was executed"
        ) from exc
    except Exception as exc:
        # Damaged bytes make the unpickler fail in any way: fuzzing found IndexError and
        # KeyError besides RuntimeError / EOFError. The file is data, so all are DataErrors.
        reason = str(exc).strip().split(". ")[0] or type(exc).__name__  # drop torch's advice
        raise DataError(
            f"{path}: not a readable checkpoint, truncated or corrupt ({reason}); use an intact "
            "copy (a run keeps last.pt and best.pt) or train again"
        ) from exc
    if not isinstance(state, dict) or any(k not in state for k in _REQUIRED):
        raise DataError(f"{path}: not a segcompress checkpoint (needs keys {', '.join(_REQUIRED)})")
    wrong = [k for k, kind in _TYPES.items() if not isinstance(state[k], kind)]
    if wrong or isinstance(state["format_version"], bool):
        raise DataError(
            f"{path}: not a segcompress checkpoint ({(wrong or ['format_version'])[0]} has the "
            "wrong type); use a checkpoint written by segcompress"
        )
    if state["format_version"] > CHECKPOINT_FORMAT:
        raise DataError(
            f"{path}: checkpoint format {state['format_version']} is newer than this segcompress "
            f"reads ({CHECKPOINT_FORMAT}); upgrade segcompress"
        )
    return state


def checkpoint_classes(state: dict[str, Any], source: str = "checkpoint") -> ClassTable:
    return ClassTable.from_dict(state["classes"], source=source)


def load_model_weights(model: nn.Module, state: dict[str, Any], source: str) -> None:
    """Load a checkpoint's weights into ``model``, naming the mismatch when they do not fit."""
    name = getattr(model, "model_name", None)
    if name is not None and name != state["model_name"]:
        raise DataError(
            f"{source}: checkpoint holds a {state['model_name']!r} model, not {name!r}; "
            f"use --model {state['model_name']} or another checkpoint"
        )
    classes = getattr(model, "model_args", {}).get("num_classes")
    if classes is not None and classes != state["num_classes"]:
        raise DataError(
            f"{source}: checkpoint has {state['num_classes']} classes, the model {classes}; "
            "use a checkpoint trained on the same class table"
        )
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError) as exc:
        expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        given = {k: tuple(getattr(v, "shape", ())) for k, v in state["model"].items()}
        missing = len(expected.keys() - given.keys())
        unexpected = len(given.keys() - expected.keys())
        reshaped = sum(1 for k in expected.keys() & given.keys() if expected[k] != given[k])
        raise DataError(
            f"{source}: weights do not fit the {state['model_name']!r} model built with "
            f"{state['model_args']} ({missing} missing, {unexpected} unexpected, {reshaped} "
            "of another shape); the file's model description does not match its weights: "
            "use a checkpoint written by segcompress as it was saved"
        ) from exc


def model_from_checkpoint(state: dict[str, Any], source: str = "checkpoint") -> nn.Module:
    """Build the checkpoint's model with its own arguments and load its weights (eval mode)."""
    from segcompress.models.registry import create_model, saved_model_args

    args = saved_model_args(state["model_name"], state["model_args"])
    args.setdefault("num_classes", state["num_classes"])
    try:
        model = create_model(state["model_name"], **args)
    except SegcompressError as exc:  # the registry's words are about flags; here it is the file
        raise DataError(
            f"{source}: the checkpoint describes a model this segcompress cannot build ({exc}); "
            "use a checkpoint written by this version"
        ) from exc
    load_model_weights(model, state, source)
    return model.eval()


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a ready model (eval mode) from a checkpoint file alone."""
    state = load_checkpoint(path, map_location=map_location)
    return model_from_checkpoint(state, str(path)).to(map_location)


def capture_rng_state() -> dict[str, Any]:
    """Every RNG a training step may draw from, as plain types and tensors."""
    version, mt_state, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": [version, list(mt_state), gauss],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    np_state = state["numpy"]
    np.random.set_state(
        (
            np_state["kind"],
            np_state["keys"].numpy().astype(np.uint32),
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
