"""The demo report: one self-contained ``report.html`` (figures embedded as base64 PNG) and
``report.md`` (figures as files under ``figures/``), from plain inputs the demo gathers.

Rendering only: the numbers come in measured (scores from confusion matrices, latencies from
the benchmark); this module computes nothing but differences and ratios of them, and states the
distillation result whichever way it goes.

Inputs (a dict): ``evaluations`` (row key -> ``{"scores": scores_to_dict(...), "confusion":
[[...]]}``), ``benchmark`` (``{"machine": ..., "rows": [benchmark rows with "key"]}``),
``samples`` (``images`` uint8 [N, H, W, 3], ``gt``/``teacher``/``student_kd`` class ids
[N, H, W]; ``fix_images``/``fix_gt``/``fix_scratch``/``fix_kd`` and ``fix_gain``, the images
where distillation gained most per image), ``curves`` (run -> log rows), ``classes``
(ClassTable dict), ``commands`` (row key -> command lines), ``stages`` (stage -> seconds),
``budget``, ``data``, ``export``, ``quantize``.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from segcompress.data.classes import ClassTable
from segcompress.demo.edge_clip import edge_line
from segcompress.fileio import atomic_write_bytes
from segcompress.viz import save_figure

__all__ = [
    "REPORT_VERSION",
    "ROWS",
    "findings",
    "lead",
    "render_html",
    "render_markdown",
    "write_report",
]

REPORT_VERSION = 2
# Summary rows: key (evaluation and benchmark row) and label.
ROWS = (
    ("teacher", "Teacher"),
    ("student_scratch", "Student from scratch"),
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
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1180px;color:#222;line-height:1.45;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;margin:.6em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 9px}th{background:#f0f3f7}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.mean td{font-weight:bold;background:#fafafa}
img{max-width:100%;border:1px solid #eee}
pre{background:#f6f8fa;padding:.7em;overflow-x:auto;font-size:12.5px;white-space:pre-wrap}
.lead{font-size:1.05em;margin:.5em 0}
.finding{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em 1em}
.side{display:flex;gap:1.5em;flex-wrap:wrap}.side>div{flex:1;min-width:420px}
"""


# -- numbers -------------------------------------------------------------------------------------
def _mean(evaluation: dict[str, Any], key: str) -> float | None:
    return evaluation["scores"]["mean"][key]


def _bench(inputs: dict[str, Any]) -> dict[str, dict[str, Any]]:
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
    ev, bench, b, d = inputs["evaluations"], _bench(inputs), inputs["budget"], inputs["data"]
    size = "x".join(str(v) for v in b["img_size"])
    t, s = bench["teacher"], bench["student_kd"]
    int8 = min(
        (k for k in INT8_ROWS if k in bench and k in ev), key=lambda k: bench[k]["latency_p50_ms"]
    )
    q = bench[int8]
    teacher, scratch, kd, kept = (
        _mean(ev[k], "iou") for k in ("teacher", "student_scratch", "student_kd", int8)
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
        f"trained from scratch ({100 * kd:.2f} vs {100 * scratch:.2f}). The distilled student "
        f"learnt from the teacher on {frames}; the scratch student had the labelled images "
        f"only; both ran {_epochs(b['epochs'])} with the same augmentation and seed.",
        f"Measured at the demo's short budget ({_epochs(b['epochs'])} per student, one seed, "
        f"{d['n_val']} validation images), not at convergence: at short budgets a "
        "distilled student mostly converges faster than one trained alone, and the gap "
        "narrows as both train longer. BENCHMARKS.md measures the gain at convergence on real "
        "IDD imagery.",
    ]


