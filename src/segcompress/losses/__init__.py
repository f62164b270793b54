"""Training losses: segmentation losses with an ignore index, and distillation losses."""

from __future__ import annotations

from segcompress.losses.distillation import (
    AttentionTransfer,
    ChannelWiseDistillationLoss,
    DistillationLoss,
    DISTLoss,
    FeatureDistillation,
    PixelKDLoss,
    attention_map,
    default_feature_pairs,
    freeze_teacher,
)
from segcompress.losses.segmentation import (
    DEFAULT_LOSS_SPEC,
    LOSS_NAMES,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    LovaszSoftmaxLoss,
    SegmentationLoss,
    build_segmentation_loss,
)

__all__ = [
    "DEFAULT_LOSS_SPEC",
    "LOSS_NAMES",
    "AttentionTransfer",
    "ChannelWiseDistillationLoss",
    "CrossEntropyLoss",
    "DISTLoss",
    "DiceLoss",
    "DistillationLoss",
    "FeatureDistillation",
    "FocalLoss",
    "LovaszSoftmaxLoss",
    "PixelKDLoss",
    "SegmentationLoss",
    "attention_map",
    "build_segmentation_loss",
    "default_feature_pairs",
    "freeze_teacher",
]
