"""Runtimes, quantizers and benchmark backends are looked up by name in registries."""

from __future__ import annotations

import pytest

from segcompress.deploy import options
from segcompress.deploy.registry import BACKENDS, GRAPH_RUNTIMES, QUANTIZERS, Registry
from segcompress.errors import UsageError


@pytest.fixture(autouse=True, scope="module")
def _implementations():
    """The modules that register the runtimes and the quantizers."""
    import segcompress.deploy.quantize
    import segcompress.deploy.runtime  # noqa: F401


def test_every_declared_name_is_registered():
    assert GRAPH_RUNTIMES.names() == options.RUNTIMES
    assert QUANTIZERS.names() == options.QUANTIZE_ENGINES
    assert BACKENDS.names() == options.ALL_BACKENDS


@pytest.mark.parametrize(
    ("registry", "line"),
    [
        (GRAPH_RUNTIMES, "--runtime tflite: choose one of onnxruntime, openvino"),
        (QUANTIZERS, "--engine tflite: choose one of onnxruntime, nncf"),
        (BACKENDS, "--backends tflite: choose from " + ", ".join(options.ALL_BACKENDS)),
    ],
)
def test_an_unknown_name_is_one_line_listing_the_known_ones(registry, line):
    with pytest.raises(UsageError) as exc:
        registry.get("tflite")
    assert str(exc.value) == line


def test_only_declared_names_register_and_only_once():
    registry: Registry[int] = Registry("--thing", ("a", "b"))
    registry.add("a", 1)
    with pytest.raises(ValueError, match="registered twice"):
        registry.add("a", 2)
    with pytest.raises(ValueError, match="not declared"):
        registry.add("c", 3)
    assert registry.names() == ("a",) and registry.get("a") == 1


def test_load_predictor_refuses_an_unknown_runtime_before_reading_the_file(tmp_path):
    from segcompress.deploy.runtime import load_predictor

    with pytest.raises(UsageError, match=r"^--runtime tvm: choose one of onnxruntime, openvino$"):
        load_predictor(tmp_path / "missing.onnx", runtime="tvm")


def test_backends_say_what_they_run():
    assert {BACKENDS.get(b).file for b in options.GRAPH_BACKENDS} == {"fp32", "int8"}
    assert all(BACKENDS.get(b).file == "torch" for b in ("torch", "torch-cl", "torch-compile"))
    assert BACKENDS.get("torch-cl").channels_last and BACKENDS.get("torch-compile").compile
    assert BACKENDS.get("openvino-int8").runtime == "openvino"
