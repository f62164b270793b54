"""Segmentation models: the attention multi-scale U-Net teacher, its students and baselines.

Public API: :func:`create_model`, :func:`list_models`, :func:`register_model`, :func:`fuse`.
The model contract (``return_features``, ``feature_info``, ``model_name``/``model_args``) is
documented in :mod:`segcompress.models.base`; feature names per architecture in
:mod:`segcompress.models.msunet` and :mod:`segcompress.models.baselines`.
"""

from __future__ import annotations

# The model files register their entries on import; the registry itself imports none of them.
from segcompress.models import baselines, int8_student, peers, student, teacher  # noqa: F401
from segcompress.models.base import SegmentationModel
from segcompress.models.fuse import fuse, is_fused
from segcompress.models.registry import create_model, list_models, register_model

__all__ = [
    "SegmentationModel",
    "create_model",
    "fuse",
    "is_fused",
    "list_models",
    "register_model",
]
