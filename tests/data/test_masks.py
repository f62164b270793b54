from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segcompress.data.classes import IDD_LEVEL1, IDD_LEVEL3
from segcompress.data.masks import MaskDecoder, pack_rgb
from segcompress.errors import DataError

from .builders import ids_to_rgb


def loop_reference(rgb: np.ndarray, colors, void=(0, 0, 0)) -> np.ndarray:
    """The earlier scripts' way: one np.all per colour."""
    out = np.full(rgb.shape[:2], 254, dtype=np.uint8)
    for i, c in enumerate(colors):
        out[np.all(rgb == np.array(c, dtype=np.uint8), axis=-1)] = i
    out[np.all(rgb == np.array(void, dtype=np.uint8), axis=-1)] = 255
    return out


def test_every_palette_colour_and_void_decode():
    ids = np.array([[*range(26), 255]], dtype=np.uint8)
    decoded = MaskDecoder(IDD_LEVEL3, "rgb").decode(ids_to_rgb(ids))
    np.testing.assert_array_equal(decoded.ids, ids)
    assert decoded.unknown_pixels == 0


def test_void_as_class_keeps_black_as_26():
    ids = np.array([[0, 25, 255]], dtype=np.uint8)
    decoded = MaskDecoder(IDD_LEVEL3.with_void_class(), "rgb").decode(ids_to_rgb(ids))
    np.testing.assert_array_equal(decoded.ids, [[0, 25, 26]])


def test_unknown_colours_become_ignore_and_are_counted():
    rgb = ids_to_rgb(np.zeros((20, 20), dtype=np.uint8))
    rgb[0, 0] = (1, 2, 3)  # 1 pixel of 400 = 0.25%
    decoded = MaskDecoder(IDD_LEVEL3, "rgb").decode(rgb, "m.png")
    assert decoded.unknown_pixels == 1
    assert decoded.ids[0, 0] == 255
    assert decoded.top_unknown == (((1, 2, 3), 1),)


def test_too_many_unknown_colours_raise_with_file_and_colours():
    rgb = ids_to_rgb(np.zeros((10, 10), dtype=np.uint8))
    rgb[:2] = (9, 9, 9)
    rgb[2, :3] = (7, 7, 7)
    with pytest.raises(DataError, match=r"frame\.png: 23\.0% .*\(9,9,9\): 20 px, \(7,7,7\): 3 px"):
        MaskDecoder(IDD_LEVEL3, "rgb").decode(rgb, "frame.png")


def test_matches_the_per_colour_loop_on_noisy_masks():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 26, size=(64, 80)).astype(np.uint8)
    rgb = ids_to_rgb(ids)
    noise = rng.random((64, 80)) < 0.005  # JPEG-like stray colours
    rgb[noise] = rng.integers(0, 256, size=(int(noise.sum()), 3))
    ref = loop_reference(rgb, IDD_LEVEL3.colors)
    decoded = MaskDecoder(IDD_LEVEL3, "rgb").decode(rgb)
    np.testing.assert_array_equal(decoded.ids, np.where(ref == 254, 255, ref))
    assert decoded.unknown_pixels == int((ref == 254).sum())


def test_index_masks_and_16_bit_values():
    dec = MaskDecoder(IDD_LEVEL1, "index")
    ids = np.array([[0, 6, 255, 7]], dtype=np.uint8)
    with pytest.raises(DataError):  # 25% unknown
        dec.decode(ids, "x.png")
    out = MaskDecoder(IDD_LEVEL1, "index", max_unknown=1.0).decode(ids)
    np.testing.assert_array_equal(out.ids, [[0, 6, 255, 255]])
    wide = np.array([[0, 1000, 3]], dtype=np.int64)
    out = MaskDecoder(IDD_LEVEL1, "index", max_unknown=1.0).decode(wide)
    np.testing.assert_array_equal(out.ids, [[0, 255, 3]])
    assert out.top_unknown == (((1000,), 1),)


def test_rgb_decoder_refuses_a_grey_mask():
    with pytest.raises(DataError, match="RGB"):
        MaskDecoder(IDD_LEVEL3, "rgb").decode(np.zeros((4, 4), dtype=np.uint8), "g.png")


def test_pack_rgb():
    rgb = np.array([[[1, 2, 3], [255, 255, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(pack_rgb(rgb), [[0x010203, 0xFFFFFF]])


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, 26))
)
def test_property_encode_then_decode_is_identity(ids):
    ids = np.where(ids == 26, 255, ids).astype(np.uint8)
    decoded = MaskDecoder(IDD_LEVEL3, "rgb").decode(ids_to_rgb(ids))
    np.testing.assert_array_equal(decoded.ids, ids)
    assert decoded.unknown_pixels == 0


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 8), st.integers(1, 8), st.just(3))))
def test_property_any_colours_match_the_loop(rgb):
    ref = loop_reference(rgb, IDD_LEVEL3.colors)
    decoded = MaskDecoder(IDD_LEVEL3, "rgb", max_unknown=1.0).decode(rgb)
    np.testing.assert_array_equal(decoded.ids, np.where(ref == 254, 255, ref))
    assert decoded.unknown_pixels == int((ref == 254).sum())
