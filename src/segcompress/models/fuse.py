"""Structural re-parameterization for inference.

``fuse(model)`` returns an eval-mode copy in which every block that defines ``reparameterize()``
(Conv-BN-act, multi-kernel blocks, attention-gate projections) has folded its BatchNorm into its
convolution and its asymmetric 1x3 / 3x1 branches into the 3x3 kernel. Outputs equal the unfused
model's in eval mode up to float rounding; this fused model is what export and benchmarks use.
"""

from __future__ import annotations

import copy

from torch import nn

__all__ = ["fuse", "is_fused"]


def fuse(model: nn.Module, *, inplace: bool = False) -> nn.Module:
    """Fold BN and asymmetric branches; ``inplace=False`` leaves ``model`` untouched."""
    target = model if inplace else copy.deepcopy(model)
    target.eval()
    # modules() lists parents before children: a block that folds a child's layers (a multi-kernel
    # block folds its square ConvBNAct) leaves that child nothing to fold when its turn comes.
    for module in list(target.modules()):
        reparam = getattr(module, "reparameterize", None)
        if callable(reparam):
            reparam()
    target.is_fused = True
    return target


def is_fused(model: nn.Module) -> bool:
    """True once :func:`fuse` has re-parameterized ``model``."""
    return bool(getattr(model, "is_fused", False))
