"""Native DDP switched on by the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK).

Without those variables everything here is a no-op, so one code path serves single-process and
distributed runs. Evaluation shards the validation set without padding (``ShardSampler``) and
all-reduces confusion matrices, so a distributed score equals the single-process one exactly;
``DistributedSampler`` would pad with duplicated samples and count them twice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from segcompress.errors import UsageError

__all__ = [
    "DistInfo",
    "ShardSampler",
    "all_reduce_sum",
    "barrier",
    "init_distributed",
    "resolve_device",
    "shutdown_distributed",
]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job; ``world_size == 1`` means no DDP."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, draws and writes checkpoints."""
        return self.rank == 0


def resolve_device(preference: str, info: DistInfo) -> torch.device:
    """``auto`` picks this rank's GPU when there is one, else the CPU."""
    if preference == "auto":
        preference = "cuda" if torch.cuda.is_available() else "cpu"
    if preference.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {preference}: CUDA is not available here; use --device cpu")
        if preference == "cuda":
            return torch.device("cuda", info.local_rank)
    try:
        return torch.device(preference)
    except RuntimeError as exc:
        raise UsageError(f"--device {preference!r}: not a device (use auto, cpu or cuda)") from exc


def init_distributed(device: torch.device | None = None) -> DistInfo:
    """Join the process group torchrun describes in the environment (gloo on CPU, nccl on CUDA)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    info = DistInfo(
        rank=int(os.environ["RANK"]),
        world_size=world_size,
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )
    if not dist.is_initialized():
        on_cuda = torch.cuda.is_available() and (device is None or device.type == "cuda")
        if on_cuda:
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend="nccl" if on_cuda else "gloo")
    return info


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over all ranks in place (no-op in a single process); returns it."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + world, ...``: every sample on exactly one rank, none repeated."""

    def __init__(self, length: int, rank: int = 0, world_size: int = 1) -> None:
        self.length = length
        self.rank = rank
        self.world_size = world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.length, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.length, self.world_size))
