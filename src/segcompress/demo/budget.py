"""The demo's sizes and training budgets: the full run and the ``--quick`` smoke run.

The distillation recipe of the ``student-kd`` stage lives here alone, in ``DemoBudget.distill``
(``DistillConfig`` keys) and ``DemoBudget.augment`` (``AugmentConfig`` keys, applied to every
training stage so that both students still see the same data); both go straight into the
stage's ``TrainConfig``, checked key by key like a YAML file. The quick budget is the full one
made smaller, so it always distils with the same recipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

__all__ = ["DEFAULT_BUDGET", "QUICK_BUDGET", "DemoBudget"]


@dataclass(frozen=True)
class DemoBudget:
    """Sizes and training budget of one demo run (data, models, epochs, benchmark runs).

    ``distill`` overrides ``DistillConfig`` for the distilled student (the teacher checkpoint
    is filled in by the demo); ``augment`` overrides ``AugmentConfig`` for every model trained.
    """

    n_train: int
    n_val: int
    synth_size: tuple[int, int]
    img_size: tuple[int, int]
    teacher: str
    teacher_args: dict[str, Any]
    student: str
    teacher_epochs: int
    epochs: int
    batch: int
    lr: float
    warmup_epochs: float
    distill: dict[str, Any]
    seed: int
    vis_rows: int
    calib_n: int
    bench_runs: int
    bench_warmup: int
    note: str = ""
    student_args: dict[str, Any] = field(default_factory=dict)
    augment: dict[str, Any] = field(default_factory=dict)


# Sized for 3-10 minutes on 2 CPU cores, quiet or busy (measured; see README). The teacher is
# the project's architecture made lighter (base_width 16, skip_channels 8: 1.4 M parameters, 8x
# the student's FLOPs), since at full size it trains at only ~1-2 img/s on a busy machine. The
# teacher gets more epochs than the students, as a teacher would in practice; both students get
# the same.
DEFAULT_BUDGET = DemoBudget(
    n_train=96,
    n_val=32,
    synth_size=(128, 256),
    img_size=(64, 128),
    teacher="teacher",
    teacher_args={"base_width": 16, "skip_channels": 8},
    student="student_s",
    teacher_epochs=16,
    epochs=8,
    batch=8,
    lr=3e-3,
    warmup_epochs=0.5,
    distill={"kd": ["kl"], "temperature": 4.0, "lambda_kd": 1.0},  # pixel KD on the logits
    seed=0,
    vis_rows=4,
    calib_n=32,
    bench_runs=30,
    bench_warmup=3,
    note="teacher made lighter (base_width 16, skip_channels 8) to fit the CPU budget",
)
# A smoke run (tests): the same models and recipe on tiny data for one epoch, with a narrow
# teacher; its numbers mean nothing.
QUICK_BUDGET = replace(
    DEFAULT_BUDGET,
    n_train=16,
    n_val=8,
    synth_size=(64, 128),
    img_size=(32, 64),
    teacher_args={"base_width": 8, "skip_channels": 8},
    teacher_epochs=1,
    epochs=1,
    warmup_epochs=0.0,
    vis_rows=2,
    calib_n=8,
    bench_runs=5,
    bench_warmup=1,
    note="--quick smoke run: 16 training images, 1 epoch, teacher at base_width 8 and "
    "skip_channels 8; the numbers only show that every stage works",
)
