"""``segcompress train | distill``.

Training flags map one to one onto config keys: ``cli.flags`` derives them from the config
dataclasses (their ``dest`` is the dotted key), and they default to "not given"
(``argument_default=SUPPRESS``: a flag not typed stays out of the namespace), so precedence is
simply: defaults < checkpoint config (``--resume``) < ``--config`` YAML < flags actually typed.
The earlier project's spellings (``--root_path``, ``--img_size``, ``--batch_size``) are
declared with the fields as aliases. The config's range checks run once, in
``engine.run.train_run``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from segcompress.cli.common import key_value, non_negative_float
from segcompress.cli.flags import add_config_flags, add_dataset_args
from segcompress.config import (
    DATASET_KEYS,
    AugmentConfig,
    DataConfig,
    DistillConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)
from segcompress.errors import UsageError

__all__ = ["register"]

# Flags that steer the command rather than set a config value.
_COMMAND_DESTS = {
    "command",
    "func",
    "debug",
    "config",
    "resume",
    "resume_with_changes",
    "overwrite",
    "model_arg",
    "loss",
}
_LOSS_TERMS = ("ce", "dice", "focal", "lovasz")


def _loss_spec(text: str) -> dict[str, float]:
    """``ce=1,dice=0.5`` -> weights; loss terms not named get weight 0."""
    spec: dict[str, float] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        try:
            spec[key.strip()] = non_negative_float(value) if sep else 1.0
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"--loss {text}: {exc}") from exc
    return spec


def _add_training_args(parser: argparse.ArgumentParser) -> None:
    add_config_flags(parser, DataConfig, prefix="data.", keys=("root",))
    add_dataset_args(parser, root_required=False, prefix="data.")
    run = parser.add_argument_group("run")
    run.add_argument(
        "--config", metavar="FILE", help="YAML config file (flags override its values)"
    )
    run.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    run.add_argument(
        "--resume-with-changes",
        dest="resume_with_changes",
        action="store_true",
        help="--resume, allowing flags that change what is trained (e.g. --kd, --lr); the "
        "change is recorded in the run's config_history.jsonl",
    )
    run.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    add_config_flags(run, TrainConfig)
    data = parser.add_argument_group("data loading")
    loading = set(DataConfig.__dataclass_fields__) - set(DATASET_KEYS)
    add_config_flags(data, DataConfig, prefix="data.", keys=loading)
    add_config_flags(data, AugmentConfig, prefix="augment.")
    model = parser.add_argument_group("model")
    add_config_flags(model, ModelConfig, prefix="model.")
    model.add_argument(
        "--model-arg",
        dest="model_arg",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="model constructor argument, e.g. base_width=16 or encoder=efficientnet_lite0 "
        "(repeatable)",
    )
    add_config_flags(parser.add_argument_group("optimisation"), OptimConfig, prefix="optim.")
    loss = parser.add_argument_group("loss")
    loss.add_argument(
        "--loss", type=_loss_spec, help=f"weights of {', '.join(_LOSS_TERMS)}, e.g. ce=1,dice=1"
    )
    add_config_flags(loss, LossConfig, prefix="loss.")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The config keys the flags typed set (``--grad-clip 0`` is off: null)."""
    overrides = {k: v for k, v in vars(args).items() if k not in _COMMAND_DESTS}
    if overrides.get("optim.grad_clip") == 0:
        overrides["optim.grad_clip"] = None
    if "loss" in vars(args):
        spec = args.loss
        unknown = sorted(set(spec) - set(_LOSS_TERMS))
        if unknown:
            raise UsageError(f"--loss: unknown term {unknown[0]}; use {', '.join(_LOSS_TERMS)}")
        for term in _LOSS_TERMS:
            overrides[f"loss.{term}"] = spec.get(term, 0.0)
    return overrides


