"""Registries of the deploy layer, model-registry style: runtimes, quantizers, benchmark backends.

Each implementation registers itself under its name where it is defined
(``@RUNTIMES.register("openvino")`` in ``openvino_runtime``), and callers look it up by name
instead of branching on strings. The names each registry may hold are declared in
:mod:`~segcompress.deploy.options` (importable without torch, for the CLI's choices); a name
not declared cannot be registered, and a lookup of an unknown name is a one-line
``UsageError`` naming the flag and the known names. This module imports no implementation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from segcompress.deploy.options import ALL_BACKENDS, QUANTIZE_ENGINES, RUNTIMES
from segcompress.errors import UsageError

__all__ = [
    "BACKENDS",
    "GRAPH_RUNTIMES",
    "QUANTIZERS",
    "Backend",
    "GraphRuntime",
    "Registry",
    "available_runtimes",
]

T = TypeVar("T")


class Registry(Generic[T]):
    """Names -> implementations; ``flag`` and ``verb`` word the error of an unknown name."""

    def __init__(self, flag: str, names: tuple[str, ...], verb: str = "choose one of") -> None:
        self.flag = flag
        self.declared = names
        self.verb = verb
        self._entries: dict[str, T] = {}

    def add(self, name: str, entry: T) -> T:
        if name not in self.declared:
            raise ValueError(f"{self.flag} {name!r} is not declared in deploy.options")
        if name in self._entries:
            raise ValueError(f"{self.flag} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the decorated function under ``name``."""
        return lambda entry: self.add(name, entry)

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise UsageError(f"{self.flag} {name}: {self.verb} {', '.join(self.names())}")
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        """The registered names, in their declared order."""
        return tuple(n for n in self.declared if n in self._entries)


@dataclass(frozen=True)
class GraphRuntime:
    """An engine that runs ONNX files.

    ``load(path, info, *, device, threads, int8)`` gives its predictor; ``require()`` imports the
    engine (or raises a UsageError naming its install command); ``available()`` says, without
    importing it, whether it is installed."""

    name: str
    load: Callable[..., Any]
    require: Callable[[], Any] = lambda: None
    available: Callable[[], bool] = lambda: True
    package: str = ""
    install_hint: str = ""


@dataclass(frozen=True)
class Backend:
    """What a benchmark backend runs: ``file`` is ``torch`` (the checkpoint), ``fp32`` or
    ``int8`` (an ONNX file), run by ``runtime`` (a :data:`GRAPH_RUNTIMES` name; torch files
    ignore it), channels-last or ``torch.compile``-d for torch."""

    name: str
    file: str
    runtime: str = "onnxruntime"
    channels_last: bool = False
    compile: bool = False


GRAPH_RUNTIMES: Registry[GraphRuntime] = Registry("--runtime", RUNTIMES)
QUANTIZERS: Registry[Callable[..., None]] = Registry("--engine", QUANTIZE_ENGINES)
BACKENDS: Registry[Backend] = Registry("--backends", ALL_BACKENDS, verb="choose from")
for _backend in (
    Backend("torch", "torch"),
    Backend("torch-cl", "torch", channels_last=True),
    Backend("torch-compile", "torch", compile=True),
    Backend("onnx-fp32", "fp32"),
    Backend("onnx-int8", "int8"),
    Backend("openvino-fp32", "fp32", "openvino"),
    Backend("openvino-int8", "int8", "openvino"),
):
    BACKENDS.add(_backend.name, _backend)


def available_runtimes() -> tuple[str, ...]:
    """The registered :data:`GRAPH_RUNTIMES` whose engine is installed, in declared order (what
    an export is verified in). Only runtimes whose module was imported are registered:
    importing :mod:`~segcompress.deploy.runtime` registers them all."""
    return tuple(n for n in GRAPH_RUNTIMES.names() if GRAPH_RUNTIMES.get(n).available())
