"""Building blocks: ``resize`` gives what resampling to the target size gives."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from segcompress.models.blocks import resize


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(5, 7), (10, 14), (20, 28), (40, 56), (12, 15), (10, 21)])
def test_resize_equals_resampling_to_the_target_size(mode, size):
    """Whole multiples (1, 2, 4, 8) take the fixed-scale path, the others (12x15, and 10x21
    with different factors per side) the target-size one; every result must be torch's
    size-based interpolate, value for value."""
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7)
    align = False if mode == "bilinear" else None
    expected = F.interpolate(x, size=size, mode=mode, align_corners=align)
    torch.testing.assert_close(resize(x, torch.empty(1, 1, *size), mode), expected, rtol=0, atol=0)