def findings(inputs: dict[str, Any]) -> list[str]:
    """The report's plain-language results: distillation gain, student/teacher ratios, INT8."""
    ev, bench = inputs["evaluations"], _bench(inputs)
    n_val = inputs["data"]["n_val"]
    teacher, scratch, kd = (
        _mean(ev[k], "iou") for k in ("teacher", "student_scratch", "student_kd")
    )
    gain = kd - scratch
    points = round(100 * gain, 2)
    if points > 0:
        verdict = f"Distillation helped at this budget: {_pts(gain)} mIoU points"
    elif points < 0:
        verdict = f"Distillation did not help at this budget: {_pts(gain)} mIoU points"
    else:
        verdict = "Distillation made no difference at this budget: +0.00 mIoU points"
    verdict += " for the distilled student over the same student trained from scratch"
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
        delta = _mean(ev[int8_key], "iou") - _mean(ev[f32_key], "iou")
        speed = f32["latency_p50_ms"] / q["latency_p50_ms"]
        lines.append(
            f"INT8 vs FP32 ({runtime}): {_pts(delta)} mIoU points, "
            f"{speed:.2f}x {'faster' if speed >= 1 else 'speed (slower)'}, file "
            f"{f32['file_mb'] / q['file_mb']:.1f}x smaller; INT8 student latency is "
            f"{q['latency_p50_ms'] / t['latency_p50_ms']:.3f}x the teacher's."
        )
    return lines


# -- figures -------------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _plot_curves(curves: dict[str, list[dict[str, Any]]], path: Path) -> None:
    fig = _figure(11, 3.8)
    loss_ax, miou_ax = fig.subplots(1, 2)
    for run, rows in curves.items():
        loss_ax.plot(
            [r["epoch"] for r in rows], [r.get("train_loss") for r in rows], ".-", label=run
        )
        val = [r for r in rows if r.get("val_miou") is not None]
        miou_ax.plot([r["epoch"] for r in val], [100 * r["val_miou"] for r in val], ".-", label=run)
    loss_ax.set(title="Training loss (KD run: task + distillation)", xlabel="epoch")
    miou_ax.set(title="Validation mIoU (%)", xlabel="epoch")
    for ax in (loss_ax, miou_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, path)


def _plot_tradeoff(inputs: dict[str, Any], path: Path) -> None:
    from matplotlib.ticker import ScalarFormatter

    bench, ev = _bench(inputs), inputs["evaluations"]
    fig = _figure(7, 4.2)
    ax = fig.subplots()
    for i, (key, label) in enumerate(ROWS):
        if key not in bench or key not in ev:
            continue
        x, y = bench[key]["latency_p50_ms"], 100 * _mean(ev[key], "iou")
        ax.scatter([x], [y], s=60, color=f"C{i}", label=f"{label} ({bench[key]['backend']})")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.xaxis.set_minor_formatter(ScalarFormatter())
    ax.set(xlabel="latency p50, ms (batch 1, log scale)", ylabel="val mIoU (%)")
    ax.set_title("Accuracy vs latency")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    save_figure(fig, path)


def _draw_figures(inputs: dict[str, Any], folder: Path) -> dict[str, Path]:
    from segcompress.viz import plot_comparison, plot_confusion

    folder.mkdir(parents=True, exist_ok=True)
    classes = ClassTable.from_dict(inputs["classes"], source="report inputs")
    s = inputs["samples"]
    paths = {name: folder / f"{name}.png" for name in FIGURES}
    grids = {  # figure: image key, mask keys, column titles
        "samples": (
            "images",
            ("gt", "teacher", "student_scratch", "student_kd"),
            ("Teacher", "Student from scratch", "Student distilled"),
        ),
        "fixes": (
            "fix_images",
            ("fix_gt", "fix_scratch", "fix_kd"),
            ("Student from scratch", "Student distilled"),
        ),
    }
    for name, (images, masks, titles) in grids.items():
        plot_comparison(
            list(s[images]),
            [list(m) for m in zip(*(s[k] for k in masks), strict=True)],
            classes,
            paths[name],
            titles=("Input", "Ground Truth", *titles),
        )
    _plot_curves(inputs["curves"], paths["curves"])
    _plot_tradeoff(inputs, paths["tradeoff"])
    for key in DETAIL_ROWS:
        matrix = np.asarray(inputs["evaluations"][key]["confusion"])
        plot_confusion(matrix, classes.names, paths[f"confusion_{key}"])
    return paths


def fixes_caption(inputs: dict[str, Any]) -> str:
    """What the ``fixes`` figure shows, with each row's per-image gain."""
    gains = ", ".join(_pts(g) for g in inputs["samples"]["fix_gain"])
    return (
        "The validation images where the distilled student's per-image mIoU gained most over "
        f"the scratch student's, one row each (gain in mIoU points, top to bottom: {gains})."
    )


