"""Run configuration: plain nested dataclasses, read from YAML, overridden by flags, saved per run.

Precedence is defaults < YAML file < command-line flags. The YAML is checked strictly: an unknown
key or a value of the wrong type is a ``UsageError`` naming the key and the file, because a typo
in a config silently falling back to a default wastes a whole training run.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from segcompress.errors import UsageError

__all__ = [
    "KD_TERMS",
    "LOGIT_TERMS",
    "AugmentConfig",
    "DataConfig",
    "DistillConfig",
    "LossConfig",
    "ModelConfig",
    "OptimConfig",
    "TrainConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "recipe_changes",
    "save_config",
    "validate_config",
]


@dataclass
class DataConfig:
    """Where the dataset is, how to read it and how to batch it."""

    root: str | None = None
    format: str | None = None
    level: int = 3
    void_as_class: bool = False
    classes: str | None = None
    images: str | None = None
    masks: str | None = None
    image_suffix: str = ""
    mask_suffix: str = ""
    holdout: str | None = None
    unlabeled: list[str] = field(default_factory=list)  # folders of frames without masks
    mask_kind: str | None = None  # index or rgb; None: detected
    img_size: tuple[int, int] = (128, 128)
    train_split: str = "train"
    val_split: str = "val"
    workers: int = 0
    skip_bad: bool = False


@dataclass
class AugmentConfig:
    """Training augmentation; the defaults suit driving scenes (no vertical flips).

    Hue jitter is off by default: in driving scenes hue carries class evidence (sky, vegetation,
    lane paint), and its RGB->HSV round trip was half the cost of a cached training sample.
    ``scale: [1, 1]`` turns random scale/crop off. ``mix`` mixes pairs of a batch (``cutmix``
    boxes or ``classmix`` classes, each sample with probability ``mix_prob``); with cached
    teacher targets the targets are mixed with the same mask.
    """

    scale: tuple[float, float] = (0.5, 2.0)
    hflip: float = 0.5
    brightness: float = 0.3
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.0
    haze: float = 0.0  # probability of adding haze
    mix: str = "none"
    mix_prob: float = 0.5


@dataclass
class ModelConfig:
    """A registry name and its constructor arguments (``num_classes`` comes from the data)."""

    name: str = "teacher"
    args: dict[str, Any] = field(default_factory=dict)
    # Start the encoder from ImageNet (models with ``encoder=...``); a training-time choice.
    pretrained: bool = False


@dataclass
class OptimConfig:
    """Optimizer and per-step learning-rate schedule (linear warm-up, then cosine or poly decay)."""

    name: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    poly_power: float = 0.9
    grad_clip: float | None = 1.0
    # The pretrained encoder's learning rate as a multiple of ``lr``.
    encoder_lr_mult: float = 1.0


@dataclass
class LossConfig:
    """Weights of the segmentation loss terms and how classes are weighted in cross-entropy."""

    ce: float = 1.0
    dice: float = 1.0
    focal: float = 0.0
    lovasz: float = 0.0
    focal_gamma: float = 2.0
    aux: float = 0.4
    class_weights: str = "none"


@dataclass
class DistillConfig:
    """Knowledge distillation: the teacher checkpoint, which KD terms to use and their weights.

    ``kd`` names the terms (``kl`` pixel KD, ``cwd`` channel-wise, ``dist`` DIST's Pearson
    correlations, ``feat`` features through adapters, ``at`` attention transfer); a term's
    ``lambda_*`` is used only when it is named. ``precompute_teacher`` runs the teacher once per
    training image before training instead of at every step (logit terms only); its cached
    logits then follow each sample's scale, crop, flip and mixing. They are the average over
    the mirror (``tta_flip``) and the ``tta_scales`` views, stored at ``1 / target_stride`` of
    the image size. ``teacher_size`` lets the teacher see the frames at another size than the
    student (e.g. the full resolution it was trained at; its logits are shrunk to the student's
    size). ``ensemble`` names more teacher checkpoints whose logits are averaged with
    ``teacher``'s (logit terms only).
    """

    teacher: str | None = None
    ensemble: list[str] = field(default_factory=list)  # more teachers averaged with `teacher`
    # chosen on the IDD-Lite holdout at convergence (BENCHMARKS.md, "IDD-Lite at convergence")
    kd: list[str] = field(default_factory=lambda: ["dist"])
    temperature: float = 4.0
    cwd_tau: float = 4.0
    dist_tau: float = 1.0
    lambda_kd: float = 1.0
    lambda_cwd: float = 3.0
    lambda_dist: float = 1.0
    lambda_feat: float = 1.0
    lambda_at: float = 1.0
    feature_loss: str = "mse"
    precompute_teacher: bool = False
    tta_scales: list[float] = field(default_factory=lambda: [1.0])
    tta_flip: bool = True
    target_stride: int = 1
    teacher_size: tuple[int, int] | None = None  # None: the student's data.img_size


@dataclass
class TrainConfig:
    """Everything one training (or distillation) run needs; saved as ``{out}/config.yaml``."""

    out: str = "runs/train"
    threads: int | None = None  # CPU threads of this run (None: torch's default, every core)
    epochs: int = 150
    batch: int = 8
    eval_every: int = 1
    patience: int = 0
    amp: str = "auto"
    device: str = "auto"
    seed: int = 0
    deterministic: bool = False
    sync_bn: bool = False
    channels_last: bool = True
    progress: bool = True
    samples: int = 8
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)


CHOICES = {
    "amp": ("auto", "none", "bf16", "fp16"),
    "optim.name": ("adamw", "sgd"),
    "optim.schedule": ("cosine", "poly", "constant"),
    "loss.class_weights": ("none", "median-freq", "inverse-log"),
    "distill.feature_loss": ("mse", "cosine"),
    "augment.mix": ("none", "cutmix", "classmix"),
}
# Names of the KD terms on the command line -> the DistillConfig weight each one switches on.
KD_TERMS = {
    "kl": "lambda_kd",
    "cwd": "lambda_cwd",
    "dist": "lambda_dist",
    "feat": "lambda_feat",
    "at": "lambda_at",
}
# Terms that need only the teacher's logits, which can therefore be cached.
LOGIT_TERMS = ("kl", "cwd", "dist")


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _shown(key: str) -> str:
    """A key as error messages print it: quoted when it holds a newline or control character,
    so that the message stays on one line."""
    return key if key.isprintable() else repr(key)


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """Check ``value`` against the type hint; returns it converted (lists to tuples etc.)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    bad = UsageError(f"{source}: {key} must be {_type_name(hint)}, got {value!r}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise UsageError(f"{source}: {key} must be a mapping, got {value!r}")
        return config_from_dict(value, source, cls=hint, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, source)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad
        return value
    if origin is tuple:
        # A size: one number means square, two mean (height, width).
        items = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, (list, tuple)) or len(items) != len(args):
            raise bad
        return tuple(_coerce(v, a, key, source) for v, a in zip(items, args, strict=True))
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad
        return [_coerce(v, args[0], key, source) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return {
            _coerce(k, args[0], key, source): _coerce(v, args[1], _shown(f"{key}.{k}"), source)
            for k, v in value.items()
        }
    raise TypeError(f"config field {key} has an unsupported type {hint}")


def config_from_dict(
    data: dict[str, Any], source: str, *, cls: type = TrainConfig, prefix: str = ""
) -> Any:
    """Build a config dataclass from a (possibly partial) nested dict, checking keys and types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted((k for k in data if k not in names), key=str)
    if unknown:
        shown = _shown(f"{prefix}{unknown[0]}")
        raise UsageError(f"{source}: unknown key {shown} (known: {', '.join(sorted(names))})")
    values = {k: _coerce(v, hints[k], f"{prefix}{k}", source) for k, v in data.items()}
    return cls(**values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain types only (tuples become lists), for YAML files and checkpoints."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(cfg))


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "args":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """Read a YAML config over ``base`` (defaults when omitted); unknown keys are refused."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        # PyYAML's own message spans several lines; keep the problem and where it is.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UsageError(f"{path}: not valid YAML ({problem}{where}); fix the file") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a config file must be a mapping of keys to values")
    config_from_dict(data, str(path))  # checks keys and types against the file's own name
    merged = _merge(config_to_dict(base or TrainConfig()), data)
    return config_from_dict(merged, str(path))


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """Apply dotted-key overrides (``{"optim.lr": 0.01}``), checked like the YAML file."""
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config_from_dict(_merge(config_to_dict(cfg), nested), source)


