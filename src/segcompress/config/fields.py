"""How a config field is declared: its default and, as metadata, its flags and range check.

One declaration serves the YAML file, the command line (``cli.flags`` builds the flags from
the metadata) and :func:`segcompress.config.validate_config` (which applies the checks).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Check", "config_fields", "flag", "setting"]


@dataclass(frozen=True)
class Check:
    """A range a value must lie in: ``what`` completes "KEY must be ..." in an error, and
    ``bound`` ("positive" or "non_negative") picks the argument type of the field's flag, which
    refuses a typed value out of that bound as it is parsed."""

    what: str
    ok: Callable[[Any], bool]
    bound: str | None = None


POSITIVE_INT = Check("a positive integer", lambda v: v > 0, "positive")
POSITIVE = Check("positive", lambda v: v > 0, "positive")
POSITIVE_NUMBER = Check("a positive number", lambda v: math.isfinite(v) and v > 0, "positive")
NON_NEGATIVE = Check("0 or more", lambda v: v >= 0, "non_negative")
PROBABILITY = Check("a probability in [0, 1]", lambda v: 0 <= v <= 1, "non_negative")
POSITIVE_SIZE = Check("positive", lambda v: min(v) > 0)


def flag(
    *flags: str,
    help: str | None = None,
    metavar: str | None = None,
    choices: tuple[Any, ...] | None = None,
    check: Check | None = None,
    parse: str | None = None,
    nargs: str | None = None,
) -> dict[str, Any]:
    """A field's metadata: what its flags and its range check need to know.

    ``flags``: its spellings on the command line, legacy ones included (none: a file-only key).
    ``parse`` names a flag argument type of ``cli.common.ARG_TYPES`` where the field's type and
    ``check`` do not imply it. ``check`` is not applied to None (an optional field's "off")."""
    return {
        "flags": flags,
        "help": help,
        "metavar": metavar,
        "choices": choices,
        "check": check,
        "parse": parse,
        "nargs": nargs,
    }


def setting(*flags: str, default: Any, **metadata: Any) -> Any:
    """A config field with an immutable default, and its :func:`flag` metadata."""
    return field(default=default, metadata=flag(*flags, **metadata))


def config_fields(cls: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field[Any]]]:
    """(dotted key, field) of every leaf field of a config class, sections included, in order."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            yield from config_fields(hint, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", f