# -- tables --------------------------------------------------------------------------------------
def _fmt(value: float | None, digits: int = 4) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def summary_rows(inputs: dict[str, Any]) -> list[list[str]]:
    """Model | params | GFLOPs | size MB | latency ms (backend) | mIoU | mDice, as text cells."""
    bench, ev = _bench(inputs), inputs["evaluations"]
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
                _fmt(_mean(ev[key], "iou")),
                _fmt(_mean(ev[key], "dice")),
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


def _html_table(header: Sequence[str], rows: list[list[str]], mean: list[str] | None = None) -> str:
    def cells(row: Sequence[str], tag: str) -> str:
        out = []
        for i, cell in enumerate(row):
            cls = ' class="num"' if i and tag == "td" else ""
            out.append(f"<{tag}{cls}>{html.escape(cell)}</{tag}>")
        return "".join(out)

    body = [f"<tr>{cells(r, 'td')}</tr>" for r in rows]
    if mean is not None:
        body.append(f'<tr class="mean">{cells(mean, "td")}</tr>')
    head = f"<thead><tr>{cells(header, 'th')}</tr></thead>"
    return f"<table>{head}<tbody>{''.join(body)}</tbody></table>"


def _md_table(header: Sequence[str], rows: list[list[str]], mean: list[str] | None = None) -> str:
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if mean is not None:
        lines.append("| " + " | ".join(f"**{c}**" for c in mean) + " |")
    return "\n".join(lines)


def _stage_rows(inputs: dict[str, Any]) -> list[list[str]]:
    return [[stage, f"{seconds:.1f}"] for stage, seconds in inputs["stages"].items()]


