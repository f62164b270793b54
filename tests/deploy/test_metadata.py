"""Metadata round trip: the ONNX file alone is enough to predict and evaluate."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
import yaml

from segcompress.data.classes import ClassTable
from segcompress.deploy.metadata import (
    METADATA_PREFIX,
    ModelInfo,
    info_from_props,
    info_to_props,
)
from segcompress.deploy.runtime import load_predictor
from segcompress.errors import DataError, UsageError
from tests.deploy.conftest import MEAN, STD

TABLE = ClassTable(names=("road", "car", "sky"), colors=((1, 2, 3), (4, 5, 6), (7, 8, 9)))


def _strip_metadata(src: Path, dst: Path) -> None:
    proto = onnx.load(str(src))
    del proto.metadata_props[:]
    onnx.save(proto, str(dst))


def test_props_round_trip() -> None:
    info = ModelInfo(
        classes=TABLE,
        input_size=(32, 48),
        mean=(0.1, 0.2, 0.3),
        std=(0.4, 0.5, 0.6),
        model_name="student_s",
        model_args={"width_mult": 0.5},
        dataset_format="folder",
    )
    props = info_to_props(info)
    assert all(k.startswith(METADATA_PREFIX) and isinstance(v, str) for k, v in props.items())
    assert info_from_props(props, "test") == info


def test_no_metadata_gives_none() -> None:
    assert info_from_props({"producer": "x"}, "test") is None


def test_newer_metadata_version_refused() -> None:
    props = info_to_props(ModelInfo(classes=TABLE, input_size=(8, 8)))
    props[METADATA_PREFIX + "version"] = "99"
    with pytest.raises(DataError, match="newer than this segcompress reads"):
        info_from_props(props, "f.onnx")


def test_predictor_from_onnx_alone(fp32_onnx: Path, checkpoint: Path) -> None:
    """No checkpoint needed: classes (names, colours, ignore index), size and normalisation
    all come from the file's metadata_props, and equal the checkpoint's."""
    from segcompress.engine.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    predictor = load_predictor(fp32_onnx)
    assert predictor.classes.to_dict() == state["classes"]
    assert predictor.classes.ignore_index == state["ignore_index"]
    assert list(predictor.input_size) == state["input_size"]
    assert (predictor.mean, predictor.std) == (MEAN, STD)
    assert predictor.info.model_name == "student_xs"


def test_foreign_onnx_needs_classes_and_size(fp32_onnx: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.onnx"
    _strip_metadata(fp32_onnx, bare)
    with pytest.raises(UsageError, match=r"no segcompress metadata.*--classes.*--img-size"):
        load_predictor(bare)


def test_foreign_onnx_with_classes_file_and_size(fp32_onnx: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare.onnx"
    _strip_metadata(fp32_onnx, bare)
    names = [f"c{i}" for i in range(26)]
    table = {"classes": [{"id": i, "name": n} for i, n in enumerate(names)]}
    classes_file = tmp_path / "classes.yaml"
    classes_file.write_text(yaml.safe_dump(table))
    predictor = load_predictor(bare, classes=classes_file, img_size=(64, 64))
    assert predictor.classes.names == tuple(names)
    assert predictor.input_size == (64, 64)


def test_of_model_records_what_rebuilds_the_variant() -> None:
    """The registry name and every argument (defaults too) are kept: the file's metadata
    rebuilds the same widths, so its FLOPs are the variant's own."""
    from segcompress.data.classes import IDD_LEVEL3
    from segcompress.models import create_model

    model = create_model("student_q", width_mult=2)
    info = ModelInfo.of_model(model, (64, 96), IDD_LEVEL3)
    assert info.model_name == "student_q" and info.input_size == (64, 96)
    assert info.model_args["width_mult"] == 2 and info.classes is IDD_LEVEL3
    rebuilt = create_model(info.model_name, **info.model_args)
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(
        p.numel() for p in model.parameters()
    )
