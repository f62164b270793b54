"""Property-based fuzzing of the parts that meet untrusted input: pairing files by id, decoding
corrupt image bytes, loading damaged checkpoints and strict config parsing. Whatever the input,
the result is either correct or a ``SegcompressError`` (a one-line message), never a crash.
(Mask decoding and the metrics have their own properties in tests/data and tests/test_metrics.)
"""

from __future__ import annotations

import io
import random
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from segcompress.config import TrainConfig, config_from_dict, config_to_dict
from segcompress.data.classes import IDD_LEVEL3
from segcompress.data.formats import IddKaggleFormat
from segcompress.data.io import read_image, read_mask
from segcompress.engine.checkpoint import load_checkpoint, model_from_checkpoint
from segcompress.errors import DataError, UsageError

IDS = st.integers(0, 40).map(lambda i: f"{i:07d}")
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    images=st.sets(IDS, max_size=12),
    masks=st.sets(IDS, max_size=12),
    duplicated=st.sets(IDS, max_size=4),
    seed=st.integers(0, 2**16),
)
def test_pairing_is_by_id_whatever_the_orphans_duplicates_and_creation_order(
    images, masks, duplicated, seed
):
    duplicated &= images  # a second image file (another extension) for some ids
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "train" / "images").mkdir(parents=True)
        (root / "train" / "rgb_labels").mkdir(parents=True)
        files = [f"train/images/{i}_leftImg8bit.jpg" for i in images]
        files += [f"train/images/{i}_leftImg8bit.png" for i in duplicated]
        files += [f"train/rgb_labels/{i}_gtFine_polygons.png" for i in masks]
        random.Random(seed).shuffle(files)  # creation order must not matter
        for name in files:
            (root / name).write_bytes(b"")
        listing = IddKaggleFormat(root, IDD_LEVEL3).list_split("train")

    assert [p.key for p in listing.pairs] == sorted(images & masks)
    for pair in listing.pairs:
        assert pair.image.name.startswith(pair.key) and pair.mask.name.startswith(pair.key)
        assert pair.image.suffix == ".jpg"  # of duplicates, the first by name is kept
    orphans = {p.file for p in listing.problems if p.kind == "orphan-image"}
    assert {Path(f).name[:7] for f in orphans} == images - masks
    lone_masks = {p.file for p in listing.problems if p.kind == "orphan-mask"}
    assert {Path(f).name[:7] for f in lone_masks} == masks - images
    assert listing.count("duplicate-id") == len(duplicated)


def _encoded(fmt: str, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (9, 13, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    img.save(buffer, format=fmt)
    return buffer.getvalue()


@FUZZ
@given(
    fmt=st.sampled_from(["PNG", "JPEG", "BMP"]),
    seed=st.integers(0, 100),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=6),
)
def test_damaged_image_bytes_decode_or_raise_data_error(fmt, seed, cut, flips):
    data = bytearray(_encoded(fmt, seed))
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    data = data[: int(cut * len(data))] if cut < 1 else data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x.{fmt.lower()}"
        path.write_bytes(bytes(data))
        for read in (read_image, lambda p: read_mask(p, "rgb")):
            try:
                array = read(path)
            except DataError as exc:
                assert str(path) in str(exc) and "\n" not in str(exc)
            else:
                assert array.dtype == np.uint8 and array.ndim == 3 and array.shape[2] == 3


@pytest.fixture(scope="module")
def checkpoint_bytes() -> bytes:
    state = {
        "format_version": 1,
        "model_name": "student_xs",
        "model_args": {},
        "num_classes": 3,
        "classes": {"names": ["a", "b", "c"]},
        "model": {"w": torch.arange(64, dtype=torch.float32)},
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


@FUZZ
@given(
    key=st.sampled_from(
        ["format_version", "model_name", "model_args", "model", "num_classes", "classes"]
    ),
    value=st.none() | st.booleans() | st.integers() | st.text(max_size=3) | st.lists(st.none()),
)
def test_checkpoints_with_wrongly_typed_fields_raise_data_error(key, value, tmp_path_factory):
    state = {
        "format_version": 1,
        "model_name": "student_xs",
        "model_args": {},
        "num_classes": 3,
        "classes": {"names": ["a", "b", "c"]},
        "model": {},
        key: value,
    }
    path = tmp_path_factory.mktemp("typed") / "x.pt"
    torch.save(state, path)
    try:
        loaded = load_checkpoint(path)
    except DataError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
    else:
        assert type(loaded[key]) is type(value)  # a value of the right type was drawn


@FUZZ
@given(
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=4),
)
def test_damaged_checkpoints_load_or_raise_data_error(checkpoint_bytes, cut, flips):
    data = bytearray(checkpoint_bytes)
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    data = data[: int(cut * len(data))] if cut < 1 else data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "last.pt"
        path.write_bytes(bytes(data))
        try:
            state = load_checkpoint(path)
        except DataError as exc:
            assert str(path) in str(exc) and "\n" not in str(exc)
        else:
            assert state["model_name"] == "student_xs" and isinstance(state["model"], dict)


_SCALARS = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False)
_VALUES = st.recursive(
    _SCALARS | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    [
        "epochs",
        "batch",
        "seed",
        "amp",
        "data",
        "optim",
        "model",
        "loss",
        "distill",
        "deterministic",
        "typo",
    ]
)


@FUZZ
@given(st.dictionaries(_KEYS, _VALUES, max_size=4))
def test_any_config_mapping_parses_or_raises_usage_error(data):
    try:
        cfg = config_from_dict(data, "fuzz.yaml")
    except UsageError as exc:
        assert str(exc).startswith("fuzz.yaml: ") and "\n" not in str(exc)
    else:
        assert isinstance(cfg, TrainConfig)
        assert config_from_dict(config_to_dict(cfg), "again") == cfg  # round trip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(["student_xs", "no_such_model"]),
    args=st.dictionaries(
        st.sampled_from(["width_mult", "upsample", "deep_supervision", "num_classes", "junk"]),
        st.none() | st.booleans() | st.integers(-2, 3) | st.floats(-1, 1) | st.text(max_size=3),
        max_size=2,
    ),
)
def test_checkpoint_model_descriptions_build_or_raise_data_error(name, args):
    state = {"model_name": name, "model_args": args, "num_classes": 3, "model": {}}
    try:
        model_from_checkpoint(state, "fuzz.pt")
    except DataError as exc:
        assert str(exc).startswith("fuzz.pt: ") and "\n" not in str(exc)
