"""The demo report rendered from small hand-made inputs: numbers, wording, tables, figures."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import numpy as np
import pytest
from PIL import Image

from segcompress.data.classes import ClassTable
from segcompress.metrics import compute_scores, scores_to_dict
from segcompress.report import ROWS, class_rows, findings, summary_rows, write_report

CLASSES = ClassTable(
    names=("road", "car", "<sky>"), colors=((128, 64, 128), (0, 0, 142), (70, 130, 180))
)


def _evaluation(diagonal: int) -> dict[str, Any]:
    """Scores of a 3-class confusion matrix with ``diagonal`` correct pixels per present class;
    class 2 never occurs in the ground truth."""
    matrix = np.array([[diagonal, 10, 0], [10, diagonal, 0], [0, 0, 0]])
    return {"scores": scores_to_dict(compute_scores(matrix, CLASSES.names)), "confusion": matrix}


def _bench_row(key: str, latency: float, flops: int, backend: str = "torch") -> dict[str, Any]:
    return {
        "key": key,
        "backend": backend,
        "params": flops // 100,
        "flops": flops,
        "file_mb": flops / 1e8,
        "latency_p50_ms": latency,
        "threads": 2,
    }


def make_inputs(teacher: int = 90, scratch: int = 40, kd: int = 60) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    evaluations = {
        "teacher": _evaluation(teacher),
        "student_scratch": _evaluation(scratch),
        "student_kd": _evaluation(kd),
        "student_kd_onnx": _evaluation(kd),
        "student_kd_int8": _evaluation(kd - 5),
    }
    rows = [
        _bench_row("teacher", 100.0, 10**10),
        _bench_row("student_scratch", 10.0, 10**9),
        _bench_row("student_kd", 10.0, 10**9),
        _bench_row("student_kd_onnx", 8.0, 10**9, "onnx-fp32"),
        _bench_row("student_kd_int8", 4.0, 10**9, "onnx-int8"),
    ]
    curve = [{"epoch": e, "train_loss": 2.0 / e, "val_miou": 0.1 * e} for e in (1, 2, 3)]
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
            "rows": rows,
        },
        "samples": {
            "images": rng.integers(0, 256, size=(2, 16, 32, 3), dtype=np.uint8),
            "gt": masks,
            "teacher": masks,
            "student_kd": np.zeros_like(masks),
        },
        "curves": {"teacher": curve, "student_scratch": curve, "student_kd": curve},
        "export": {},
        "quantize": {
            "method": "minmax",
            "calib_images": 4,
            "agreement": 0.98,
            "agreement_on": "2 val images",
        },
        "commands": {"teacher": ["segcompress train --data d --out t"]},
        "stages": {"data": 0.5, "teacher": 12.0},
        "data": {"n_train": 4, "n_val": 2, "size": [16, 32]},
    }


def _miou(diagonal: int) -> float:
    return diagonal / (diagonal + 20)  # both present classes: tp / (tp + fp + fn)


def test_findings_state_the_gain_and_ratios() -> None:
    lines = findings(make_inputs())
    gain = 100 * (_miou(60) - _miou(40))
    assert lines[0].startswith("Distillation helped at this budget")
    assert f"+{gain:.2f} mIoU points" in lines[0]
    ratio_line = next(line for line in lines if line.startswith("Distilled student / teacher"))
    assert f"accuracy {_miou(60) / _miou(90):.2f}x" in ratio_line
    assert "FLOPs 0.100x" in ratio_line
    assert "latency 0.10x" in ratio_line
    int8_line = next(line for line in lines if line.startswith("INT8 vs FP32"))
    assert f"{100 * (_miou(55) - _miou(60)):+.2f} mIoU points" in int8_line
    assert "2.00x faster" in int8_line


def test_findings_say_so_when_distillation_does_not_help() -> None:
    worse = findings(make_inputs(scratch=60, kd=40))[0]
    assert worse.startswith("Distillation did not help at this budget")
    assert f"{100 * (_miou(40) - _miou(60)):+.2f} mIoU points" in worse
    same = findings(make_inputs(scratch=50, kd=50))[0]
    assert same.startswith("Distillation made no difference")


def test_findings_flag_a_teacher_no_better_than_its_students() -> None:
    lines = findings(make_inputs(teacher=40, scratch=50, kd=60))
    assert any("teacher" in line and "not better" in line for line in lines)
    assert not any("not better" in line for line in findings(make_inputs()))


def test_summary_rows_in_report_order_with_measured_values() -> None:
    rows = summary_rows(make_inputs())
    assert [r[0] for r in rows] == [label for _, label in ROWS]
    teacher = rows[0]
    assert teacher[1] == "100.000 M"  # 1e10 / 100 parameters
    assert teacher[2] == "10.000"  # GFLOPs
    assert teacher[4] == "100.00 (torch)"
    assert teacher[5] == f"{_miou(90):.4f}"
    assert rows[-1][4] == "4.00 (onnx-int8)"


def test_class_rows_mark_absent_classes_and_mean() -> None:
    rows, mean = class_rows(_evaluation(90))
    assert [r[0] for r in rows] == ["road (0)", "car (1)", "<sky> (2)"]
    assert rows[2][1:] == ["–"] * 4
    assert mean[0] == "Mean" and mean[2] == f"{_miou(90):.4f}"


def test_write_report_self_contained_html_and_markdown(tmp_path) -> None:
    paths = write_report(make_inputs(), tmp_path)
    html_text = (tmp_path / "report.html").read_text(encoding="utf-8")
    md_text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert paths[:2] == [tmp_path / "report.html", tmp_path / "report.md"]
    uris = re.findall(r'<img src="data:image/png;base64,([^"]+)"', html_text)
    assert len(uris) == 5
    for uri in uris:
        with Image.open(io.BytesIO(base64.b64decode(uri))) as image:
            assert image.format == "PNG" and min(image.size) > 50
    assert not re.search(r'(src|href)="(https?:|/|file:)', html_text), "external reference"
    assert html_text.count("<table") == 4  # summary, two per-class tables, stage timings
    assert "&lt;sky&gt; (2)" in html_text and "<sky>" not in html_text
    assert html_text.count('<tr class="mean">') == 2
    assert "segcompress train --data d --out t" in html_text
    for link in re.findall(r"!\[[^]]*\]\(([^)]+)\)", md_text):
        assert (tmp_path / link).is_file(), link
    assert "| **Mean** |" in md_text
    assert "Distillation helped" in md_text


@pytest.mark.parametrize("missing", ["student_kd_onnx"])
def test_rows_without_measurements_are_left_out(missing: str) -> None:
    inputs = make_inputs()
    inputs["benchmark"]["rows"] = [r for r in inputs["benchmark"]["rows"] if r["key"] != missing]
    labels = [r[0] for r in summary_rows(inputs)]
    assert dict(ROWS)[missing] not in labels and len(labels) == len(ROWS) - 1
