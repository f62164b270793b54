"""Resuming a run: the saved config, what a resume may change, and how a stopped run goes on.

A resumed run must train what its checkpoint trained: :func:`check_resumed_recipe` refuses a
change of recipe unless ``--resume-with-changes`` allows it (then recorded in
``config_history.jsonl``), and the teacher files must be the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from segcompress.config import TrainConfig, config_from_dict, config_to_dict, recipe_changes
from segcompress.engine.checkpoint import load_checkpoint
from segcompress.errors import UsageError
from segcompress.fileio import atomic_write_bytes, file_sha256

if TYPE_CHECKING:
    from segcompress.engine.trainer import Trainer

__all__ = [
    "HISTORY",
    "check_resumed_recipe",
    "check_resumed_teacher",
    "record_changes",
    "resume_config",
    "resume_hint",
    "saved_config",
]

HISTORY = "config_history.jsonl"  # what --resume-with-changes changed, one line per resume


def resume_config(out: Path) -> tuple[TrainConfig, dict[str, Any]]:
    """The config and state of ``{out}/last.pt``, the base a resumed run starts from."""
    path = out / "last.pt"
    if not path.is_file():
        raise UsageError(
            f"--resume: {path} not found; start a new run without --resume "
            "(with --overwrite if the folder holds an unfinished run)"
        )
    state = load_checkpoint(path)
    return saved_config(state, path), state


def saved_config(state: dict[str, Any], path: Path) -> TrainConfig:
    """The run's config as its checkpoint saved it, with the model's arguments as built."""
    from segcompress.models.registry import saved_model_args

    cfg = config_from_dict(state["config"], str(path))
    # The model as it was built, not as today's defaults would build it from the saved config.
    saved = saved_model_args(state["model_name"], state["model_args"])
    cfg.model.args = {k: v for k, v in saved.items() if k != "num_classes"}
    return cfg


def _shown_value(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (list, dict, str)) else str(value)


def check_resumed_recipe(
    cfg: TrainConfig, state: dict[str, Any], allow: bool, model: torch.nn.Module | None = None
) -> list[tuple[str, Any, Any]]:
    """Refuse a resume that would change what is trained (a UsageError naming the key and
    both values) unless ``allow`` (``--resume-with-changes``); returns the changes allowed.

    Epochs, threads and the output options may change (``config.RESUME_FREE_KEYS``): one run
    whose epochs were trained with different recipes is not what its config.yaml would say.
    Without ``model`` the config is compared, but for the model's arguments; with it, the
    arguments the model was built with (a YAML ``model.args`` that leaves out defaults is no
    change, a default that changed since is one).
    """
    path = Path(cfg.out) / "last.pt"
    if model is None:
        saved = config_to_dict(saved_config(state, path))
        new = config_to_dict(cfg)
        saved["model"]["args"] = new["model"]["args"] = {}
    else:
        from segcompress.models.registry import saved_model_args

        built = getattr(model, "model_args", {})
        before = saved_model_args(state["model_name"], state["model_args"])
        saved = {"model": {"args": {k: v for k, v in before.items() if k != "num_classes"}}}
        new = {"model": {"args": {k: v for k, v in built.items() if k != "num_classes"}}}
    changes = recipe_changes(saved, new)
    if changes and not allow:
        key, old, new = changes[0]
        more = f" (and {len(changes) - 1} more: {', '.join(c[0] for c in changes[1:])})"
        raise UsageError(
            f"--resume: {key} was {_shown_value(old)} in {path}, now {_shown_value(new)}"
            f"{more if len(changes) > 1 else ''}; resume with the run's own value, pass "
            f"--resume-with-changes to go on with the change (recorded in {HISTORY}), or "
            "start a new run (another --out, or --overwrite)"
        )
    return changes


def record_changes(out: Path, epoch: int, changes: list[tuple[str, Any, Any]]) -> None:
    """Append what a --resume-with-changes changed, and after which epoch, to the history."""
    path = out / HISTORY
    before = path.read_bytes() if path.is_file() else b""
    row = {"after_epoch": epoch, "changes": {k: {"from": a, "to": b} for k, a, b in changes}}
    atomic_write_bytes(path, before + (json.dumps(row) + "\n").encode(), "config history")


def check_resumed_teacher(files: list[str], state: dict[str, Any]) -> dict[str, Any]:
    """The identity of the teacher ``files`` for the checkpoint; a resume must use the same."""
    digests = [file_sha256(path) for path in files]
    before = state.get("provenance", {}).get("teacher_sha256") if state else None
    if before is not None and before != digests:
        raise UsageError(
            f"--resume: this run was distilled from another teacher (SHA-256 {before[0][:12]}"
            f"...) than --teacher {', '.join(files)} ({digests[0][:12]}...); resume with the "
            "original teacher file, or start a new run with --overwrite"
        )
    return {"teacher": files, "teacher_sha256": digests}


def resume_hint(cfg: TrainConfig, trainer: Trainer) -> str:
    """What was kept and the command that continues the run exactly."""
    command = "distill" if cfg.distill.teacher is not None else "train"
    stopped, saved = trainer.stopped_in_epoch, trainer.epoch
    if stopped is not None and stopped > saved:
        state = f"the end of epoch {saved}" if saved else "the state before the first step"
        kept = (
            f"stopped during epoch {stopped}; {cfg.out}/last.pt holds {state}, and resuming "
            f"redoes epoch {stopped} from its start (same result as an uninterrupted run)"
        )
    else:
        kept = f"stopped after epoch {saved}, saved in {cfg.out}/last.pt"
    return f"{kept}; resume with: segcompress {command} --out {cfg.out} --resume"
