"""The demo report rendered from small hand-made inputs, read back as a reader would: the tables
parsed into cells and compared with the input numbers, the stated ratios recomputed from the
inputs, the figures decoded and traced to the data they were drawn from.

Every input number is distinct (no two ratios coincide), so a value taken from the wrong row or
field, or a ratio turned upside down, shows.
"""

from __future__ import annotations

import base64
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from segcompress import report, viz
from segcompress.data.classes import ClassTable
from segcompress.metrics import compute_scores, scores_to_dict
from segcompress.report import DETAIL_ROWS, FIGURES, ROWS, findings, write_report
from segcompress.report import figures as report_figures

CLASSES = ClassTable(
    names=("road", "car", "<sky>"), colors=((128, 64, 128), (0, 0, 142), (70, 130, 180))
)
LABELS = dict(ROWS)
# key -> (params, flops, file MB, latency p50 ms, backend); ONNX rows have no parameter count.
BENCH = {
    "teacher": (2_500_000, 3.2e9, 9.6, 120.0, "torch"),
    "student_scratch": (310_000, 4.1e8, 1.31, 15.0, "torch"),
    "student_kd": (300_000, 4.0e8, 1.25, 14.0, "torch"),
    "student_kd_onnx": (None, None, 1.2, 9.0, "onnx-fp32"),
    "student_kd_int8": (None, None, 0.4, 6.0, "onnx-int8"),
    "student_kd_onnx_openvino": (None, None, 1.2, 8.0, "openvino-fp32"),
    "student_kd_int8_openvino": (None, None, 0.4, 4.5, "openvino-int8"),
}


def _evaluation(diagonal: int, off: int = 10) -> dict[str, Any]:
    """Scores of a 3-class confusion matrix; class 2 never occurs in the ground truth."""
    matrix = np.array([[diagonal, off, 0], [2 * off, diagonal + 7, 0], [0, 0, 0]])
    return {"scores": scores_to_dict(compute_scores(matrix, CLASSES.names)), "confusion": matrix}


def _bench_row(key: str) -> dict[str, Any]:
    params, flops, file_mb, latency, backend = BENCH[key]
    return {
        "key": key,
        "backend": backend,
        "params": params,
        "flops": flops,
        "file_mb": file_mb,
        "latency_p50_ms": latency,
        "threads": 2,
    }


def make_inputs(teacher: int = 90, scratch: int = 40, kd: int = 60) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    evaluations = {
        "teacher": _evaluation(teacher),
        "student_scratch": _evaluation(scratch),
        "student_kd": _evaluation(kd),
        "student_kd_onnx": _evaluation(kd - 2, off=12),
        "student_kd_int8": _evaluation(kd - 7, off=13),
        "student_kd_onnx_openvino": _evaluation(kd - 3, off=11),
        "student_kd_int8_openvino": _evaluation(kd - 5, off=14),
    }
    curves = {
        run: [
            {"epoch": e, "train_loss": (2.0 + i) / e, "val_miou": 0.1 * e + 0.01 * i}
            for e in (1, 2, 3)
        ]
        for i, run in enumerate(("teacher", "student_scratch", "student_kd"))
    }
    masks = rng.integers(0, 3, size=(2, 16, 32)).astype(np.uint8)
    return {
        "budget": {
            "img_size": [16, 32],
            "teacher_epochs": 3,
            "epochs": 3,
            "batch": 2,
            "lr": 0.003,
            "seed": 0,
            "teacher": "teacher",
            "teacher_args": {},
            "student": "student_s",
            "teacher_pretrained": False,
            "student_pretrained": True,
            "kd": ["kl"],
            "temperature": 4.0,
            "bench_runs": 5,
            "bench_warmup": 1,
            "note": "",
        },
        "classes": CLASSES.to_dict(),
        "evaluations": evaluations,
        "benchmark": {
            "machine": {
                "cpu": "test CPU",
                "cores": 2,
                "load_average": [1.0, 1.0, 1.0],
                "load_average_after": [1.5, 1.0, 1.0],
                "torch": "x",
                "onnxruntime": "y",
            },
            "rows": [_bench_row(key) for key in BENCH],
        },
        "samples": {
            "images": rng.integers(0, 256, size=(2, 16, 32, 3), dtype=np.uint8),
            "gt": masks,
            "teacher": (masks + 1) % 3,
            "student_scratch": (masks + 2) % 3,
            "student_kd": np.zeros_like(masks),
            "fix_index": np.array([1, 0]),
            "fix_gain": np.array([0.25, -0.125]),
            "fix_images": rng.integers(0, 256, size=(2, 16, 32, 3), dtype=np.uint8),
            "fix_gt": masks,
            "fix_scratch": (masks + 2) % 3,
            "fix_kd": masks,
        },
        "curves": curves,
        "export": {},
        "quantize": {
            "method": "minmax",
            "calib_images": 4,
            "agreement": 0.98,
            "agreement_on": "2 val images",
        },
        "commands": {
            "teacher": ["segcompress train --data d --out t", "segcompress evaluate --ckpt t"],
            "student_kd": ["segcompress distill --teacher t/best.pt --out kd"],
        },
        "stages": {"data": 0.5, "teacher": 12.25},
        "data": {"n_train": 4, "n_val": 2, "n_unlabeled": 12, "size": [16, 32]},
    }


