"""Attention multi-scale U-Net: the architecture shared by the teacher and the students.

Encoder level ``l`` (``enc<l>``, stride ``stem_stride * 2**(l-1)``) max-pools the level above and
applies ``encoder_blocks`` convolution blocks. Decoder level ``l`` (``dec<l>``, l = depth-1 .. 1)
fuses, UNet 3+ style, every scale at once:

* shallower encoder maps ``enc<k>``, k < l: max-pooled down to level l, then projected;
* the same-scale encoder map ``enc<l>``, passed through an additive attention gate driven by the
  decoder signal from the level below (``dec<l+1>``, or the bottleneck ``enc<depth>``), then
  projected;
* deeper maps (``dec<k>`` for k > l, and the bottleneck ``enc<depth>``): projected at their own
  resolution and upsampled (projecting first is ``4**(k-l)`` times cheaper than the other order).

Each projection is a 3x3 Conv-BN-ReLU to ``skip_channels``; the concatenation
(``depth * skip_channels`` channels) goes through a :class:`MultiKernelBlock`. A 1x1 head turns
``dec1`` into logits, upsampled bilinearly to the input resolution when ``stem_stride`` is 2.
With ``deep_supervision`` a 1x1 head on every ``dec<l>``, l >= 2, gives ``aux<l>`` logits.

With ``encoder`` (a :class:`~segcompress.models.encoders.PretrainedEncoder`) its five maps
replace the convolution encoder: ``widths`` are its channels and the strides 2..32, as with
``stem_stride=2``.

Features (``return_features=True``): ``enc1..enc<depth>``, ``dec1..dec<depth-1>``,
``att1..att<depth-1>`` (gate coefficients), ``logits`` and, with deep supervision, ``aux<l>``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from segcompress.errors import UsageError
from segcompress.models.base import SegmentationModel, check_positive
from segcompress.models.blocks import (
    UPSAMPLE_MODES,
    AttentionGate,
    ConvBNAct,
    MultiKernelBlock,
    resize,
)
from segcompress.models.encoders import PretrainedEncoder

__all__ = ["MAX_DEPTH", "MIN_DEPTH", "AttentionMSUNet", "DecoderLevel", "check_level_widths"]

MIN_DEPTH = 3
MAX_DEPTH = 6


def check_level_widths(widths: Sequence[int]) -> int:
    """The depth of an encoder with these widths per level, checked: the full-scale U-Nets
    here (this one and the INT8 student) refuse the same depths and widths alike."""
    depth = len(widths)
    if not MIN_DEPTH <= depth <= MAX_DEPTH:
        raise UsageError(f"depth must be between {MIN_DEPTH} and {MAX_DEPTH}, got {depth}")
    for i, w in enumerate(widths):
        check_positive(f"width of level {i + 1}", w)
    return depth


class DecoderLevel(nn.Module):
    """One full-scale decoder level: gate, per-source projections, multi-kernel fusion."""

    def __init__(
        self,
        level: int,
        widths: Sequence[int],
        skip_channels: int,
        *,
        gate_channels: int,
        dilation: int,
        upsample: str,
    ) -> None:
        super().__init__()
        depth = len(widths)
        self.level = level
        self.depth = depth
        self.upsample = upsample
        fused_channels = depth * skip_channels
        below = fused_channels if level + 1 < depth else widths[-1]
        self.gate = AttentionGate(widths[level - 1], below, gate_channels, mode=upsample)
        self.proj = nn.ModuleDict()
        for k in range(1, depth + 1):
            if k <= level or k == depth:
                name, in_ch = f"enc{k}", widths[k - 1]
            else:
                name, in_ch = f"dec{k}", fused_channels
            self.proj[name] = ConvBNAct(in_ch, skip_channels, 3)
        self.fusion = MultiKernelBlock(fused_channels, fused_channels, dilation=dilation)

    def forward(
        self, enc: dict[int, torch.Tensor], dec: dict[int, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``enc``/``dec`` map level -> tensor (``dec[depth]`` is the bottleneck); returns the
        fused map and the gate's coefficients."""
        lvl = self.level
        parts = []
        for k in range(1, self.depth + 1):
            if k < lvl:
                src = F.max_pool2d(enc[k], 2 ** (lvl - k))
                parts.append(self.proj[f"enc{k}"](src))
            elif k == lvl:
                alpha = self.gate.coefficients(enc[k], dec[k + 1])
                parts.append(self.proj[f"enc{k}"](enc[k] * alpha))
            else:
                name = f"enc{k}" if k == self.depth else f"dec{k}"
                parts.append(resize(self.proj[name](dec[k]), enc[lvl], self.upsample))
        return self.fusion(torch.cat(parts, dim=1)), alpha


