"""The report's rows and wording: rows without measurements are left out, and each model's
start (ImageNet or random) is named, never called "from scratch" when it is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from segcompress.report import ROWS, findings, write_report
from segcompress.report import content as report_content
from tests.test_report import _Page, make_inputs


@pytest.mark.parametrize("missing", ["student_kd_onnx", "student_scratch"])
def test_rows_without_measurements_are_left_out(missing: str, tmp_path: Path) -> None:
    inputs = make_inputs()
    inputs["benchmark"]["rows"] = [r for r in inputs["benchmark"]["rows"] if r["key"] != missing]
    if missing == "student_kd_onnx":
        del inputs["evaluations"][missing]
    write_report(inputs, tmp_path)
    page = _Page()
    page.feed((tmp_path / "report.html").read_text(encoding="utf-8"))
    labels = [row[0] for row in page.tables[0][1:]]
    assert labels == [label for key, label in ROWS if key != missing]
    if missing == "student_kd_onnx":  # no FP32 baseline in ORT: no ORT INT8 comparison
        assert not [line for line in page.findings if "(ONNX Runtime)" in line]
        assert [line for line in page.findings if "INT8 vs FP32 (OpenVINO)" in line]


def test_the_report_names_each_models_start_and_never_says_scratch_for_an_imagenet_start() -> None:
    inputs = make_inputs()
    setup = report_content.setup_lines(inputs)
    assert any(
        "teacher `teacher` started from random weights" in line
        and "both students `student_s` started from ImageNet weights" in line
        for line in setup
    )
    lead = report_content.lead(inputs)
    assert any("Both students started from ImageNet weights" in line for line in lead)
    text = " ".join([*lead, *findings(inputs), report_content.fixes_caption(inputs)])
    assert "scratch" not in text.lower() and "trained alone" in text
