"""The teacher: an attention multi-scale U-Net (registered as ``teacher``, alias
``attention_msunet``).

Default: 5 levels of widths 32..512, 16-channel full-scale projections (80-channel decoder),
dense encoder blocks with asymmetric branches, dilated multi-kernel fusion. Features and their
names are described in :mod:`segcompress.models.msunet`.

``encoder="efficientnet_lite2"`` (or lite0/lite1) builds the same decoder on an EfficientNet-Lite
encoder (:mod:`segcompress.models.encoders`); ``create_model(..., pretrained=True)`` then starts
it from ImageNet. ``depth`` and ``base_width`` are the encoder's then.
"""

from __future__ import annotations

from segcompress.errors import UsageError
from segcompress.models.base import check_positive
from segcompress.models.encoders import create_encoder
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
    encoder: str | None = None,
    encoder_padding: str = "same",
) -> AttentionMSUNet:
    """Widths double per level from ``base_width``; ``skip_channels`` per fused scale.
    ``encoder``: an ImageNet encoder instead of the convolution one (its padding:
    ``encoder_padding``, one of ``same``/``symmetric``)."""
    if encoder is not None:
        if depth != 5:
            raise UsageError(f"encoder {encoder} has 5 levels; depth={depth} cannot apply")
        return AttentionMSUNet(
            num_classes,
            [],
            skip_channels=skip_channels,
            gate_ratio=2,
            dilation=2,
            deep_supervision=deep_supervision,
            encoder=create_encoder(encoder, encoder_padding),
        )
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
