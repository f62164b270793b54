"""segcompress: teacher training, knowledge distillation and edge deployment for driving scenes.

The public API is imported lazily so ``segcompress --help`` stays fast.
"""

from __future__ import annotations

from segcompress.lazy import lazy_getattr

__version__ = "0.1.0"

__all__ = ["__version__", "create_model", "list_models", "load_model", "load_predictor"]

_LAZY = {
    "create_model": "segcompress.models.registry",
    "list_models": "segcompress.models.registry",
    "load_model": "segcompress.engine.checkpoint",
    "load_predictor": "segcompress.deploy.runtime",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
