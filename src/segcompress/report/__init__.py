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

from segcompress.report.content import DETAIL_ROWS, FIGURES, REPORT_VERSION, ROWS, findings, lead
from segcompress.report.documents import render_html, render_markdown, write_report

__all__ = [
    "DETAIL_ROWS",
    "FIGURES",
    "REPORT_VERSION",
    "ROWS",
    "findings",
    "lead",
    "render_html",
    "render_markdown",
    "write_report",
]
