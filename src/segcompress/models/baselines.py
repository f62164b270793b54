"""Baselines for honest comparison: a plain U-Net and a MACU-Net reimplementation.

``unet`` (Ronneberger et al., 2015): two 3x3 Conv-BN-ReLU per level, max-pool down, 2x2
transposed-convolution up, concatenated same-scale skips. BN and 'same' padding are the usual
modern changes to the paper's valid, BN-free convolutions (so output size equals input size).

``macunet`` (Li et al., 2021, "MACU-Net for Semantic Segmentation of Fine-Resolution Remotely
Sensed Images"), written from the paper's description: a U-Net whose convolutions are asymmetric
convolution blocks (3x3 + 1x3 + 3x1, each batch-normalised, summed), multi-scale skip connections
that concatenate the encoder maps of every scale resampled to the decoder level's size, and a
channel attention block that re-weights that concatenation before it meets the upsampled decoder
signal. Details the paper leaves open are choices made here: the multi-scale concatenation is
projected by a 1x1 Conv-BN-ReLU to the level's width, channel attention is CBAM-style (average and
max pooled descriptors, shared MLP, reduction 16), up-sampling is a 2x2 transposed convolution.

Features: ``enc1..enc<depth>`` and ``dec1..dec<depth-1>`` (see :mod:`segcompress.models.base`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from segcompress.errors import UsageError
from segcompress.models.base import SegmentationModel, check_positive
from segcompress.models.blocks import ChannelAttention, ConvBNAct, MultiKernelBlock, resize
from segcompress.models.msunet import MAX_DEPTH, MIN_DEPTH
from segcompress.models.registry import register_model

__all__ = ["MACUNet", "UNet", "macunet", "unet"]


def _widths(depth: int, base_width: int) -> list[int]:
    check_positive("base_width", base_width)
    if isinstance(depth, bool) or not isinstance(depth, int) or not MIN_DEPTH <= depth <= MAX_DEPTH:
        raise UsageError(f"depth must be between {MIN_DEPTH} and {MAX_DEPTH}, got {depth!r}")
    return [base_width * 2**i for i in range(depth)]


def _feature_info(widths: list[int]) -> list[dict[str, int | str]]:
    depth = len(widths)
    enc = [{"name": f"enc{i + 1}", "channels": w, "stride": 2**i} for i, w in enumerate(widths)]
    dec = [{"name": f"dec{i + 1}", "channels": widths[i], "stride": 2**i} for i in range(depth - 1)]
    return enc + dec


class _UNetBase(SegmentationModel):
    """Shared U-Net skeleton: encoder ``enc<l>``, decoder ``dec<l>`` fed by ``up<l>``."""

    def __init__(self, num_classes: int, widths: list[int]) -> None:
        super().__init__(num_classes, size_divisor=2 ** (len(widths) - 1))
        self.depth = len(widths)
        self.feature_info = _feature_info(widths)
        for lvl in range(1, self.depth):
            setattr(self, f"up{lvl}", nn.ConvTranspose2d(widths[lvl], widths[lvl - 1], 2, 2))
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def skip(self, lvl: int, enc: dict[int, torch.Tensor]) -> torch.Tensor:
        """The skip tensor that decoder level ``lvl`` concatenates with the upsampled signal."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor, with_aux: bool) -> dict[str, torch.Tensor]:
        feats: dict[str, torch.Tensor] = {}
        enc: dict[int, torch.Tensor] = {}
        for lvl in range(1, self.depth + 1):
            src = x if lvl == 1 else F.max_pool2d(enc[lvl - 1], 2)
            enc[lvl] = feats[f"enc{lvl}"] = getattr(self, f"enc{lvl}")(src)
        y = enc[self.depth]
        for lvl in range(self.depth - 1, 0, -1):
            up = getattr(self, f"up{lvl}")(y)
            y = feats[f"dec{lvl}"] = getattr(self, f"dec{lvl}")(
                torch.cat([self.skip(lvl, enc), up], dim=1)
            )
        feats["logits"] = self.head(y)
        return feats


class UNet(_UNetBase):
    """Plain U-Net (Ronneberger et al., 2015) with BN and padded convolutions."""

    model_name = "unet"

    def __init__(self, num_classes: int, widths: list[int]) -> None:
        super().__init__(num_classes, widths)
        in_ch = 3
        for lvl, w in enumerate(widths, start=1):
            setattr(self, f"enc{lvl}", nn.Sequential(ConvBNAct(in_ch, w), ConvBNAct(w, w)))
            in_ch = w
        for lvl in range(1, self.depth):
            w = widths[lvl - 1]
            setattr(self, f"dec{lvl}", nn.Sequential(ConvBNAct(2 * w, w), ConvBNAct(w, w)))

    def skip(self, lvl: int, enc: dict[int, torch.Tensor]) -> torch.Tensor:
        return enc[lvl]


class MultiScaleSkip(nn.Module):
    """MACU-Net skip: encoder maps of levels 1..depth-1 resampled to this level, concatenated,
    projected to ``out_channels`` and re-weighted by channel attention."""

    def __init__(self, level: int, widths: list[int], out_channels: int) -> None:
        super().__init__()
        self.level = level
        self.sources = len(widths) - 1
        self.proj = ConvBNAct(sum(widths[: self.sources]), out_channels, 1)
        self.attention = ChannelAttention(out_channels)

    def forward(self, enc: dict[int, torch.Tensor]) -> torch.Tensor:
        parts = []
        for k in range(1, self.sources + 1):
            if k < self.level:
                parts.append(F.max_pool2d(enc[k], 2 ** (self.level - k)))
            elif k == self.level:
                parts.append(enc[k])
            else:
                parts.append(resize(enc[k], enc[self.level], "bilinear"))
        return self.attention(self.proj(torch.cat(parts, dim=1)))


class MACUNet(_UNetBase):
    """MACU-Net: asymmetric convolution blocks, multi-scale skips, channel attention."""

    model_name = "macunet"

    def __init__(self, num_classes: int, widths: list[int]) -> None:
        super().__init__(num_classes, widths)
        in_ch = 3
        for lvl, w in enumerate(widths, start=1):
            setattr(
                self, f"enc{lvl}", nn.Sequential(MultiKernelBlock(in_ch, w), MultiKernelBlock(w, w))
            )
            in_ch = w
        for lvl in range(1, self.depth):
            w = widths[lvl - 1]
            setattr(self, f"skip{lvl}", MultiScaleSkip(lvl, widths, w))
            setattr(
                self, f"dec{lvl}", nn.Sequential(MultiKernelBlock(2 * w, w), MultiKernelBlock(w, w))
            )

    def skip(self, lvl: int, enc: dict[int, torch.Tensor]) -> torch.Tensor:
        return getattr(self, f"skip{lvl}")(enc)


@register_model()
def unet(num_classes: int, depth: int = 5, base_width: int = 32) -> UNet:
    """Plain U-Net; widths double per level from ``base_width``."""
    return UNet(num_classes, _widths(depth, base_width))


@register_model()
def macunet(num_classes: int, depth: int = 5, base_width: int = 32) -> MACUNet:
    """MACU-Net reimplementation; widths double per level from ``base_width``."""
    return MACUNet(num_classes, _widths(depth, base_width))
