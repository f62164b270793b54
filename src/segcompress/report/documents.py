"""The demo report's documents: ``report.html`` (figures inlined) and ``report.md``."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from segcompress.demo.edge_clip import edge_line
from segcompress.fileio import atomic_write_bytes
from segcompress.report.content import (
    CLASS_HEADER,
    DETAIL_ROWS,
    ROWS,
    SUMMARY_HEADER,
    class_rows,
    command_blocks,
    findings,
    fixes_caption,
    lead,
    setup_lines,
    stage_rows,
    summary_rows,
)
from segcompress.report.figures import draw_figures

__all__ = ["render_html", "render_markdown", "write_report"]

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
        *(f"<li>{esc(line)}</li>" for line in setup_lines(inputs)),
        "</ul>",
        "<h2>Predictions</h2>",
        img(
            "samples",
            "Input, ground truth, teacher, student alone and distilled student predictions",
        ),
        "<h2>Where distillation helped</h2>",
        f"<p>{esc(fixes_caption(inputs))}</p>",
        img("fixes", "Input, ground truth, student alone and distilled student predictions"),
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
    for label, block in command_blocks(inputs):
        parts += [f"<h3>{esc(label)}</h3>", f"<pre>{esc(block)}</pre>"]
    parts += [
        "<h2>Stage timings</h2>",
        _html_table(("Stage", "Seconds"), stage_rows(inputs)),
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
    parts += [f"- {line}" for line in setup_lines(inputs)]
    samples = img("samples", "Input | Ground Truth | Teacher | Student alone | Distilled")
    parts += ["", "## Predictions", "", samples, ""]
    parts += ["## Where distillation helped", "", fixes_caption(inputs), ""]
    parts += [img("fixes", "Input | Ground Truth | Student alone | Distilled"), ""]
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
    for label, block in command_blocks(inputs):
        parts += [f"### {label}", "", "```bash", block, "```", ""]
    parts += ["## Stage timings", "", _md_table(("Stage", "Seconds"), stage_rows(inputs)), ""]
    return "\n".join(parts)


def write_report(inputs: dict[str, Any], out: str | Path) -> list[Path]:
    """Draw the figures into ``{out}/figures`` and write ``report.html`` and ``report.md``;
    returns the files written (the two reports first)."""
    out = Path(out)
    figures = draw_figures(inputs, out / "figures")
    html_path, md_path = out / "report.html", out / "report.md"
    atomic_write_bytes(html_path, render_html(inputs, figures).encode("utf-8"), "report")
    atomic_write_bytes(md_path, render_markdown(inputs, figures, out).encode("utf-8"), "report")
    return [html_path, md_path, *figures.values()]
