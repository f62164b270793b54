"""``segcompress demo``: the whole pipeline end to end on offline synthetic data, then a report.

Stages (in order): data, teacher, student-scratch, student-kd, evaluate (``stages``), export,
quantize, benchmark, report (``deploy_stages``), run by a small generic runner (``runner``) that
records in ``{out}/stages/{stage}.json`` what each stage ran with and the SHA-256 of every file
it wrote.
A re-run skips a stage only when its settings and its inputs' hashes are unchanged, every output
still has its recorded hash and the stage's own check passes (a checkpoint loads and holds the
expected number of epochs, an ONNX file parses, a JSON report input parses). Anything else runs
the stage again, and everything downstream of a changed file with it. The three trainings run
from config files in ``{out}/configs/``; the sizes, epochs and the distillation recipe are in
``budget``.

The student trained alone (stage ``student-scratch``, on the labels only) and the distilled
student start from the same ImageNet weights and get the same budget, seed and data, so the
distillation gain in the report is the teacher's, like for like (one seed, one small validation
split: read it as an indication, not a benchmark). The teacher starts from ImageNet too.
"""

from __future__ import annotations

from segcompress.demo.budget import DEFAULT_BUDGET, QUICK_BUDGET, DemoBudget
from segcompress.demo.deploy_stages import STAGE_TITLES, STAGES
from segcompress.demo.pipeline import Demo, run_demo
from segcompress.demo.stages import RUNS, train_command

__all__ = [
    "DEFAULT_BUDGET",
    "QUICK_BUDGET",
    "RUNS",
    "STAGES",
    "STAGE_TITLES",
    "Demo",
    "DemoBudget",
    "run_demo",
    "train_command",
]