def _mean(inputs: dict[str, Any], key: str, score: str = "iou") -> float:
    return inputs["evaluations"][key]["scores"]["mean"][score]


def _close(text: str, value: float, scale: float = 1.0) -> None:
    """``text`` is ``value / scale`` rounded to the digits it shows."""
    digits = len(text.split(".")[1]) if "." in text else 0
    assert abs(float(text) * scale - value) <= (0.5 * 10**-digits + 1e-9) * scale, (text, value)


# -- reading the documents back ------------------------------------------------------------------
class _Page(HTMLParser):
    """Tables (rows of cell texts), finding paragraphs, <pre> blocks, tags and link targets."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.findings: list[str] = []
        self.pres: list[str] = []
        self.tags: set[str] = set()
        self.links: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.images: list[str] = []
        self._text: list[str] | None = None
        self._into: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        values = dict(attrs)
        for name in ("src", "href", "data", "srcset", "poster", "action"):
            if values.get(name) is not None:
                self.links.append((tag, name, values[name] or ""))
        if tag == "img":
            self.images.append(values.get("src") or "")
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th") or (tag == "p" and values.get("class") == "finding"):
            self._text, self._into = [], self.tables[-1][-1] if tag != "p" else self.findings
        elif tag == "pre":
            self._text, self._into = [], self.pres

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th", "p", "pre") and self._text is not None and self._into is not None:
            self._into.append("".join(self._text))
            self._text = self._into = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def _md_tables(text: str) -> list[list[list[str]]]:
    """Markdown tables as rows of cells (separator rows dropped, bold marks removed)."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in text.splitlines():
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            cells = [c.strip().removeprefix("**").removesuffix("**") for c in line.split("|")[1:-1]]
            if not all(re.fullmatch(r"-+:?", c) for c in cells):
                tables[-1].append(cells)
        previous = line
    return tables


