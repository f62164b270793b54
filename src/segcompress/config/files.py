"""Configs to and from YAML files, dicts and dotted overrides, checked key by key.

The YAML is checked strictly: an unknown key or a value of the wrong type is a ``UsageError``
naming the key and the file, because a typo in a config silently falling back to a default
wastes a whole training run.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from segcompress.config.schema import TrainConfig
from segcompress.errors import UsageError

__all__ = [
    "RESUME_FREE_KEYS",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "load_config",
    "recipe_changes",
    "save_config",
]


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _shown(key: str) -> str:
    """A key as error messages print it: quoted when it holds a newline or control character,
    so that the message stays on one line."""
    return key if key.isprintable() else repr(key)


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    """Check ``value`` against the type hint; returns it converted (lists to tuples etc.)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    bad = UsageError(f"{source}: {key} must be {_type_name(hint)}, got {value!r}")
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise UsageError(f"{source}: {key} must be a mapping, got {value!r}")
        return config_from_dict(value, source, cls=hint, prefix=f"{key}.")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key, source)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise bad
        return value
    if origin is tuple:
        # A size: one number means square, two mean (height, width).
        items = [value, value] if isinstance(value, int) and not isinstance(value, bool) else value
        if not isinstance(items, (list, tuple)) or len(items) != len(args):
            raise bad
        return tuple(_coerce(v, a, key, source) for v, a in zip(items, args, strict=True))
    if origin is list:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad
        return [_coerce(v, args[0], key, source) for v in value]
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return {
            _coerce(k, args[0], key, source): _coerce(v, args[1], _shown(f"{key}.{k}"), source)
            for k, v in value.items()
        }
    raise TypeError(f"config field {key} has an unsupported type {hint}")


def config_from_dict(
    data: dict[str, Any], source: str, *, cls: type = TrainConfig, prefix: str = ""
) -> Any:
    """Build a config dataclass from a (possibly partial) nested dict, checking keys and types."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted((k for k in data if k not in names), key=str)
    if unknown:
        shown = _shown(f"{prefix}{unknown[0]}")
        raise UsageError(f"{source}: unknown key {shown} (known: {', '.join(sorted(names))})")
    values = {k: _coerce(v, hints[k], f"{prefix}{k}", source) for k, v in data.items()}
    return cls(**values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain types only (tuples become lists), for YAML files and checkpoints."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(cfg))


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "args":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """Read a YAML config over ``base`` (defaults when omitted); unknown keys are refused."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the config file ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        # PyYAML's own message spans several lines; keep the problem and where it is.
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise UsageError(f"{path}: not valid YAML ({problem}{where}); fix the file") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a config file must be a mapping of keys to values")
    config_from_dict(data, str(path))  # checks keys and types against the file's own name
    merged = _merge(config_to_dict(base or TrainConfig()), data)
    return config_from_dict(merged, str(path))


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any], source: str) -> TrainConfig:
    """Apply dotted-key overrides (``{"optim.lr": 0.01}``), checked like the YAML file."""
    nested: dict[str, Any] = {}
    for dotted, value in overrides.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return config_from_dict(_merge(config_to_dict(cfg), nested), source)


# Keys a resumed run may change: how long, where and how fast it runs, not what it trains.
# The teacher's path may move; its content is compared on resume (SHA-256) instead.
RESUME_FREE_KEYS = frozenset(
    {
        "out",
        "threads",
        "epochs",
        "eval_every",
        "patience",
        "device",
        "progress",
        "samples",
        "data.workers",
        "distill.teacher",
        "distill.ensemble",
    }
)


def _flat(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def recipe_changes(
    saved: TrainConfig | dict[str, Any], new: TrainConfig | dict[str, Any]
) -> list[tuple[str, Any, Any]]:
    """(key, saved value, new value) for every key that changes what a resumed run trains:
    everything but :data:`RESUME_FREE_KEYS` (a key one side lacks has the value None).
    Configs or plain nested dicts (e.g. ``{"model": {"args": ...}}``)."""
    before, after = (_flat(c if isinstance(c, dict) else config_to_dict(c)) for c in (saved, new))
    return [
        (key, before.get(key), after.get(key))
        for key in sorted(before.keys() | after.keys())
        if key not in RESUME_FREE_KEYS and before.get(key) != after.get(key)
    ]


def save_config(cfg: TrainConfig, path: str | Path) -> None:
    """Write ``cfg`` as YAML atomically: a kill mid-write leaves the old file or the new one."""
    from segcompress.fileio import atomic_write_bytes

    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
    atomic_write_bytes(path, text.encode("utf-8"))
