"""Peer models from other libraries, wrapped in the segcompress model contract for comparison.

``monai_attention_unet`` is MONAI's ``AttentionUnet`` (Oktay et al., 2018), the implementation
most users would reach for instead of our teacher. MONAI is an optional extra
(``pip install 'segcompress[monai]'``), imported only when this model is built. Its layers are
MONAI's own (including the InstanceNorm MONAI puts in each decoder merge); the wrapper only pads
the input, folds BatchNorm for inference like our models do, and declares no intermediate
features, so it trains, exports and evaluates like any model but cannot be a feature-KD partner.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from segcompress.errors import UsageError
from segcompress.models.base import SegmentationModel, check_positive
from segcompress.models.registry import register_model

__all__ = ["MonaiAttentionUnet", "monai_attention_unet"]


class MonaiAttentionUnet(SegmentationModel):
    """``monai.networks.nets.AttentionUnet`` (2-D) with stride-2 levels and doubling widths."""

    def __init__(self, num_classes: int, widths: list[int], dropout: float) -> None:
        try:
            from monai.networks.nets import AttentionUnet
        except ImportError as exc:
            raise UsageError(
                "model monai_attention_unet needs MONAI: pip install 'segcompress[monai]'"
            ) from exc
        super().__init__(num_classes, size_divisor=2 ** (len(widths) - 1))
        self.net = AttentionUnet(
            spatial_dims=2,
            in_channels=3,
            out_channels=num_classes,
            channels=widths,
            strides=[2] * (len(widths) - 1),
            dropout=dropout,
        )

    def forward_features(self, x: torch.Tensor, with_aux: bool) -> dict[str, torch.Tensor]:
        return {"logits": self.net(x)}

    def reparameterize(self) -> None:
        """Fold each BatchNorm into the convolution before it (called by ``fuse``, eval only).

        MONAI places BN in two ways: inside a ``Convolution``'s ``adn`` block, and as the next
        item of an ``nn.Sequential`` after a conv-only ``Convolution`` (attention gates).
        """
        for module in self.net.modules():
            conv, adn = getattr(module, "conv", None), getattr(module, "adn", None)
            norm = getattr(adn, "N", None)
            if isinstance(conv, (nn.Conv2d, nn.ConvTranspose2d)) and isinstance(
                norm, nn.BatchNorm2d
            ):
                module.conv = _fold(conv, norm)
                adn.N = nn.Identity()
            if isinstance(module, nn.Sequential):
                for i, (first, second) in enumerate(itertools.pairwise(module)):
                    conv = getattr(first, "conv", None)
                    if isinstance(second, nn.BatchNorm2d) and isinstance(conv, nn.Conv2d):
                        first.conv = _fold(conv, second)
                        module[i + 1] = nn.Identity()


def _fold(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> nn.Module:
    return fuse_conv_bn_eval(conv, bn, transpose=isinstance(conv, nn.ConvTranspose2d))


@register_model("monai_attunet")
def monai_attention_unet(
    num_classes: int, depth: int = 5, base_width: int = 32, dropout: float = 0.0
) -> MonaiAttentionUnet:
    """MONAI AttentionUnet; widths double per level from ``base_width`` (7.9M params at 32)."""
    check_positive("base_width", base_width)
    if isinstance(depth, bool) or not isinstance(depth, int) or not 2 <= depth <= 6:
        raise UsageError(f"depth must be between 2 and 6, got {depth!r}")
    return MonaiAttentionUnet(num_classes, [base_width * 2**i for i in range(depth)], dropout)