@pytest.fixture
def written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``write_report`` run once, with what each figure was drawn from recorded on the way."""
    drawn: dict[str, Any] = {}
    real_save, real_confusion, real_comparison = (
        report_figures.save_figure,
        viz.plot_confusion,
        viz.plot_comparison,
    )

    def save(fig: Any, path: Path) -> None:
        drawn[Path(path).stem] = fig
        real_save(fig, path)

    def confusion(matrix: Any, names: Any, path: Any) -> None:
        drawn[Path(path).stem] = (np.asarray(matrix), list(names))
        real_confusion(matrix, names, path)

    def comparison(images: Any, masks: Any, classes: Any, path: Any, titles: Any) -> None:
        drawn[Path(path).stem] = (images, masks, classes, titles)
        real_comparison(images, masks, classes, path, titles=titles)

    monkeypatch.setattr(report_figures, "save_figure", save)
    monkeypatch.setattr(viz, "plot_confusion", confusion)
    monkeypatch.setattr(viz, "plot_comparison", comparison)
    inputs = make_inputs()
    paths = write_report(inputs, tmp_path)
    page = _Page()
    html_text = (tmp_path / "report.html").read_text(encoding="utf-8")
    page.feed(html_text)
    md_text = (tmp_path / "report.md").read_text(encoding="utf-8")
    return {
        "inputs": inputs,
        "paths": paths,
        "out": tmp_path,
        "html": html_text,
        "page": page,
        "md": md_text,
        "drawn": drawn,
    }


# -- findings ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("teacher", "scratch", "kd", "verdict"),
    [(90, 40, 60, "helped"), (90, 60, 40, "did not help"), (90, 50, 50, "no difference")],
)
def test_findings_state_the_gain_computed_from_the_scores(teacher, scratch, kd, verdict):
    inputs = make_inputs(teacher, scratch, kd)
    first = findings(inputs)[0]
    gain = _mean(inputs, "student_kd") - _mean(inputs, "student_scratch")
    stated = re.search(r"([+-]\d+\.\d+) mIoU points", first)
    assert stated, first
    _close(stated.group(1), 100 * gain)
    shown_kd, shown_scratch = re.search(r"\((\d+\.\d+) vs (\d+\.\d+)", first).groups()
    _close(shown_kd, 100 * _mean(inputs, "student_kd"))
    _close(shown_scratch, 100 * _mean(inputs, "student_scratch"))
    assert re.search(rf"\b{verdict}\b", first)
    assert f"{inputs['data']['n_val']} validation images" in first


def test_findings_state_ratios_to_the_teacher_from_the_inputs() -> None:
    inputs = make_inputs()
    lines = findings(inputs)
    (ratios,) = [line for line in lines if "FLOPs" in line]
    t, s = BENCH["teacher"], BENCH["student_kd"]
    expected = {
        "accuracy": _mean(inputs, "student_kd") / _mean(inputs, "teacher"),
        "FLOPs": s[1] / t[1],
        "parameters": s[0] / t[0],
        "latency": s[3] / t[3],
    }
    for name, value in expected.items():
        stated = re.search(rf"{name} (\d+\.\d+)x", ratios)
        assert stated, (name, ratios)
        _close(stated.group(1), value)

    for suffix, runtime in (("", "ONNX Runtime"), ("_openvino", "OpenVINO")):
        (int8,) = [line for line in lines if f"INT8 vs FP32 ({runtime})" in line]
        f32_key, int8_key = f"student_kd_onnx{suffix}", f"student_kd_int8{suffix}"
        f32, q = BENCH[f32_key], BENCH[int8_key]
        delta = _mean(inputs, int8_key) - _mean(inputs, f32_key)
        _close(re.search(r"([+-]\d+\.\d+) mIoU points", int8).group(1), 100 * delta)
        _close(re.search(r"(\d+\.\d+)x faster", int8).group(1), f32[3] / q[3])
        _close(re.search(r"file (\d+\.\d+)x smaller", int8).group(1), f32[2] / q[2])
        _close(re.search(r"(\d+\.\d+)x the teacher's", int8).group(1), q[3] / t[3])


def test_the_lead_says_what_was_compressed_kept_and_added_from_the_inputs() -> None:
    inputs = make_inputs()
    what, kept, added, budget = report.lead(inputs)
    t, s, q = BENCH["teacher"], BENCH["student_kd"], BENCH["student_kd_int8_openvino"]
    # the fastest INT8 backend is quoted: OpenVINO's 4.5 ms, not ORT's 6.0
    assert "(openvino-int8)" in what and "4.50 ms" in what
    numbers = [float(v) for v in re.findall(r"(\d+\.\d+)x (?:fewer|smaller|faster)", what)]
    assert numbers == pytest.approx([t[0] / s[0], t[1] / s[1], t[2] / q[2], t[3] / q[3]], abs=0.05)
    int8_miou, teacher = _mean(inputs, "student_kd_int8_openvino"), _mean(inputs, "teacher")
    _close(re.search(r"(\d+\.\d+) mIoU in INT8", kept).group(1), 100 * int8_miou)
    _close(re.search(r"(\d+)% of the teacher's", kept).group(1), 100 * int8_miou / teacher)
    gain = _mean(inputs, "student_kd") - _mean(inputs, "student_scratch")
    _close(re.search(r"([+-]\d+\.\d+) mIoU points", added).group(1), 100 * gain)
    assert "4 labelled training images and 12 unlabelled frames" in added
    assert "short budget" in budget and "not at convergence" in budget
    rows = inputs["benchmark"]["rows"]
    inputs["benchmark"]["rows"] = [r for r in rows if not r["key"].endswith("_openvino")]
    assert "(onnx-int8)" in report.lead(inputs)[0]  # without OpenVINO: ORT's file
    inputs["data"]["n_unlabeled"] = 0
    assert "unlabelled" not in report.lead(inputs)[2]


def test_a_slower_int8_model_is_not_called_faster() -> None:
    inputs = make_inputs()
    rows = {r["key"]: r for r in inputs["benchmark"]["rows"]}
    rows["student_kd_int8"]["latency_p50_ms"] = 18.0  # ONNX FP32 takes 9.0
    (int8,) = [line for line in findings(inputs) if "INT8 vs FP32 (ONNX Runtime)" in line]
    assert "faster" not in int8
    _close(re.search(r"(\d+\.\d+)x speed \(slower\)", int8).group(1), 9.0 / 18.0)


@pytest.mark.parametrize(("teacher", "flagged"), [(40, True), (60, True), (61, False)])
def test_findings_flag_a_teacher_no_better_than_its_students(teacher, flagged) -> None:
    inputs = make_inputs(teacher=teacher, scratch=50, kd=60)
    flags = [line for line in findings(inputs) if "not better" in line]
    assert len(flags) == int(flagged)
    if flagged:
        stated = re.search(r"teacher \((\d+\.\d+) mIoU\)", flags[0]).group(1)
        _close(stated, 100 * _mean(inputs, "teacher"))


# -- the documents -------------------------------------------------------------------------------
def _check_summary(rows: list[list[str]], inputs: dict[str, Any]) -> None:
    header, *body = rows
    assert header[0] == "Model" and len(header) == 7
    present = [key for key, _ in ROWS if key in BENCH]
    assert [r[0] for r in body] == [LABELS[k] for k in present]  # every row, in report order
    for key, row in zip(present, body, strict=True):
        params, flops, file_mb, latency, backend = BENCH[key]
        if params is None:
            assert row[1] == "–"
        else:
            assert row[1].endswith(" M")
            _close(row[1].split()[0], params, 1e6)
        if flops is None:
            assert row[2] == "–"
        else:
            _close(row[2], flops, 1e9)
        _close(row[3], file_mb)
        shown_latency, shown_backend = re.fullmatch(r"(\S+) \((.+)\)", row[4]).groups()
        _close(shown_latency, latency)
        assert shown_backend == backend
        _close(row[5], _mean(inputs, key, "iou"))
        _close(row[6], _mean(inputs, key, "dice"))


def _check_class_table(rows: list[list[str]], evaluation: dict[str, Any]) -> None:
    header, *body, mean = rows
    keys = [h.lower() for h in header[1:]]
    assert keys == ["dice", "iou", "precision", "recall"]
    scores = evaluation["scores"]
    assert [r[0] for r in body] == [f"{c['name']} ({c['id']})" for c in scores["classes"]]
    for row, cls in zip(body, scores["classes"], strict=True):
        for cell, key in zip(row[1:], keys, strict=True):
            if cls[key] is None:  # absent from the ground truth
                assert cell == "–"
            else:
                _close(cell, cls[key])
    assert mean[0] == "Mean"
    for cell, key in zip(mean[1:], keys, strict=True):
        _close(cell, scores["mean"][key])


def _check_tables(tables: list[list[list[str]]], inputs: dict[str, Any]) -> None:
    summary, *classes, stages = tables
    _check_summary(summary, inputs)
    assert len(classes) == len(DETAIL_ROWS)
    for table, key in zip(classes, DETAIL_ROWS, strict=True):
        _check_class_table(table, inputs["evaluations"][key])
    assert stages[0] == ["Stage", "Seconds"]
    assert [r[0] for r in stages[1:]] == list(inputs["stages"])
    for row, seconds in zip(stages[1:], inputs["stages"].values(), strict=True):
        _close(row[1], seconds)


def test_html_tables_hold_the_input_numbers(written) -> None:
    _check_tables(written["page"].tables, written["inputs"])


def test_markdown_tables_hold_the_same_cells_as_the_html(written) -> None:
    md_tables = _md_tables(written["md"])
    _check_tables(md_tables, written["inputs"])
    assert md_tables == written["page"].tables


def test_both_documents_state_the_findings(written) -> None:
    lines = findings(written["inputs"])
    assert written["page"].findings == lines
    quoted = [line[2:] for line in written["md"].splitlines() if line.startswith("> ")]
    assert quoted == lines


def test_html_is_self_contained_and_escapes_text(written) -> None:
    page = written["page"]
    external = [link for link in page.links if not link[2].startswith("data:")]
    assert external == [], "the report must not load anything from elsewhere"
    assert not page.tags & {"script", "link", "iframe", "object", "embed"}
    assert "sky" not in page.tags  # the class "<sky>" is text, not markup
    assert "<sky> (2)" in page.tables[1][3][0]
    commands = written["inputs"]["commands"]
    assert page.pres == ["\n".join(lines) for lines in commands.values()]


def test_every_figure_is_embedded_and_linked(written) -> None:
    out, paths = written["out"], written["paths"]
    assert paths[:2] == [out / "report.html", out / "report.md"]
    figures = paths[2:]
    assert [p.stem for p in figures] == list(FIGURES)
    on_disk = {p.read_bytes() for p in figures}
    assert len(on_disk) == len(FIGURES)
    embedded = []
    for src in written["page"].images:
        assert src.startswith("data:image/png;base64,")
        data = base64.b64decode(src.split(",", 1)[1], validate=True)
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        embedded.append(data)
    assert len(embedded) == len(FIGURES) and set(embedded) == on_disk
    links = re.findall(r"!\[[^]]*\]\(([^)]+)\)", written["md"])
    assert sorted(out / link for link in links) == sorted(figures)


def test_figures_are_drawn_from_the_inputs(written) -> None:
    inputs, drawn = written["inputs"], written["drawn"]
    loss_ax, miou_ax = drawn["curves"].axes
    runs = list(inputs["curves"])
    assert [line.get_label() for line in loss_ax.lines] == runs
    for run, loss, miou in zip(runs, loss_ax.lines, miou_ax.lines, strict=True):
        rows = inputs["curves"][run]
        np.testing.assert_allclose(loss.get_xydata(), [[r["epoch"], r["train_loss"]] for r in rows])
        np.testing.assert_allclose(
            miou.get_xydata(), [[r["epoch"], 100 * r["val_miou"]] for r in rows]
        )

    (ax,) = drawn["tradeoff"].axes
    points = {c.get_label(): c.get_offsets()[0] for c in ax.collections}
    expected = {
        f"{LABELS[key]} ({BENCH[key][4]})": (BENCH[key][3], 100 * _mean(inputs, key))
        for key in BENCH
    }
    assert points.keys() == expected.keys()
    for label, xy in expected.items():
        np.testing.assert_allclose(points[label], xy)

    for key in DETAIL_ROWS:
        matrix, names = drawn[f"confusion_{key}"]
        np.testing.assert_array_equal(matrix, inputs["evaluations"][key]["confusion"])
        assert names == list(CLASSES.names)

    images, masks, classes, titles = drawn["samples"]
    samples = inputs["samples"]
    assert classes == CLASSES and titles[0] == "Input" and len(titles) == 5
    np.testing.assert_array_equal(np.stack(images), samples["images"])
    for i, panels in enumerate(masks):
        keys = ("gt", "teacher", "student_scratch", "student_kd")
        for panel, key in zip(panels, keys, strict=True):
            np.testing.assert_array_equal(panel, samples[key][i])

    images, masks, classes, titles = drawn["fixes"]
    assert titles == ("Input", "Ground Truth", "Student alone", "Student distilled")
    np.testing.assert_array_equal(np.stack(images), samples["fix_images"])
    for i, panels in enumerate(masks):
        for panel, key in zip(panels, ("fix_gt", "fix_scratch", "fix_kd"), strict=True):
            np.testing.assert_array_equal(panel, samples[key][i])


def test_fixes_caption_gives_each_rows_gain(written) -> None:
    text = "top to bottom: +25.00, -12.50)"
    assert text in written["md"]
    assert text in written["html"]


def test_the_lead_opens_both_documents(written: dict[str, Any]) -> None:
    import html as html_lib

    lines = report.lead(written["inputs"])
    md, page = written["md"], written["html"]
    assert md.index(lines[0]) < md.index(lines[-1]) < md.index("## Results")
    escaped = [html_lib.escape(line) for line in lines]
    assert page.index("<h1>") < page.index(escaped[0]) < page.index("<h2>Results</h2>")