# Keys a resumed run may change: how long, where and how fast it runs, not what it trains.
# The teacher's path may move; its content is compared on resume (SHA-256) instead.
RESUME_FREE_KEYS = frozenset(
    {
        "out",
        "threads",
        "epochs",
        "eval_every",
        "patience",
        "device",
        "progress",
        "samples",
        "data.workers",
        "distill.teacher",
        "distill.ensemble",
    }
)


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def recipe_changes(
    saved: TrainConfig | dict[str, Any], new: TrainConfig | dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(key, saved value, new value) for every key that changes what a resumed run trains:
    everything but :data:`RESUME_FREE_KEYS` (a key one side lacks has the value None).
    Configs or plain nested dicts (e.g. ``{"model": {"args": ...}}``)."""
    before, after = (_flat(c if isinstance(c, dict) else config_to_dict(c)) for c in (saved, new))
    return [
        (key, before.get(key), after.get(key))
        for key in sorted(before.keys() | after.keys())
        if key not in RESUME_FREE_KEYS and before.get(key) != after.get(key)
    ]


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write ``cfg`` as YAML atomically: a kill mid-write leaves the old file or the new one."""
    from segcompress.fileio import atomic_write_bytes

    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    atomic_write_bytes(path, text.encode("utf-8"))


def validate_config(cfg: TrainConfig, source: str = "config") -> None:
    """Range checks a type cannot express; each failure names the key."""

    def need(ok: bool, key: str, what: str, value: Any) -> None:
        if not ok:
            raise UsageError(f"{source}: {key} must be {what}, got {value!r}")

    for key in ("epochs", "batch", "eval_every"):
        need(getattr(cfg, key) > 0, key, "a positive integer", getattr(cfg, key))
    need(cfg.patience >= 0, "patience", "0 (off) or a positive integer", cfg.patience)
    need(cfg.samples >= 0, "samples", "0 or more", cfg.samples)
    need(cfg.data.workers >= 0, "data.workers", "0 or more", cfg.data.workers)
    h, w = cfg.data.img_size
    need(h > 0 and w > 0, "data.img_size", "positive", [h, w])
    a = cfg.augment
    low, high = a.scale
    need(0 < low <= high, "augment.scale", "[low, high] with 0 < low <= high", [low, high])
    for key in ("hflip", "haze"):
        need(
            0 <= getattr(a, key) <= 1, f"augment.{key}", "a probability in [0, 1]", getattr(a, key)
        )
    for key in ("brightness", "contrast", "saturation"):
        need(getattr(a, key) >= 0, f"augment.{key}", "0 or more", getattr(a, key))
    need(0 <= a.hue <= 0.5, "augment.hue", "in [0, 0.5]", a.hue)
    o = cfg.optim
    need(math.isfinite(o.lr) and o.lr > 0, "optim.lr", "a positive number", o.lr)
    need(o.weight_decay >= 0, "optim.weight_decay", "0 or more", o.weight_decay)
    need(
        math.isfinite(o.encoder_lr_mult) and o.encoder_lr_mult > 0,
        "optim.encoder_lr_mult",
        "a positive number",
        o.encoder_lr_mult,
    )
    need(o.warmup_epochs >= 0, "optim.warmup_epochs", "0 or more", o.warmup_epochs)
    need(0 <= o.min_lr_ratio <= 1, "optim.min_lr_ratio", "in [0, 1]", o.min_lr_ratio)
    need(o.grad_clip is None or o.grad_clip > 0, "optim.grad_clip", "positive or null", o.grad_clip)
    need(cfg.distill.temperature > 0, "distill.temperature", "positive", cfg.distill.temperature)
    need(cfg.distill.cwd_tau > 0, "distill.cwd_tau", "positive", cfg.distill.cwd_tau)
    for section in ("loss", "distill"):
        for key, value in config_to_dict(getattr(cfg, section)).items():
            if key in ("ce", "dice", "focal", "lovasz", "aux") or key.startswith("lambda_"):
                need(value >= 0, f"{section}.{key}", "0 or more", value)
    unknown_kd = sorted(set(cfg.distill.kd) - set(KD_TERMS))
    need(not unknown_kd, "distill.kd", f"a list of {', '.join(KD_TERMS)}", cfg.distill.kd)
    need(cfg.threads is None or cfg.threads > 0, "threads", "a positive integer", cfg.threads)
    need(0 <= a.mix_prob <= 1, "augment.mix_prob", "a probability in [0, 1]", a.mix_prob)
    kd = cfg.distill
    need(kd.dist_tau > 0, "distill.dist_tau", "positive", kd.dist_tau)
    need(kd.target_stride >= 1, "distill.target_stride", "1 or more", kd.target_stride)
    if kd.teacher_size is not None:
        need(min(kd.teacher_size) > 0, "distill.teacher_size", "positive", list(kd.teacher_size))
        need(
            kd.precompute_teacher,
            "distill.teacher_size",
            "null without distill.precompute_teacher (a live teacher sees the student's "
            "augmented batch; a cached one sees each frame at teacher_size)",
            list(kd.teacher_size),
        )
    need(
        bool(kd.tta_scales) and all(0 < s <= 4 for s in kd.tta_scales),
        "distill.tta_scales",
        "a list of scales in (0, 4]",
        kd.tta_scales,
    )
    need(
        not kd.ensemble or not set(kd.kd) - set(LOGIT_TERMS),
        "distill.kd",
        f"{', '.join(LOGIT_TERMS)} with an ensemble of teachers (it has no features)",
        kd.kd,
    )
    need(
        not cfg.data.unlabeled or (kd.teacher is not None and kd.precompute_teacher),
        "data.unlabeled",
        "empty without distill.teacher and distill.precompute_teacher (unlabelled frames learn "
        "from cached teacher targets only)",
        cfg.data.unlabeled,
    )
    if kd.precompute_teacher:
        need(
            kd.teacher is not None,
            "distill.precompute_teacher",
            "false without distill.teacher (a teacher checkpoint to precompute)",
            kd.precompute_teacher,
        )
        need(
            set(kd.kd) <= set(LOGIT_TERMS),
            "distill.kd",
            f"{', '.join(LOGIT_TERMS)} with precompute_teacher (feature terms need the live "
            "teacher)",
            kd.kd,
        )
    for dotted, choices in CHOICES.items():
        value: Any = cfg
        for part in dotted.split("."):
            value = getattr(value, part)
        need(value in choices, dotted, f"one of {', '.join(choices)}", value)
