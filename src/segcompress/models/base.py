"""The contract every segcompress model follows (teacher, students, baselines).

* ``model(x)`` -> logits ``[N, num_classes, H, W]`` for any ``H x W`` and batch size. Inputs are
  zero-padded at the bottom/right to a multiple of ``model.size_divisor`` and the result cropped
  back; the padding is computed from the input's shape with tensor ops, so ONNX export keeps
  height and width dynamic.
* ``model(x, return_features=True)`` -> ``dict[str, Tensor]`` with ``"logits"``, every feature named
  in ``model.feature_info`` and, for models with deep supervision enabled, auxiliary logits
  ``"aux<l>"`` (at input resolution, like ``"logits"``).
* ``model.feature_info`` -> list of ``{"name": str, "channels": int, "stride": int}``. Feature
  names are stable: ``"enc<l>"`` (encoder level l, l = 1 is the shallowest), ``"dec<l>"``
  (decoder output at level l) and ``"att<l>"`` (attention coefficients in [0, 1], 1 channel, for
  models with attention gates). A feature with stride ``s`` has spatial size
  ``ceil(H / s) x ceil(W / s)`` whatever the model's padding, so teacher and student features at
  the same stride line up pixel for pixel (distillation pairs them through adapters). Peers
  wrapped from other libraries (``monai_attention_unet``) declare no features: an empty list.
* ``model.model_name`` / ``model.model_args``: the registry name and the plain-typed arguments that
  rebuild the model with ``create_model(model_name, **model_args)``.
* ``model.export_args``: the model arguments a trained model may change at export (none by
  default). Every other argument shapes what the weights were trained to compute, even one
  that holds no weights.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from segcompress.errors import UsageError

__all__ = ["SegmentationModel", "check_positive"]


def check_positive(name: str, value: Any) -> int:
    """Validate an integer argument a user passes through ``create_model``."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise UsageError(f"{name} must be a positive integer, got {value!r}")
    return value


class SegmentationModel(nn.Module):
    """Base class: padding to ``size_divisor``, cropping, named features, fuse()."""

    model_name: str = ""
    export_args: frozenset[str] = frozenset()

    def __init__(self, num_classes: int, size_divisor: int) -> None:
        super().__init__()
        self.num_classes = check_positive("num_classes", num_classes)
        self.size_divisor = size_divisor
        self.model_args: dict[str, Any] = {}
        self.feature_info: list[dict[str, Any]] = []

    def forward_features(self, x: torch.Tensor, with_aux: bool) -> dict[str, torch.Tensor]:
        """Features of a padded input (sides divisible by ``size_divisor``): every feature in
        ``feature_info``, ``"logits"`` and (when ``with_aux``) ``"aux<l>"``, the logits at input
        resolution."""
        raise NotImplementedError

    def forward(
        self, x: torch.Tensor, return_features: bool = False
    ) -> torch.Tensor | dict[str, torch.Tensor]:
        if x.dim() != 4 or x.shape[1] != 3:
            raise UsageError(f"expected an image batch [N, 3, H, W], got shape {list(x.shape)}")
        h, w = x.shape[-2], x.shape[-1]
        d = self.size_divisor
        # Always pad (possibly by zero) so export does not branch on the input's size.
        x = F.pad(x, [0, (d - w % d) % d, 0, (d - h % d) % d])
        feats = self.forward_features(x, with_aux=return_features)
        if not return_features:
            return feats["logits"][:, :, :h, :w]
        strides = {info["name"]: info["stride"] for info in self.feature_info}
        out = {}
        for name, value in feats.items():
            s = strides.get(name, 1)
            out[name] = value[:, :, : (h + s - 1) // s, : (w + s - 1) // s]
        return out

    def fuse(self) -> SegmentationModel:
        """Re-parameterize in place for inference (see :func:`segcompress.models.fuse`)."""
        from segcompress.models.fuse import fuse

        return fuse(self, inplace=True)