class AttentionMSUNet(SegmentationModel):
    """Attention-gated U-Net with UNet 3+ full-scale skips and multi-kernel fusion blocks."""

    model_name = "attention_msunet"

    def __init__(
        self,
        num_classes: int,
        widths: Sequence[int],
        *,
        skip_channels: int,
        stem_stride: int = 1,
        encoder_blocks: int = 2,
        gate_ratio: int = 2,
        dilation: int = 2,
        upsample: str = "bilinear",
        deep_supervision: bool = False,
        encoder: PretrainedEncoder | None = None,
    ) -> None:
        if encoder is not None:
            widths, stem_stride = encoder.channels, 2
        depth = check_level_widths(widths)
        check_positive("skip_channels", skip_channels)
        check_positive("encoder_blocks", encoder_blocks)
        check_positive("gate_ratio", gate_ratio)
        if stem_stride not in (1, 2):
            raise UsageError(f"stem_stride must be 1 or 2, got {stem_stride!r}")
        if upsample not in UPSAMPLE_MODES:
            raise UsageError(
                f"upsample must be one of {', '.join(UPSAMPLE_MODES)}, got {upsample!r}"
            )
        super().__init__(num_classes, size_divisor=stem_stride * 2 ** (depth - 1))
        self.depth = depth
        self.stem_stride = stem_stride
        self.deep_supervision = deep_supervision
        self.encoder = encoder
        in_ch = 3
        for lvl, width in enumerate(widths if encoder is None else [], start=1):
            blocks: list[nn.Module] = []
            if lvl == 1:
                # The first convolution sees 3 channels: a plain conv (optionally strided) is
                # enough there, and a strided stem halves every later cost.
                blocks.append(ConvBNAct(in_ch, width, 3, stride=stem_stride))
                in_ch = width
            blocks += [
                MultiKernelBlock(in_ch if i == 0 else width, width, dilation=0)
                for i in range(encoder_blocks)
            ]
            setattr(self, f"enc{lvl}", nn.Sequential(*blocks))
            in_ch = width
        fused_channels = depth * skip_channels
        for lvl in range(depth - 1, 0, -1):
            level = DecoderLevel(
                lvl,
                widths,
                skip_channels,
                gate_channels=max(widths[lvl - 1] // gate_ratio, 1),
                dilation=dilation,
                upsample=upsample,
            )
            setattr(self, f"dec{lvl}", level)
        self.head = nn.Conv2d(fused_channels, num_classes, 1)
        if deep_supervision:
            for lvl in range(2, depth):
                setattr(self, f"aux{lvl}", nn.Conv2d(fused_channels, num_classes, 1))
        strides = [stem_stride * 2**i for i in range(depth)]
        self.feature_info = (
            [
                {"name": f"enc{lvl}", "channels": widths[lvl - 1], "stride": strides[lvl - 1]}
                for lvl in range(1, depth + 1)
            ]
            + [
                {"name": f"dec{lvl}", "channels": fused_channels, "stride": strides[lvl - 1]}
                for lvl in range(1, depth)
            ]
            + [
                {"name": f"att{lvl}", "channels": 1, "stride": strides[lvl - 1]}
                for lvl in range(1, depth)
            ]
        )

    def forward_features(self, x: torch.Tensor, with_aux: bool) -> dict[str, torch.Tensor]:
        feats: dict[str, torch.Tensor] = {}
        enc: dict[int, torch.Tensor] = {}
        if self.encoder is not None:
            enc = dict(enumerate(self.encoder(x), start=1))
        for lvl in range(1, self.depth + 1):
            if self.encoder is None:
                src = x if lvl == 1 else F.max_pool2d(enc[lvl - 1], 2)
                enc[lvl] = getattr(self, f"enc{lvl}")(src)
            feats[f"enc{lvl}"] = enc[lvl]
        dec: dict[int, torch.Tensor] = {self.depth: enc[self.depth]}
        for lvl in range(self.depth - 1, 0, -1):
            dec[lvl], feats[f"att{lvl}"] = getattr(self, f"dec{lvl}")(enc, dec)
            feats[f"dec{lvl}"] = dec[lvl]
        # Logits are always upsampled bilinearly: smooth class boundaries at input resolution.
        feats["logits"] = resize(self.head(dec[1]), x, "bilinear")
        if with_aux and self.deep_supervision:
            for lvl in range(2, self.depth):
                aux = getattr(self, f"aux{lvl}")(dec[lvl])
                feats[f"aux{lvl}"] = resize(aux, x, "bilinear")
        return feats
