"""The deployment tests' trained student and its ONNX files, for the benchmark helpers' tests
(``op_profile``), shared rather than built again."""

from tests.deploy.conftest import (  # noqa: F401
    checkpoint,
    export_report,
    fp32_onnx,
    info,
    int8_report,
    synth_root,
    trained_model,
)
