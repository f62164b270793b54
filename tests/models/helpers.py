"""Helpers for model tests: every registered model, built small so tests stay fast.

Tests parametrized over ``REGISTERED`` cover a newly registered model automatically; ``SMALL``
shrinks the big defaults (any model not listed is built with its defaults).
"""

from __future__ import annotations

from typing import Any

import torch

from segcompress import create_model, list_models
from segcompress.models import SegmentationModel

REGISTERED = list_models()
# Peers wrapped from other libraries: they declare no intermediate features.
FOREIGN = {"monai_attention_unet"}
NUM_CLASSES = 5
SMALL: dict[str, dict[str, Any]] = {
    "teacher": {"base_width": 4, "skip_channels": 4},
    "unet": {"base_width": 4},
    "macunet": {"base_width": 4},
    "monai_attention_unet": {"base_width": 4},
}


def small_model(name: str, **kwargs: Any) -> SegmentationModel:
    """The registered model ``name`` at test size, seeded so results are reproducible."""
    torch.manual_seed(0)
    return create_model(name, num_classes=NUM_CLASSES, **{**SMALL.get(name, {}), **kwargs})


def randomize_bn(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm non-trivial statistics and affine parameters, so folding them is
    actually exercised (fresh BN layers are the identity in eval mode)."""
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=gen) * 0.2)
