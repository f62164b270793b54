"""Cost profile of models: parameters, FLOPs, fp32 size and CPU latency.

Costs describe the deployed form: each model is re-parameterized with :func:`fuse` (BN folded,
asymmetric branches merged) before counting, since that is what export and inference run.
``count_params(model)`` on an unfused model gives the trainable count instead.

FLOPs come from ``torch.utils.flop_counter.FlopCounterMode``: FLOPs = 2 x MAC, convolutions and
matrix multiplications only (pooling, activations, resizes and additions are not counted).
Latency is the median wall time of ``runs`` forward passes at batch 1 in torch eager mode on CPU.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from segcompress.models.fuse import fuse
from segcompress.models.registry import create_model, list_models

__all__ = [
    "PROFILE_KEYS",
    "count_flops",
    "count_params",
    "measure_latency",
    "model_size_mb",
    "profile_model",
    "profile_models",
    "time_calls",
]

# Keys of one profile row, in the order the CLI prints them.
PROFILE_KEYS = ("name", "params", "flops", "size_mb", "latency_ms")
BYTES_PER_FP32 = 4
BYTES_PER_MB = 1e6


def count_params(model: nn.Module) -> int:
    """Number of parameters (every tensor in ``model.parameters()``)."""
    return sum(p.numel() for p in model.parameters())


def model_size_mb(model: nn.Module) -> float:
    """Size in MB (1e6 bytes) of the parameters and buffers stored as float32."""
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() for t in tensors if t.is_floating_point()) * BYTES_PER_FP32 / BYTES_PER_MB


def _example(img_size: tuple[int, int], batch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, 3, *img_size, generator=generator)


@torch.no_grad()
def count_flops(model: nn.Module, img_size: tuple[int, int], batch: int = 1) -> int:
    """FLOPs (2 x MAC, conv/matmul only) of one forward pass of ``model`` in its current mode."""
    counter = FlopCounterMode(display=False)
    with counter:
        model(_example(img_size, batch))
    return int(counter.get_total_flops())


@torch.no_grad()
def measure_latency(
    model: nn.Module,
    img_size: tuple[int, int],
    *,
    runs: int = 10,
    warmup: int = 2,
    batch: int = 1,
) -> float:
    """Median milliseconds of ``runs`` forward passes (after ``warmup`` untimed ones)."""
    return statistics.median(time_calls(model, _example(img_size, batch), runs, warmup))


def time_calls(fn: Any, x: Any, runs: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``runs`` calls ``fn(x)``, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn(x)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def profile_model(
    name: str, img_size: tuple[int, int], *, runs: int = 10, warmup: int = 2, **kwargs: Any
) -> dict[str, Any]:
    """One profile row for the registered model ``name`` (fused, eval mode)."""
    model = fuse(create_model(name, **kwargs))
    return {
        "name": name,
        "params": count_params(model),
        "flops": count_flops(model, img_size),
        "size_mb": round(model_size_mb(model), 3),
        "latency_ms": round(measure_latency(model, img_size, runs=runs, warmup=warmup), 2),
    }


def profile_models(
    names: Sequence[str] | None = None,
    img_size: tuple[int, int] = (256, 256),
    *,
    runs: int = 10,
    warmup: int = 2,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """Profile rows (keys ``PROFILE_KEYS``) for ``names`` (default: every registered model).

    ``threads`` sets torch's intra-op threads for the measurement (default: leave as is). On a
    shared machine one thread gives steadier numbers: a multi-threaded op waits at its barrier
    for any thread the OS has descheduled.
    """
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return [
            profile_model(name, img_size, runs=runs, warmup=warmup)
            for name in (names if names is not None else list_models())
        ]
    finally:
        torch.set_num_threads(previous)
