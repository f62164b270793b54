"""The teacher: an attention multi-scale U-Net (registered as ``teacher``, alias
``attention_msunet``).

Default: 5 levels of widths 32..512, 16-channel full-scale projections (80-channel decoder),
dense encoder blocks with asymmetric branches, dilated multi-kernel fusion. Features and their
names are described in :mod:`segcompress.models.msunet`.
"""

from __future__ import annotations

from segcompress.models.base import check_positive
from segcompress.models.msunet import AttentionMSUNet
from segcompress.models.registry import register_model

__all__ = ["teacher"]


@register_model("attention_msunet")
def teacher(
    num_classes: int,
    depth: int = 5,
    base_width: int = 32,
    skip_channels: int = 16,
    deep_supervision: bool = False,
) -> AttentionMSUNet:
    """Widths double per level from ``base_width``; ``skip_channels`` per fused scale."""
    check_positive("base_width", base_width)
    check_positive("depth", depth)
    widths = [base_width * 2**i for i in range(depth)]
    return AttentionMSUNet(
        num_classes,
        widths,
        skip_channels=skip_channels,
        stem_stride=1,
        encoder_blocks=2,
        gate_ratio=2,
        dilation=2,
        upsample="bilinear",
        deep_supervision=deep_supervision,
    )
