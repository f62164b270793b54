from __future__ import annotations

import numpy as np
import pytest

from segcompress.data.classes import IDD_LEVEL3
from segcompress.data.formats import DataSpec
from segcompress.data.stats import ClassStats, class_weights, split_stats
from segcompress.errors import UsageError

from .builders import make_kaggle


def test_counts_match_numpy_at_mask_resolution(tmp_path):
    truth = make_kaggle(tmp_path, "train", ["1", "2", "3"], shape=(24, 40))
    stats = split_stats(DataSpec(root=str(tmp_path)), "train", cache_dir=tmp_path / "c")
    all_ids = np.concatenate([t.ravel() for t in truth.values()])
    expected = np.bincount(all_ids, minlength=256)
    np.testing.assert_array_equal(stats.pixels, expected[:26])
    assert stats.ignored == expected[255] and stats.images == 3
    presence = sum(
        np.where(np.bincount(t.ravel(), minlength=256)[:26] > 0, t.size, 0) for t in truth.values()
    )
    np.testing.assert_array_equal(stats.image_pixels, presence)
    # The second call reads the cached statistics (the masks are unchanged).
    cached = list((tmp_path / "c/stats").glob("*.json"))
    assert len(cached) == 1
    again = split_stats(DataSpec(root=str(tmp_path)), "train", cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(again.pixels, stats.pixels)


def _stats(pixels, image_pixels) -> ClassStats:
    from segcompress.data.classes import ClassTable

    table = ClassTable(names=tuple(f"c{i}" for i in range(len(pixels))))
    return ClassStats(table, np.array(pixels), np.array(image_pixels), 0, 1)


def test_median_frequency_weights_by_formula():
    # freq = [100/400, 10/200, 50/100] = [0.25, 0.05, 0.5]; median 0.25; class 3 never occurs.
    stats = _stats([100, 10, 50, 0], [400, 200, 100, 0])
    np.testing.assert_allclose(class_weights(stats, "median-freq"), [1.0, 5.0, 0.5, 0.0])


def test_inverse_log_weights_by_formula():
    stats = _stats([300, 100, 0], [400, 400, 0])
    shares = np.array([0.75, 0.25, 0.0])
    np.testing.assert_allclose(
        class_weights(stats, "inverse-log"), 1 / np.log(1.02 + shares), rtol=1e-6
    )


def test_unknown_method():
    with pytest.raises(UsageError, match="median-freq"):
        class_weights(_stats([1], [1]), "sqrt")


def test_shares_sum_to_one():
    stats = _stats([3, 1], [4, 4])
    assert stats.shares.sum() == pytest.approx(1.0)
    assert stats.to_dict()["classes"][0]["share"] == pytest.approx(0.75)
    assert IDD_LEVEL3.num_classes == 26
