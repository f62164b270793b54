"""Export verification goes through the runtime registry: every registered runtime that is
installed checks the file, each through its own loader; one that is not installed is left out of
the checks, and refused in one line when it is asked for by name."""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import segcompress.deploy.openvino_runtime as ov_runtime
from segcompress.deploy import onnx_export
from segcompress.deploy.registry import GRAPH_RUNTIMES, available_runtimes
from segcompress.errors import DataError, UsageError
from segcompress.models.export import INPUT_NAME

INSTALLED = ["onnxruntime"] + (["openvino"] if importlib.util.find_spec("openvino") else [])


def test_verification_runtimes_are_the_installed_registered_ones() -> None:
    assert onnx_export.verification_runtimes() == INSTALLED
    assert list(available_runtimes()) == INSTALLED


@pytest.mark.parametrize("runtime", INSTALLED)
def test_each_runtimes_runner_computes_the_files_logits(fp32_onnx: Path, runtime: str) -> None:
    x = torch.randn(5, 3, 64, 64, generator=torch.Generator().manual_seed(5)).numpy()
    session = ort.InferenceSession(str(fp32_onnx), providers=["CPUExecutionProvider"])
    expected = session.run(None, {INPUT_NAME: x})[0]
    got = onnx_export.runtime_runner(fp32_onnx, runtime)(x)
    assert isinstance(got, np.ndarray) and got.shape == expected.shape == (5, 26, 64, 64)
    assert np.abs(got - expected).max() <= 1e-4


def _recording(monkeypatch: pytest.MonkeyPatch, calls: list, shift: dict[str, float]) -> None:
    """Replace every registered runtime's loader by one that records its calls and delegates,
    adding ``shift[name]`` to the logits of that runtime's predictor."""
    for name in GRAPH_RUNTIMES.names():
        entry = GRAPH_RUNTIMES.get(name)

        def load(path, info, *, device, threads, int8, _real=entry.load, _name=name):
            calls.append((_name, Path(path).name, str(device)))
            predictor = _real(path, info, device=device, threads=threads, int8=int8)
            if _name in shift:
                run = predictor._run
                predictor._run = lambda x: run(x) + np.float32(shift[_name])
            return predictor

        monkeypatch.setitem(GRAPH_RUNTIMES._entries, name, replace(entry, load=load))


def test_export_is_verified_by_each_installed_runtimes_own_loader(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path, tmp_path: Path
) -> None:
    calls: list = []
    _recording(monkeypatch, calls, {})
    report = onnx_export.export_checkpoint(checkpoint, tmp_path / "m.onnx")
    assert calls == [(name, "m.onnx", "cpu") for name in INSTALLED]
    assert [p.runtime for p in report.parity] == INSTALLED
    assert all(p.passed(1e-3, 0.999) for p in report.parity)


def test_a_wrong_answer_from_a_registered_runtime_fails_the_export(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path, tmp_path: Path
) -> None:
    _recording(monkeypatch, [], {INSTALLED[-1]: 0.1})
    out = tmp_path / "m.onnx"
    with pytest.raises(DataError, match=rf"\({INSTALLED[-1]}\): max \|logit diff\| 1\.0\de-01"):
        onnx_export.export_checkpoint(checkpoint, out)
    assert not out.exists()


def test_a_runtime_that_is_not_installed_is_left_out_of_the_checks(
    monkeypatch: pytest.MonkeyPatch, checkpoint: Path, tmp_path: Path
) -> None:
    monkeypatch.setattr(ov_runtime, "openvino_available", lambda: False)
    calls: list = []
    _recording(monkeypatch, calls, {})
    assert onnx_export.verification_runtimes() == ["onnxruntime"]
    report = onnx_export.export_checkpoint(checkpoint, tmp_path / "m.onnx")
    assert calls == [("onnxruntime", "m.onnx", "cpu")]
    assert [p.runtime for p in report.parity] == ["onnxruntime"]


def test_a_runtime_that_is_not_installed_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, fp32_onnx: Path
) -> None:
    monkeypatch.setattr(ov_runtime, "openvino_available", lambda: False)
    with pytest.raises(UsageError) as exc:
        onnx_export.runtime_runner(fp32_onnx, "openvino")
    assert str(exc.value) == (
        "the openvino runtime needs the openvino package: pip install 'segcompress[openvino]'"
    )


def test_an_unknown_runtime_is_the_registrys_one_line(fp32_onnx: Path) -> None:
    with pytest.raises(UsageError) as exc:
        onnx_export.runtime_runner(fp32_onnx, "tvm")
    assert str(exc.value) == "--runtime tvm: choose one of onnxruntime, openvino"
