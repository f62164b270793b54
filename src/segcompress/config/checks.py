"""The range checks a type cannot express, run once per run (``engine.run.train_run``)."""

from __future__ import annotations

from typing import Any

from segcompress.config.fields import config_fields
from segcompress.config.schema import KD_TERMS, LOGIT_TERMS, TrainConfig
from segcompress.errors import UsageError

__all__ = ["validate_config"]


def validate_config(cfg: TrainConfig, source: str = "config") -> None:
    """Range checks a type cannot express: each field's choices and :class:`Check`, then the
    rules that tie fields together; each failure names the key."""

    def need(ok: bool, key: str, what: str, value: Any) -> None:
        if not ok:
            shown = list(value) if isinstance(value, tuple) else value
            raise UsageError(f"{source}: {key} must be {what}, got {shown!r}")

    for key, f in config_fields(TrainConfig):
        value: Any = cfg
        for part in key.split("."):
            value = getattr(value, part)
        choices, check = f.metadata.get("choices"), f.metadata.get("check")
        if choices is not None and value is not None:
            need(value in choices, key, f"one of {', '.join(map(str, choices))}", value)
        if check is not None and value is not None:
            need(check.ok(value), key, check.what, value)
    low, high = cfg.augment.scale
    need(0 < low <= high, "augment.scale", "[low, high] with 0 < low <= high", [low, high])
    kd = cfg.distill
    unknown_kd = sorted(set(kd.kd) - set(KD_TERMS))
    need(not unknown_kd, "distill.kd", f"a list of {', '.join(KD_TERMS)}", kd.kd)
    if kd.teacher_size is not None:
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
