"""What the demo report says: its rows, lead, findings, captions and table cells.

Rendering only: the numbers come in measured; this computes nothing but differences and ratios
of them, and states the distillation result whichever way it goes.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CLASS_HEADER",
    "DETAIL_ROWS",
    "FIGURES",
    "INT8_ROWS",
    "REPORT_VERSION",
    "ROWS",
    "SUMMARY_HEADER",
    "bench_rows",
    "class_rows",
    "command_blocks",
    "findings",
    "fixes_caption",
    "lead",
    "mean_score",
    "setup_lines",
    "stage_rows",
    "summary_rows",
]

REPORT_VERSION = 2
# Summary rows: key (evaluation and benchmark row) and label.
ROWS = (
    ("teacher", "Teacher"),
    ("student_scratch", "Student alone"),
    ("student_kd", "Student distilled"),
    ("student_kd_onnx", "Distilled, ONNX Runtime FP32"),
    ("student_kd_int8", "Distilled, ONNX Runtime INT8"),
    ("student_kd_onnx_openvino", "Distilled, OpenVINO FP32"),
    ("student_kd_int8_openvino", "Distilled, OpenVINO INT8"),
)
# The INT8 rows, one per runtime; the lead quotes the fastest.
INT8_ROWS = ("student_kd_int8", "student_kd_int8_openvino")
# Per-class tables and confusion matrices are drawn for these rows.
DETAIL_ROWS = ("teacher", "student_kd")
FIGURES = ("samples", "fixes", "curves", "tradeoff", "confusion_teacher", "confusion_student_kd")


# -- numbers -------------------------------------------------------------------------------------
def mean_score(evaluation: dict[str, Any], key: str) -> float | None:
    return evaluation["scores"]["mean"][key]


def bench_rows(inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in inputs["benchmark"]["rows"]}


def _pts(value: float) -> str:
    return f"{100 * value:+.2f}"


def _times(value: float) -> str:
    return f"{value:.1f}x"


def _faster(before_ms: float, after_ms: float) -> str:
    """``after`` against ``before`` in words: ``3.2x faster`` or ``1.4x slower``."""
    ratio = before_ms / after_ms
    return f"{_times(ratio)} faster" if ratio >= 1 else f"{_times(1 / ratio)} slower"


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def lead(inputs: dict[str, Any]) -> list[str]:
    """The report's first lines, for a newcomer: what was compressed, by how much, what it kept,
    what distillation added, and that the demo's budget is short (not convergence)."""
    ev, bench, b, d = inputs["evaluations"], bench_rows(inputs), inputs["budget"], inputs["data"]
    size = "x".join(str(v) for v in b["img_size"])
    t, s = bench["teacher"], bench["student_kd"]
    int8 = min(
        (k for k in INT8_ROWS if k in bench and k in ev), key=lambda k: bench[k]["latency_p50_ms"]
    )
    q = bench[int8]
    teacher, scratch, kd, kept = (
        mean_score(ev[k], "iou") for k in ("teacher", "student_scratch", "student_kd", int8)
    )
    n_unlabeled = d.get("n_unlabeled", 0)
    frames = f"{d['n_train']} labelled training images"
    if n_unlabeled:
        frames += f" and {n_unlabeled} unlabelled frames (the teacher's outputs their only labels)"
    return [
        f"What was compressed: the teacher `{b['teacher']}` ({t['params'] / 1e6:.2f} M "
        f"parameters, {t['flops'] / 1e9:.2f} GFLOPs per {size} frame) into the student "
        f"`{b['student']}` ({s['params'] / 1e6:.2f} M, {s['flops'] / 1e9:.3f} GFLOPs): "
        f"{_times(t['params'] / s['params'])} fewer parameters, "
        f"{_times(t['flops'] / s['flops'])} fewer FLOPs. Shipped as an INT8 ONNX file of "
        f"{q['file_mb']:.2f} MB ({_times(t['file_mb'] / q['file_mb'])} smaller than the "
        f"teacher's weights), the student labels a frame in {q['latency_p50_ms']:.2f} ms "
        f"({q['backend']}), {_faster(t['latency_p50_ms'], q['latency_p50_ms'])} than the "
        f"teacher in PyTorch ({t['latency_p50_ms']:.2f} ms) on this CPU.",
        f"What it kept: {100 * kept:.2f} mIoU in INT8, {100 * kept / teacher:.0f}% of the "
        f"teacher's {100 * teacher:.2f} (the student trained alone: {100 * scratch:.2f}).",
        f"What distillation added: {_pts(kd - scratch)} mIoU points over the same student "
        f"trained alone ({100 * kd:.2f} vs {100 * scratch:.2f}). Both students started "
        f"{_start(b.get('student_pretrained'))}; the distilled one learnt from the teacher on "
        f"{frames}, the one trained alone had the labelled images only; both ran "
        f"{_epochs(b['epochs'])} with the same augmentation and seed.",
        f"Measured at the demo's short budget ({_epochs(b['epochs'])} per student, one seed, "
        f"{d['n_val']} validation images), not at convergence: at short budgets a "
        "distilled student mostly converges faster than one trained alone, and the gap "
        "narrows as both train longer. BENCHMARKS.md measures the gain at convergence on real "
        "IDD imagery.",
    ]


