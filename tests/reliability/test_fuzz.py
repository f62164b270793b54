"""Property-based fuzzing of the parts that meet untrusted input: pairing files by id, decoding
corrupt image bytes, loading damaged checkpoints and strict config parsing. Whatever the input,
the result is either correct or a ``SegcompressError`` (a one-line message naming the file),
never a crash; "correct" is checked against an oracle (PIL's own decoding, the bytes that were
saved, the registry's own model), and refusing an input the oracle accepts is a failure too.
(Mask colour decoding and the metrics have their own properties in tests/data and
tests/test_metrics.)
"""

from __future__ import annotations

import io
import random
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from segcompress import create_model
from segcompress.config import TrainConfig, config_from_dict, config_to_dict
from segcompress.data.classes import IDD_LEVEL3
from segcompress.data.formats import IddKaggleFormat
from segcompress.data.io import read_image, read_mask
from segcompress.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    model_from_checkpoint,
)
from segcompress.errors import DataError, SegcompressError, UsageError

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


def _encoded(fmt: str, seed: int) -> tuple[np.ndarray, bytes]:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (9, 13, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return pixels, buffer.getvalue()


def _pil_decode(path: Path) -> Image.Image | None:
    """The reference: PIL itself, under the same decompression-bomb rule (None: it fails)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            img.load()
    except Exception:
        return None
    return img


def _assert_names_the_file(exc: DataError, path: Path) -> None:
    message = str(exc)
    assert message.startswith(f"{path}: ") and "\n" not in message, message


@FUZZ
@given(
    fmt=st.sampled_from(["PNG", "JPEG", "BMP"]),
    seed=st.integers(0, 100),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=6),
)
def test_damaged_image_bytes_decode_like_pil_or_raise_data_error(fmt, seed, cut, flips):
    """``read_image`` / ``read_mask(rgb)`` give exactly PIL's pixels when PIL can decode the
    file (in a mode they accept) and a one-line DataError naming the file exactly when not."""
    pixels, encoded = _encoded(fmt, seed)
    data = bytearray(encoded)
    for where, value in flips:
        data[min(int(where * len(data)), len(data) - 1)] = value
    data = data[: int(cut * len(data))] if cut < 1 else data
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x.{fmt.lower()}"
        path.write_bytes(bytes(data))
        reference = _pil_decode(path)
        image_ok = reference is not None and reference.mode != "F"
        mask_ok = reference is not None and reference.mode in ("RGB", "RGBA", "P")
        for read, accepted in ((read_image, image_ok), (lambda p: read_mask(p, "rgb"), mask_ok)):
            if not accepted:
                with pytest.raises(DataError) as caught:
                    read(path)
                _assert_names_the_file(caught.value, path)
                continue
            array = read(path)
            assert array.dtype == np.uint8 and array.shape == (*reference.size[::-1], 3)
            if not reference.mode.startswith("I"):  # 16-bit: see the rescaling test below
                np.testing.assert_array_equal(array, np.asarray(reference.convert("RGB")))
        if bytes(data) == encoded and fmt != "JPEG":  # intact and lossless: the pixels saved
            np.testing.assert_array_equal(read_image(path), pixels)


def test_a_header_claiming_a_huge_image_is_a_data_error(tmp_path):
    """A BMP whose header says 13 x 16777225 pixels (found by the fuzz test above)."""
    data = bytearray(_encoded("BMP", 0)[1])
    data[25] = 1  # the height (bytes 22-25) becomes 9 + 2**24 rows
    path = tmp_path / "huge.bmp"
    path.write_bytes(bytes(data))
    for read in (read_image, lambda p: read_mask(p, "rgb")):
        with pytest.raises(DataError) as caught:
            read(path)
        _assert_names_the_file(caught.value, path)


def test_a_header_claiming_a_bomb_sized_image_is_refused_without_a_warning(tmp_path):
    """Between PIL's warning and error limits (89M-179M pixels) PIL would only warn and try to
    decode; read_image refuses the file at once and no warning reaches the user."""
    data = bytearray(_encoded("BMP", 0)[1])
    data[22:26] = (9 + 2**23).to_bytes(4, "little")  # 13 x 8388617 = 109M pixels
    path = tmp_path / "big.bmp"
    path.write_bytes(bytes(data))
    with warnings.catch_warnings(record=True) as caught_warnings:
        warnings.simplefilter("always")
        with pytest.raises(DataError) as caught:
            read_image(path)
    _assert_names_the_file(caught.value, path)
    assert not [
        w for w in caught_warnings if issubclass(w.category, Image.DecompressionBombWarning)
    ]


@pytest.mark.parametrize(("mode", "fmt"), [("1", "PNG"), ("LA", "PNG"), ("CMYK", "TIFF")])
def test_other_photo_modes_are_converted_as_pil_converts_them(mode, fmt, tmp_path):
    pixels = _encoded("PNG", 3)[0]
    img = Image.fromarray(pixels).convert(mode)
    path = tmp_path / f"x.{fmt.lower()}"
    img.save(path, format=fmt)
    with Image.open(path) as reference:
        assert reference.mode == mode
        expected = np.asarray(reference.convert("RGB"))
    np.testing.assert_array_equal(read_image(path), expected)
    with pytest.raises(DataError) as caught:  # no palette colours in these modes
        read_mask(path, "rgb")
    _assert_names_the_file(caught.value, path)


def test_floating_point_images_are_refused(tmp_path):
    path = tmp_path / "x.tif"
    Image.fromarray(np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)).save(path)
    with pytest.raises(DataError, match="floating-point") as caught:
        read_image(path)
    _assert_names_the_file(caught.value, path)


_SIDES = st.integers(1, 12)
_RGB = st.tuples(_SIDES, _SIDES).flatmap(lambda hw: arrays(np.uint8, (*hw, 3)))


@FUZZ
@given(pixels=_RGB, fmt=st.sampled_from(["PNG", "BMP", "TIFF"]), alpha=st.booleans())
def test_lossless_colour_images_round_trip_exactly(pixels, fmt, alpha):
    """RGB (and RGBA: the alpha channel dropped) images come back pixel for pixel."""
    img = Image.fromarray(pixels)
    if alpha:
        img.putalpha(Image.fromarray(np.full(pixels.shape[:2], 77, np.uint8)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"x.{fmt.lower()}"
        img.save(path, format=fmt)
        np.testing.assert_array_equal(read_image(path), pixels)
        np.testing.assert_array_equal(read_mask(path, "rgb"), pixels)


@FUZZ
@given(
    ids=st.tuples(_SIDES, _SIDES).flatmap(lambda hw: arrays(np.uint8, hw)), palette=st.booleans()
)
def test_grey_and_palette_pngs_round_trip_as_ids_and_colours(ids, palette):
    """An 8-bit PNG keeps its values as class ids; as a photo, grey is repeated to RGB and a
    palette's entries are looked up."""
    colours = np.random.default_rng(int(ids.sum())).integers(0, 256, (256, 3), dtype=np.uint8)
    img = Image.fromarray(ids)  # mode L
    if palette:
        img = img.convert("P")
        img.putpalette(colours.tobytes())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.png"
        img.save(path)
        np.testing.assert_array_equal(read_mask(path, "index"), ids)
        expected = colours[ids] if palette else np.repeat(ids[:, :, None], 3, axis=2)
        np.testing.assert_array_equal(read_image(path), expected)
        if palette:
            np.testing.assert_array_equal(read_mask(path, "rgb"), expected)
        else:  # a grey mask holds no palette colours
            with pytest.raises(DataError) as caught:
                read_mask(path, "rgb")
            _assert_names_the_file(caught.value, path)


@FUZZ
@given(values=st.tuples(_SIDES, _SIDES).flatmap(lambda hw: arrays(np.uint16, hw)))
def test_16_bit_images_keep_their_order_and_use_the_8_bit_range(values):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.png"
        Image.fromarray(values).save(path)
        rgb = read_image(path)
        np.testing.assert_array_equal(read_mask(path, "index"), values)
    assert rgb.dtype == np.uint8 and rgb.shape == (*values.shape, 3)
    grey = rgb[:, :, 0].astype(int)
    assert (rgb == grey[:, :, None]).all()
    peak = int(values.max())
    if peak <= 255:
        np.testing.assert_array_equal(grey, values)  # already 8-bit values: unchanged
    else:
        assert grey.max() == 255  # the used range is spread over 0..255
        order = np.argsort(values.ravel(), kind="stable")
        assert (np.diff(grey.ravel()[order]) >= 0).all()  # brighter is never darker
        assert (grey[values == 0] == 0).all()


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


# What load_checkpoint promises of the keys every checkpoint has, whatever the file held there.
_FIELD_TYPES = {"format_version": int, "model_name": str, "model_args": dict, "model": dict}
_FIELD_TYPES |= {"num_classes": int, "classes": dict}


def _well_formed(state: dict) -> bool:
    version = state["format_version"]
    return all(isinstance(state[k], kind) for k, kind in _FIELD_TYPES.items()) and (
        not isinstance(version, bool) and version <= CHECKPOINT_FORMAT
    )


@FUZZ
@given(
    key=st.sampled_from(sorted(_FIELD_TYPES)),
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
    if _well_formed(state):
        assert load_checkpoint(path) == state  # nothing lost or changed on the way
    else:
        with pytest.raises(DataError, match="not a segcompress checkpoint|newer than") as caught:
            load_checkpoint(path)
        _assert_names_the_file(caught.value, path)


@FUZZ
@given(
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=4),
)
def test_damaged_checkpoints_load_or_raise_data_error(checkpoint_bytes, cut, flips):
    """Truncated: always refused. Intact: loaded as saved. Changed bytes: refused, or loaded
    with every required key of its promised type (a changed weight cannot be told apart)."""
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
            _assert_names_the_file(exc, path)
            assert bytes(data) != checkpoint_bytes, "an intact checkpoint was refused"
            return
    assert not (cut < 1 and not flips), "a truncated checkpoint loaded"
    assert _well_formed(state)
    if bytes(data) == checkpoint_bytes:
        original = torch.load(io.BytesIO(checkpoint_bytes), weights_only=True)
        assert state.keys() == original.keys()
        assert torch.equal(state["model"]["w"], original["model"]["w"])
        assert {k: v for k, v in state.items() if k != "model"} == {
            k: v for k, v in original.items() if k != "model"
        }


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
    """A description the registry can build gives that model with the file's weights; any other
    is a DataError about the file that keeps the registry's reason."""
    try:
        reference = create_model(name, **{"num_classes": 3, **args})
    except SegcompressError as exc:
        state = {"model_name": name, "model_args": args, "num_classes": 3, "model": {}}
        with pytest.raises(DataError, match="cannot build") as caught:
            model_from_checkpoint(state, "fuzz.pt")
        assert caught.value.args[0].startswith("fuzz.pt: ") and str(exc) in str(caught.value)
        return
    weights = {k: v + 1 if v.is_floating_point() else v for k, v in reference.state_dict().items()}
    state = {"model_name": name, "model_args": args, "num_classes": 3, "model": weights}
    if reference.num_classes != 3:  # the arguments override the file's class count
        with pytest.raises(DataError, match="fuzz.pt: checkpoint has 3 classes"):
            model_from_checkpoint(state, "fuzz.pt")
        return
    model = model_from_checkpoint(state, "fuzz.pt")
    assert model.model_name == reference.model_name and model.model_args == reference.model_args
    assert not model.training
    loaded = model.state_dict()
    assert loaded.keys() == weights.keys()
    assert all(torch.equal(loaded[k], weights[k]) for k in weights)
    with pytest.raises(DataError, match="fuzz.pt: weights do not fit"):
        model_from_checkpoint({**state, "model": {}}, "fuzz.pt")
