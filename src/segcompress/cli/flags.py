"""Command-line flags derived from the config dataclasses, so each setting is declared once.

A field declared with ``config.setting`` (or ``config.flag`` metadata) names its flags, help,
choices and range; this module turns that into ``add_argument`` calls whose ``dest`` is the
dotted config key. The argument type follows from the field's type and its range check
(``int`` with a positive check -> ``positive_int``...) unless the field names one (``parse``).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any

from segcompress.cli.common import (
    ARG_TYPES,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)
from segcompress.config import DATASET_KEYS, DataConfig

__all__ = ["add_config_flags", "add_dataset_args"]

# (field type, Check.bound) -> the argument type that refuses a typed value out of the bound.
_RANGED: dict[tuple[type, str | None], Callable[[str], Any]] = {
    (int, "positive"): positive_int,
    (int, "non_negative"): non_negative_int,
    (int, None): int,
    (float, "positive"): positive_float,
    (float, "non_negative"): non_negative_float,
    (float, None): float,
}


def _plain(hint: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _flag_fields(cls: type) -> list[dataclasses.Field[Any]]:
    """The fields of ``cls`` that have flags."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("flags")]


def _argument(f: dataclasses.Field[Any], hint: Any) -> dict[str, Any]:
    meta = f.metadata
    kwargs: dict[str, Any] = {"help": meta["help"]}
    if hint is bool and meta["nargs"] is None:
        off = meta["flags"][0].startswith("--no-")
        return {**kwargs, "action": "store_false" if off else "store_true"}
    if hint is bool:  # a value is optional: the bare flag means true
        kwargs.update(nargs=meta["nargs"], const=True)
    elif meta["nargs"] is not None:
        kwargs["nargs"] = meta["nargs"]
    check = meta["check"]
    if meta["parse"] is not None:
        kwargs["type"] = ARG_TYPES[meta["parse"]]
    elif hint in (int, float):
        kwargs["type"] = _RANGED[hint, check.bound if check else None]
    if meta["choices"] is not None:
        kwargs["choices"] = meta["choices"]
    else:  # a dotted dest would show as OPTIM.LR
        kwargs["metavar"] = meta["metavar"] or f.name.upper()
    return kwargs


def add_config_flags(
    group: argparse._ActionsContainer,
    cls: type,
    *,
    prefix: str = "",
    keys: Iterable[str] | None = None,
    **overrides: Any,
) -> None:
    """Add the flags of ``cls``'s fields (only ``keys`` when given), each with ``dest`` the
    field's name after ``prefix`` (e.g. ``"optim."``). ``overrides`` go to every call (e.g.
    ``default=argparse.SUPPRESS``, so that a flag not typed stays out of the namespace)."""
    hints = typing.get_type_hints(cls)
    wanted = None if keys is None else set(keys)
    for f in _flag_fields(cls):
        if wanted is None or f.name in wanted:
            kwargs = _argument(f, _plain(hints[f.name]))
            group.add_argument(
                *f.metadata["flags"], dest=f"{prefix}{f.name}", **kwargs, **overrides
            )


def add_dataset_args(
    parser: argparse.ArgumentParser, *, root_required: bool = True, prefix: str = ""
) -> None:
    """Flags that say where a dataset is and how to read it (shared by data, train, evaluate,
    deploy): ``DataConfig``'s :data:`~segcompress.config.DATASET_KEYS`.

    With ``root_required`` a positional ``root`` is added (optional, since ``--format folder``
    needs none); otherwise the caller adds its own flag with ``dest="root"`` (e.g. ``--data``).
    A flag that is not typed stays out of the namespace (``DataConfig`` holds the defaults), so
    that a config file's dataset section can fill it in (``cli.common.spec_from_args``).
    """
    group = parser.add_argument_group("dataset")
    if root_required:
        group.add_argument("root", nargs="?", default=None, help="dataset root folder")
    keys = [k for k in DATASET_KEYS if k != "root"]
    add_config_flags(group, DataConfig, prefix=prefix, keys=keys, default=argparse.SUPPRESS)