def findings(inputs: dict[str, Any]) -> list[str]:
    """The report's plain-language results: distillation gain, student/teacher ratios, INT8."""
    ev, bench = inputs["evaluations"], bench_rows(inputs)
    n_val = inputs["data"]["n_val"]
    teacher, scratch, kd = (
        mean_score(ev[k], "iou") for k in ("teacher", "student_scratch", "student_kd")
    )
    gain = kd - scratch
    points = round(100 * gain, 2)
    if points > 0:
        verdict = f"Distillation helped at this budget: {_pts(gain)} mIoU points"
    elif points < 0:
        verdict = f"Distillation did not help at this budget: {_pts(gain)} mIoU points"
    else:
        verdict = "Distillation made no difference at this budget: +0.00 mIoU points"
    verdict += " for the distilled student over the same student trained alone"
    n_unlabeled = inputs["data"].get("n_unlabeled", 0)
    extra = f", plus {n_unlabeled} unlabelled frames for the distilled one" if n_unlabeled else ""
    lines = [
        f"{verdict} ({100 * kd:.2f} vs {100 * scratch:.2f}; same labelled images, epochs and "
        f"seed{extra}; one seed and {n_val} validation images, so differences of a few points "
        "are within noise)."
    ]
    if teacher <= max(kd, scratch):
        lines.append(
            f"The teacher ({100 * teacher:.2f} mIoU) is not better than the students at this "
            "budget: a teacher trained this briefly has little to pass on."
        )
    t, s = bench["teacher"], bench["student_kd"]
    lines.append(
        f"Distilled student / teacher: accuracy {kd / teacher:.2f}x (mIoU), FLOPs "
        f"{s['flops'] / t['flops']:.3f}x, parameters {s['params'] / t['params']:.3f}x, "
        f"latency {s['latency_p50_ms'] / t['latency_p50_ms']:.2f}x (both PyTorch FP32)."
    )
    for suffix, runtime in (("", "ONNX Runtime"), ("_openvino", "OpenVINO")):
        f32_key, int8_key = f"student_kd_onnx{suffix}", f"student_kd_int8{suffix}"
        if not all(k in bench and k in ev for k in (f32_key, int8_key)):
            continue
        f32, q = bench[f32_key], bench[int8_key]
        delta = mean_score(ev[int8_key], "iou") - mean_score(ev[f32_key], "iou")
        speed = f32["latency_p50_ms"] / q["latency_p50_ms"]
        lines.append(
            f"INT8 vs FP32 ({runtime}): {_pts(delta)} mIoU points, "
            f"{speed:.2f}x {'faster' if speed >= 1 else 'speed (slower)'}, file "
            f"{f32['file_mb'] / q['file_mb']:.1f}x smaller; INT8 student latency is "
            f"{q['latency_p50_ms'] / t['latency_p50_ms']:.3f}x the teacher's."
        )
    return lines


def fixes_caption(inputs: dict[str, Any]) -> str:
    """What the ``fixes`` figure shows, with each row's per-image gain."""
    gains = ", ".join(_pts(g) for g in inputs["samples"]["fix_gain"])
    return (
        "The validation images where the distilled student's per-image mIoU gained most over "
        f"the student trained alone's, one row each (gain in mIoU points, top to bottom: {gains})."
    )