def _setup_lines(inputs: dict[str, Any]) -> list[str]:
    b, m, d = inputs["budget"], inputs["benchmark"]["machine"], inputs["data"]
    size = "x".join(str(v) for v in b["img_size"])
    lines = [
        f"Data: synthetic IDD-layout driving scenes (offline stand-in for IDD, 26 level-3 "
        f"classes), {d['n_train']} training and {d['n_val']} validation images"
        + (f" and {d['n_unlabeled']} frames without masks" if d.get("n_unlabeled") else "")
        + f" rendered at {d['size'][0]}x{d['size'][1]}, trained and evaluated at {size}; "
        "pictures at the rendered size, the predictions' logits upsampled to it.",
        f"Training: {b['teacher_epochs']} epochs for the teacher, {b['epochs']} for each "
        f"student, batch {b['batch']}, AdamW lr {b['lr']:g}, seed "
        f"{b['seed']}; teacher `{b['teacher']}` {b['teacher_args'] or ''}, student "
        f"`{b['student']}`; KD terms {', '.join(b['kd'])} (temperature {b['temperature']:g}).",
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


def _command_blocks(inputs: dict[str, Any]) -> list[tuple[str, str]]:
    labels = dict(ROWS)
    labels["data"] = "Dataset"
    return [(labels.get(k, k), "\n".join(v)) for k, v in inputs["commands"].items()]


# -- documents -----------------------------------------------------------------------------------
def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _edge_html(inputs: dict[str, Any]) -> list[str]:
    strip = _data_uri(Path(inputs["edge"]["strip"]))
    line = html.escape(edge_line(inputs))
    return ["<h2>On the vehicle</h2>", f"<p>{line}</p>", f'<img src="{strip}" alt="overlay">']


def render_html(inputs: dict[str, Any], figures: dict[str, Path]) -> str:
    """The self-contained HTML report (every figure inlined as a data: URI)."""
    esc = html.escape

    def img(name: str, alt: str) -> str:
        return f'<img src="{_data_uri(figures[name])}" alt="{esc(alt)}">'

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>segcompress demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>segcompress demo report</h1>",
        *(f'<p class="lead">{esc(line)}</p>' for line in lead(inputs)),
        "<h2>Results</h2>",
        *(f'<p class="finding">{esc(line)}</p>' for line in findings(inputs)),
        _html_table(SUMMARY_HEADER, summary_rows(inputs)),
        "<ul>",
        *(f"<li>{esc(line)}</li>" for line in _setup_lines(inputs)),
        "</ul>",
        "<h2>Predictions</h2>",
        img("samples", "Input, ground truth, teacher, scratch and distilled student predictions"),
        "<h2>Where distillation helped</h2>",
        f"<p>{esc(fixes_caption(inputs))}</p>",
        img("fixes", "Input, ground truth, scratch and distilled student predictions"),
        "<h2>Per-class scores (validation)</h2>",
        '<div class="side">',
    ]
    for key in DETAIL_ROWS:
        rows, mean = class_rows(inputs["evaluations"][key])
        parts += [f"<div><h3>{esc(dict(ROWS)[key])}</h3>", _html_table(CLASS_HEADER, rows, mean)]
        parts.append("</div>")
    parts += [
        "</div>",
        "<p>Means are over classes present in the validation ground truth; absent classes "
        "(–) are left out.</p>",
        "<h2>Training curves</h2>",
        img("curves", "Training loss and validation mIoU per epoch"),
        "<h2>Accuracy vs latency</h2>",
        img("tradeoff", "Validation mIoU against latency"),
        *(_edge_html(inputs) if "edge" in inputs else []),
        "<h2>Confusion matrices</h2>",
        '<div class="side">',
        *(
            f"<div><h3>{esc(dict(ROWS)[k])}</h3>{img(f'confusion_{k}', 'confusion matrix')}</div>"
            for k in DETAIL_ROWS
        ),
        "</div>",
        "<h2>Reproduce</h2>",
        "<p>The equivalent commands, run from the folder the demo ran in:</p>",
    ]
    for label, block in _command_blocks(inputs):
        parts += [f"<h3>{esc(label)}</h3>", f"<pre>{esc(block)}</pre>"]
    parts += [
        "<h2>Stage timings</h2>",
        _html_table(("Stage", "Seconds"), _stage_rows(inputs)),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def render_markdown(inputs: dict[str, Any], figures: dict[str, Path], base: Path) -> str:
    """The Markdown report; figures are linked relative to ``base`` (the report's folder)."""

    def img(name: str, alt: str) -> str:
        return f"![{alt}]({figures[name].relative_to(base).as_posix()})"

    parts = ["# segcompress demo report", ""]
    parts += [f"{line}\n" for line in lead(inputs)]
    parts += ["## Results", ""]
    parts += [f"> {line}\n" for line in findings(inputs)]
    parts += [_md_table(SUMMARY_HEADER, summary_rows(inputs)), ""]
    parts += [f"- {line}" for line in _setup_lines(inputs)]
    samples = img("samples", "Input | Ground Truth | Teacher | Scratch | Distilled")
    parts += ["", "## Predictions", "", samples, ""]
    parts += ["## Where distillation helped", "", fixes_caption(inputs), ""]
    parts += [img("fixes", "Input | Ground Truth | Scratch | Distilled"), ""]
    parts += ["## Per-class scores (validation)", ""]
    for key in DETAIL_ROWS:
        rows, mean = class_rows(inputs["evaluations"][key])
        parts += [f"### {dict(ROWS)[key]}", "", _md_table(CLASS_HEADER, rows, mean), ""]
    parts += ["## Training curves", "", img("curves", "training curves"), ""]
    parts += ["## Accuracy vs latency", "", img("tradeoff", "accuracy vs latency"), ""]
    if "edge" in inputs:
        strip = Path(inputs["edge"]["strip"]).relative_to(base).as_posix()
        parts += ["## On the vehicle", "", edge_line(inputs), "", f"![overlay frames]({strip})", ""]
    parts += ["## Confusion matrices", ""]
    parts += [img(f"confusion_{k}", f"confusion {k}") + "\n" for k in DETAIL_ROWS]
    parts += ["## Reproduce", ""]
    for label, block in _command_blocks(inputs):
        parts += [f"### {label}", "", "```bash", block, "```", ""]
    parts += ["## Stage timings", "", _md_table(("Stage", "Seconds"), _stage_rows(inputs)), ""]
    return "\n".join(parts)


def write_report(inputs: dict[str, Any], out: str | Path) -> list[Path]:
    """Draw the figures into ``{out}/figures`` and write ``report.html`` and ``report.md``;
    returns the files written (the two reports first)."""
    out = Path(out)
    figures = _draw_figures(inputs, out / "figures")
    html_path, md_path = out / "report.html", out / "report.md"
    atomic_write_bytes(html_path, render_html(inputs, figures).encode("utf-8"), "report")
    atomic_write_bytes(md_path, render_markdown(inputs, figures, out).encode("utf-8"), "report")
    return [html_path, md_path, *figures.values()]
