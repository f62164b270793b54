"""Lazy package attributes (PEP 562), so that importing a package does not import torch.

``segcompress --help`` and tools that only need a class table stay fast; the packages that
re-export a heavy API build their module ``__getattr__`` here rather than each writing one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports each name of ``where`` from the
    module it maps to (absolute, or relative to ``package``) on first use."""

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(where[name], package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