def _resolve_config(args: argparse.Namespace, mode: str) -> tuple[Any, dict[str, Any] | None]:
    """The run's config (defaults < checkpoint < YAML < flags) and, resuming, its checkpoint.

    Its range checks are left to ``train_run``, which every run goes through."""
    from segcompress.config import apply_overrides, load_config
    from segcompress.engine.resume import resume_config

    overrides = _overrides(args)
    if mode == "distill":
        base = TrainConfig(out="runs/student_kd", model=ModelConfig(name="student_s"))
    else:
        base = TrainConfig(out="runs/teacher")
    state = None

    def layer(cfg: TrainConfig) -> TrainConfig:
        if getattr(args, "config", None):
            cfg = load_config(args.config, cfg)
        cfg = apply_overrides(cfg, overrides, "command line")
        if getattr(args, "model_arg", None):
            cfg.model.args = {**cfg.model.args, **dict(args.model_arg)}
        if "data.unlabeled" in overrides and mode == "train":
            raise UsageError(
                "--unlabeled: frames without masks learn from a teacher; use `segcompress "
                "distill --teacher T.pt --unlabeled DIR`"
            )
        if "data.unlabeled" in overrides and "distill.precompute_teacher" not in overrides:
            # Unlabelled frames learn from cached teacher targets only: --unlabeled asks for them.
            cfg.distill.precompute_teacher = True
        return cfg

    cfg = layer(base)
    if getattr(args, "resume", False) or getattr(args, "resume_with_changes", False):
        saved, state = resume_config(Path(cfg.out))
        cfg = layer(saved)
    if mode == "train" and cfg.distill.teacher is not None:
        raise UsageError("this config names a teacher (distill.teacher); use `segcompress distill`")
    if mode == "distill" and cfg.distill.teacher is None:
        raise UsageError("distill needs --teacher CHECKPOINT (e.g. runs/teacher/best.pt)")
    return cfg, state


def _train(args: argparse.Namespace, mode: str) -> int:
    from segcompress.engine.run import train_run
    from segcompress.engine.signals import RunInterrupted

    cfg, state = _resolve_config(args, mode)
    # Flags are range-checked as they are parsed, so a value out of range came from a file.
    source = getattr(args, "config", None) or ("last.pt" if state else "config")
    try:
        row = train_run(
            cfg,
            resume_state=state,
            overwrite=getattr(args, "overwrite", False),
            allow_changes=getattr(args, "resume_with_changes", False),
            source=source,
        )
    except RunInterrupted as exc:  # Ctrl-C / SIGTERM: a clean stop, not an error
        print(f"segcompress: {exc}", file=sys.stderr)
        return exc.exit_code
    if row:
        miou = row.get("best_miou")
        best = f"best val mIoU {miou:.4f} (epoch {row['best_epoch']})" if miou else "no evaluation"
        print(f"{mode}: {row['epoch']} epochs done, {best}; run in {cfg.out}")
    return 0


def _add_training_parser(
    subparsers: argparse._SubParsersAction, mode: str, help: str, description: str
) -> argparse.ArgumentParser:
    """The ``mode`` command (train or distill): both take the training flags and run ``_train``.

    argument_default=SUPPRESS: a flag not typed leaves its key out, so it cannot override
    the checkpoint's config or the YAML file (see the module docstring)."""
    parser = subparsers.add_parser(
        mode, help=help, description=description, argument_default=argparse.SUPPRESS
    )
    _add_training_args(parser)
    parser.set_defaults(func=lambda args: _train(args, mode))
    return parser


def register(subparsers: argparse._SubParsersAction) -> None:
    _add_training_parser(
        subparsers,
        "train",
        help="train a model (default: the teacher)",
        description="Train a segmentation model. Flags override --config values.",
    )
    distill = _add_training_parser(
        subparsers,
        "distill",
        help="distil a trained teacher into a student",
        description="Train a student with knowledge distillation from a teacher checkpoint.",
    )
    add_config_flags(distill.add_argument_group("distillation"), DistillConfig, prefix="distill.")