# -- tables --------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summary_rows(inputs: dict[str, Any]) -> list[list[str]]:
    """Model | params | GFLOPs | size MB | latency ms (backend) | mIoU | mDice, as text cells."""
    bench, ev = bench_rows(inputs), inputs["evaluations"]
    rows = []
    for key, label in ROWS:
        if key not in bench or key not in ev:
            continue
        b = bench[key]
        params = "–" if b["params"] is None else f"{b['params'] / 1e6:.3f} M"
        flops = "–" if b["flops"] is None else f"{b['flops'] / 1e9:.3f}"
        rows.append(
            [
                label,
                params,
                flops,
                f"{b['file_mb']:.2f}",
                f"{b['latency_p50_ms']:.2f} ({b['backend']})",
                _fmt(mean_score(ev[key], "iou")),
                _fmt(mean_score(ev[key], "dice")),
            ]
        )
    return rows


SUMMARY_HEADER = ("Model", "Params", "GFLOPs", "Size MB", "Latency ms (backend)", "mIoU", "mDice")
CLASS_HEADER = ("Class", "Dice", "IoU", "Precision", "Recall")


def class_rows(evaluation: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """Per-class rows and the Mean row (absent classes: dashes, left out of the means)."""
    keys = ("dice", "iou", "precision", "recall")
    scores = evaluation["scores"]
    rows = [[f"{c['name']} ({c['id']})", *(_fmt(c[k]) for k in keys)] for c in scores["classes"]]
    return rows, ["Mean", *(_fmt(scores["mean"][k]) for k in keys)]


def _start(pretrained: bool | None) -> str:
    """How a model's weights started, so the report never hides an ImageNet start."""
    return "from ImageNet weights" if pretrained else "from random weights"


def stage_rows(inputs: dict[str, Any]) -> list[list[str]]:
    return [[stage, f"{seconds:.1f}"] for stage, seconds in inputs["stages"].items()]


def setup_lines(inputs: dict[str, Any]) -> list[str]:
    b, m, d = inputs["budget"], inputs["benchmark"]["machine"], inputs["data"]
    size = "x".join(str(v) for v in b["img_size"])
    teacher_args = f"{b['teacher_args']} " if b["teacher_args"] else ""
    lines = [
        f"Data: synthetic IDD-layout driving scenes (offline stand-in for IDD, 26 level-3 "
        f"classes), {d['n_train']} training and {d['n_val']} validation images"
        + (f" and {d['n_unlabeled']} frames without masks" if d.get("n_unlabeled") else "")
        + f" rendered at {d['size'][0]}x{d['size'][1]}, trained and evaluated at {size}; "
        "pictures at the rendered size, the predictions' logits upsampled to it.",
        f"Training: {b['teacher_epochs']} epochs for the teacher, {b['epochs']} for each "
        f"student, batch {b['batch']}, AdamW lr {b['lr']:g}, seed "
        f"{b['seed']}; teacher `{b['teacher']}` {teacher_args}started "
        f"{_start(b.get('teacher_pretrained'))}, both students `{b['student']}` started "
        f"{_start(b.get('student_pretrained'))}; KD terms {', '.join(b['kd'])} "
        f"(temperature {b['temperature']:g}).",
        f"Latency: batch 1 at {size}, median of {b['bench_runs']} runs after "
        f"{b['bench_warmup']} warm-up runs, {inputs['benchmark']['rows'][0]['threads']} threads "
        f"on {m['cpu']} ({m['cores']} cores), load average {m['load_average'][0]} before and "
        f"{m.get('load_average_after', ['?'])[0]} after; torch {m['torch']}, onnxruntime "
        f"{m['onnxruntime']}"
        + (f", OpenVINO {m['openvino']}" if m.get("openvino") else "")
        + ". FLOPs = 2 x MAC of conv/matmul of the fused model.",
    ]
    if b.get("note"):
        lines.append(f"Note: {b['note']}.")
    q = inputs["quantize"]
    if q.get("agreement") is not None:
        lines.append(
            f"INT8: static QDQ ({q['method']} calibration on {q['calib_images']} training "
            f"images); argmax agreement with FP32 {100 * q['agreement']:.2f}% on "
            f"{q['agreement_on']}."
        )
    return lines


def command_blocks(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    labels = dict(ROWS)
    labels["data"] = "Dataset"
    return [(labels.get(k, k), "\n".join(v)) for k, v in inputs["commands"].items()]
