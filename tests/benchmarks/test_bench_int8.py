"""bench_int8_ab's model specs and bench_int8_student's summary over seeds (no timing)."""

from __future__ import annotations

import pytest

from tests.benchmark_scripts import load_benchmark

ab = load_benchmark("bench_int8_ab")
students = load_benchmark("bench_int8_student")


def test_model_spec_reads_typed_arguments() -> None:
    assert ab.model_spec("student_s") == ("student_s", {})
    name, kwargs = ab.model_spec("student_q:upsample=nearest,width_mult=0.5")
    assert name == "student_q" and kwargs == {"upsample": "nearest", "width_mult": 0.5}


def test_summary_is_per_row_and_mode_with_the_worst_seed() -> None:
    def rec(row: str, mode: str, fp32: float, int8: float) -> dict:
        return {
            "row": row,
            "upsample": mode,
            "fp32_miou": fp32,
            "int8_miou": int8,
            "int8_minus_fp32": int8 - fp32,
        }

    table = students.summarise(
        [
            rec("q", "nearest", 50.0, 49.8),
            rec("q", "nearest", 52.0, 52.1),
            rec("q", "bilinear", 51.0, 51.0),
        ]
    )
    by = {(e["row"], e["upsample"]): e for e in table}
    near = by[("q", "nearest")]
    assert near["seeds"] == 2 and near["fp32_miou"] == pytest.approx(51.0)
    assert near["int8_minus_fp32"] == pytest.approx(-0.05)
    assert near["worst_int8_minus_fp32"] == pytest.approx(-0.2)
    assert near["fp32_miou_std"] == pytest.approx(2**0.5)
    assert by[("q", "bilinear")]["seeds"] == 1 and by[("q", "bilinear")]["fp32_miou_std"] == 0.0
