"""Tiny random data and a ready Trainer for engine tests (32x32 inputs, a few steps)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset

from segcompress.config import TrainConfig
from segcompress.data.classes import ClassTable
from segcompress.engine.distributed import DistInfo
from segcompress.engine.objective import SegObjective
from segcompress.engine.trainer import DataInfo, Trainer, make_loaders, seed_everything
from segcompress.losses import build_segmentation_loss
from segcompress.models.registry import create_model

CLASSES = ClassTable(
    names=("a", "b", "c", "d", "e"),
    colors=((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)),
)
SIZE = 32


class TinySet(Dataset):
    """Fixed random images whose masks depend on the image (so there is something to learn);
    ``augment`` flips at random from the global torch RNG, as real augmentation does."""

    def __init__(self, n: int, seed: int, augment: bool = False, ignore_share: float = 0.1):
        g = torch.Generator().manual_seed(seed)
        self.images = torch.randn(n, 3, SIZE, SIZE, generator=g)
        self.masks = (self.images[:, 0] > 0).long() + 2 * (self.images[:, 1] > 0.5).long()
        ignore = torch.rand(n, SIZE, SIZE, generator=g) < ignore_share
        self.masks[ignore] = CLASSES.ignore_index
        self.augment = augment
        self.classes = CLASSES
        self.poison_from: int | None = None  # fetch count after which images hold NaN
        self.on_fetch: Callable[[int], None] | None = None  # called with the fetch count
        self.fetches = 0

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.fetches += 1
        if self.on_fetch is not None:
            self.on_fetch(self.fetches)
        image, mask = self.images[i].clone(), self.masks[i].clone()
        if self.augment and torch.rand(()) < 0.5:
            image, mask = image.flip(-1), mask.flip(-1)
        if self.poison_from is not None and self.fetches > self.poison_from:
            image[:] = float("nan")
        return image, mask


def tiny_config(out: Path, **changes: Any) -> TrainConfig:
    cfg = TrainConfig(
        out=str(out), epochs=2, batch=4, deterministic=True, progress=False, samples=2
    )
    cfg.data.img_size = (SIZE, SIZE)
    cfg.model.name = "student_xs"
    cfg.optim.warmup_epochs = 0.5
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


def tiny_trainer(
    cfg: TrainConfig,
    train_set: Dataset,
    val_set: Dataset | None,
    *,
    info: DistInfo | None = None,
    resume: dict[str, Any] | None = None,
    objective: Callable[[torch.nn.Module], torch.nn.Module] | None = None,
) -> Trainer:
    """A Trainer of ``cfg.model``; ``objective`` wraps the new model (default: plain loss)."""
    info = info or DistInfo()
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed + info.rank, cfg.deterministic)
    model = create_model(cfg.model.name, num_classes=CLASSES.num_classes)
    if objective is None:
        loss = build_segmentation_loss(ignore_index=CLASSES.ignore_index)
        wrapped: torch.nn.Module = SegObjective(model, loss)
    else:
        wrapped = objective(model)
    train_loader, val_loader = make_loaders(
        train_set, val_set, batch=cfg.batch, workers=0, seed=cfg.seed, info=info
    )
    return Trainer(
        wrapped,
        train_loader,
        val_loader,
        cfg,
        CLASSES,
        data_info=DataInfo((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), "tiny"),
        device=torch.device("cpu"),
        info=info,
        resume=resume,
    )
