"""The training loop, for plain training and distillation alike, readable top to bottom.

``Trainer`` takes built objects: an *objective* (model + loss, see ``engine.objective``), the data
loaders, the run config and the class table. ``fit()`` then runs epochs of
``forward -> finite check -> backward -> clip -> step -> schedule``, evaluates every
``eval_every`` epochs, keeps ``last.pt`` / ``best.pt``, logs each epoch, draws pictures and stops
early when validation mIoU has not improved for ``patience`` epochs.

Resume granularity is the epoch: checkpoints are written at the end of an epoch (and once before
the first, so a run killed in epoch 1 can resume too), with every RNG state and the epoch number
that seeds the sampler's shuffle, so a resumed run repeats exactly what an uninterrupted one would
have done. ``request_stop()`` (from the signal handlers of ``engine.signals``) ends the loop after
the current step, at the same step on every rank; an unfinished epoch is not saved, and resuming
redoes it from its start, which keeps the result exact however the data loader draws its samples.
"""

from __future__ import annotations

import math
import os
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from segcompress.config import TrainConfig, config_to_dict
from segcompress.data.classes import ClassTable
from segcompress.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    capture_rng_state,
    load_model_weights,
    restore_rng_state,
    save_checkpoint,
    versions,
)
from segcompress.engine.distributed import DistInfo, ShardSampler, all_reduce_sum, barrier
from segcompress.engine.evaluate import autocast, draw_samples, evaluate, torch_predictor
from segcompress.engine.logging import RunLog
from segcompress.engine.outdir import check_free_space
from segcompress.engine.schedule import LRSchedule, build_optimizer
from segcompress.errors import DataError, UsageError
from segcompress.metrics import compute_scores
from segcompress.models.encoders import PretrainedEncoder

__all__ = [
    "DataInfo",
    "Trainer",
    "amp_dtype",
    "make_loaders",
    "seed_everything",
]


@dataclass(frozen=True)
class DataInfo:
    """What a checkpoint must say about its data so later steps need only the checkpoint."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    dataset_format: str | None = None


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed every RNG; in deterministic mode also pin kernels to deterministic algorithms."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this for reproducible matmuls; harmless on CPU.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


def amp_dtype(name: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``--amp``: ``auto`` is bf16 (fp16 on older GPUs) on CUDA, none on CPU."""
    if name == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name == "fp16" and device.type != "cuda":
        raise UsageError("--amp fp16 needs CUDA; on CPU use --amp bf16 or --amp none")
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def _seed_worker(worker_id: int) -> None:
    # torch seeds `random` and itself per worker; numpy must be seeded by hand.
    np.random.seed(torch.initial_seed() % 2**32)
    # Ctrl-C reaches the whole process group: the main process stops gracefully and ends the
    # workers itself, so they must not die first and take the batch in flight with them.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def make_loaders(
    train_set: Dataset,
    val_set: Dataset | None,
    *,
    batch: int,
    workers: int,
    seed: int,
    info: DistInfo,
    pin_memory: bool = False,
    collate_fn: Any = None,
) -> tuple[DataLoader, DataLoader | None]:
    """Training loader shuffled per epoch by ``DistributedSampler`` (also in a single process,
    where it is a seeded shuffle), and a validation loader sharded without padding.
    ``collate_fn`` (e.g. batch mixing) applies to the training loader only."""
    n_train = len(train_set)  # type: ignore[arg-type]
    if n_train == 0:
        raise DataError("the training split is empty")
    sampler = DistributedSampler(
        train_set, num_replicas=info.world_size, rank=info.rank, shuffle=True, seed=seed
    )
    common: dict[str, Any] = {
        "num_workers": workers,
        "pin_memory": pin_memory,
        "worker_init_fn": _seed_worker if workers else None,
        "persistent_workers": False,
    }
    # Dropping a last, smaller batch keeps BatchNorm statistics sane; never drop everything.
    drop_last = len(sampler) >= batch
    train_loader = DataLoader(
        train_set,
        batch_size=batch,
        sampler=sampler,
        drop_last=drop_last,
        collate_fn=collate_fn,
        **common,
    )
    val_loader = None
    if val_set is not None:
        shard = ShardSampler(len(val_set), info.rank, info.world_size)  # type: ignore[arg-type]
        val_loader = DataLoader(val_set, batch_size=batch, sampler=shard, **common)
    return train_loader, val_loader


def _to_device(target: Tensor | tuple[Tensor, ...], device: torch.device) -> Any:
    """Masks, or (masks, precomputed teacher logits), on ``device``."""
    if isinstance(target, (tuple, list)):
        return tuple(t.to(device, non_blocking=True) for t in target)
    return target.to(device, non_blocking=True)


def _plain(value: Any) -> Any:
    """Metric values as JSON/checkpoint-safe plain numbers."""
    if isinstance(value, torch.Tensor):
        return value.item()
    return value


class Trainer:
    """Runs one training or distillation job (see the module docstring).

    Args:
        objective: module with ``.model`` whose ``forward(images, masks)`` returns
            ``(loss, parts)``; trainable parameters of the whole objective are optimised.
        train_loader / val_loader: from :func:`make_loaders` (``val_loader`` may be None).
        cfg: the resolved run config (``cfg.out`` must exist; see ``prepare_out_dir``).
        classes: the class table of the data.
        data_info: normalisation and dataset format recorded in checkpoints.
        device: where to train.
        info: this process's DDP rank and world size.
        resume: a loaded checkpoint to continue from.
        provenance: plain facts the checkpoint keeps about where the run came from (e.g. the
            teacher file's SHA-256, which a resume must match).
    """

    def __init__(
        self,
        objective: nn.Module,
        train_loader: DataLoader,
        val_loader: DataLoader | None,
        cfg: TrainConfig,
        classes: ClassTable,
        *,
        data_info: DataInfo,
        device: torch.device,
        info: DistInfo | None = None,
        resume: dict[str, Any] | None = None,
        provenance: dict[str, Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self.provenance = dict(provenance or {})
        self.classes = classes
        self.data_info = data_info
        self.device = device
        self.info = info or DistInfo()
        self.out = Path(cfg.out)
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.model: nn.Module = objective.model
        if cfg.sync_bn and self.info.enabled:
            if device.type != "cuda":
                raise UsageError("--sync-bn needs CUDA (SyncBatchNorm does not run on CPU)")
            objective = nn.SyncBatchNorm.convert_sync_batchnorm(objective)
        # NHWC suits oneDNN (CPU) and tensor cores (CUDA): faster convolutions (bench_train.py).
        self.memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
        self.objective = objective.to(device, memory_format=self.memory_format)
        params = [p for p in self.objective.parameters() if p.requires_grad]
        encoder = frozenset(
            id(p)
            for m in self.objective.modules()
            if isinstance(m, PretrainedEncoder)
            for p in m.parameters()
        )
        self.optimizer = build_optimizer(params, cfg, encoder)
        steps_per_epoch = len(train_loader)
        self.schedule = LRSchedule(
            self.optimizer,
            total_steps=cfg.epochs * steps_per_epoch,
            warmup_steps=round(cfg.optim.warmup_epochs * steps_per_epoch),
            kind=cfg.optim.schedule,
            min_ratio=cfg.optim.min_lr_ratio,
            power=cfg.optim.poly_power,
        )
        self.amp_dtype = amp_dtype(cfg.amp, device)
        # Loss scaling is needed for fp16 only; a disabled scaler passes everything through.
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.epoch = 0
        self.step = 0
        self.best_miou = -math.inf
        self.best_epoch = 0
        self.last_metrics: dict[str, Any] = {}
        self.stop_requested = False
        # The epoch in (or after) which a stop request ended fit() early; None when it did not.
        self.stopped_in_epoch: int | None = None
        self._resumed = resume is not None
        if resume is not None:
            self._restore(resume)
        self.ddp: nn.Module = self.objective
        if self.info.enabled:
            device_ids = [device.index] if device.type == "cuda" else None
            self.ddp = DistributedDataParallel(self.objective, device_ids=device_ids)
        self.log = RunLog(
            self.out,
            enabled=self.info.is_main,
            keep_until_epoch=self.epoch if resume is not None else None,
        )

    def request_stop(self) -> None:
        """Finish the current step, then end ``fit()``; safe to call from a signal handler.

        Under DDP the ranks agree on the step to stop after (any rank's request counts). An
        unfinished epoch is not saved: ``last.pt`` keeps the previous epoch's end, from which a
        resumed run redoes the epoch exactly.
        """
        self.stop_requested = True

    def _agree_stop(self) -> bool:
        """Whether any rank asked to stop (a collective: every rank must call it)."""
        flag = torch.tensor([float(self.stop_requested)], device=self.device)
        return all_reduce_sum(flag).item() > 0

    # ------------------------------------------------------------------------------------------
    def fit(self) -> dict[str, Any]:
        """Train until ``cfg.epochs``, early stop or a stop request; returns the last log row."""
        cfg = self.cfg
        row: dict[str, Any] = {}
        if not self._resumed:
            self._save_initial()
        for epoch in range(self.epoch + 1, cfg.epochs + 1):
            train_stats, complete = self._train_one_epoch(epoch)
            if not complete:
                self.stopped_in_epoch = epoch
                break
            self.epoch = epoch
            row = {"epoch": epoch, "step": self.step, **train_stats}
            improved = False
            if self.val_loader is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
                row.update(self._validate())
                miou = row["val_miou"] if row["val_miou"] is not None else 0.0
                improved = miou > self.best_miou
                if improved:
                    self.best_miou, self.best_epoch = miou, epoch
                row["best_miou"] = self.best_miou
            self.log.log(row)
            self._save(improved)
            if self.info.is_main:
                self._draw_curves()
            stale = epoch - self.best_epoch
            if cfg.patience and self.val_loader is not None and stale >= cfg.patience:
                break
            if self._agree_stop() and epoch < cfg.epochs:
                self.stopped_in_epoch = epoch
                break
        self.log.close()
        barrier()  # no rank leaves before rank 0 has written the checkpoints
        return row

    def _train_one_epoch(self, epoch: int) -> tuple[dict[str, Any], bool]:
        """Train one epoch; returns its statistics and whether it ran to its end."""
        cfg = self.cfg
        self.objective.train()
        sampler = self.train_loader.sampler
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)  # the shuffle depends on (seed, epoch) only
        totals: dict[str, float] = {}
        n_batches = images_seen = 0
        data_time = 0.0
        start = tick = time.perf_counter()
        bar = tqdm(
            self.train_loader,
            desc=f"epoch {epoch}/{cfg.epochs}",
            leave=False,
            disable=not (cfg.progress and self.info.is_main),
        )
        for images, masks in bar:
            data_time += time.perf_counter() - tick
            images = images.to(self.device, non_blocking=True, memory_format=self.memory_format)
            masks = _to_device(masks, self.device)
            with autocast(self.device, self.amp_dtype):
                loss, parts = self.ddp(images, masks)
            # One small all-reduce per step: every rank must agree to stop on a bad loss, or
            # the others would wait forever in backward's gradient all-reduce; the stop request
            # travels with it, so all ranks end after the same step.
            stop_flag = torch.tensor(float(self.stop_requested), device=loss.device)
            synced = all_reduce_sum(torch.stack([loss.detach().float(), stop_flag]))
            loss_value = synced[0].item() / self.info.world_size
            stop = synced[1].item() > 0
            if not math.isfinite(loss_value):
                self._fail_non_finite(loss_value, epoch)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if cfg.optim.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                params = [p for g in self.optimizer.param_groups for p in g["params"]]
                torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.schedule.step()
            self.step += 1
            n_batches += 1
            images_seen += images.shape[0] * self.info.world_size
            totals["loss"] = totals.get("loss", 0.0) + loss_value
            for name, value in parts.items():
                totals[name] = totals.get(name, 0.0) + float(value)
            elapsed = time.perf_counter() - start
            bar.set_postfix(
                loss=f"{loss_value:.4f}",
                lr=f"{self.schedule.lr:.2e}",
                img_s=f"{images_seen / elapsed:.1f}",
            )
            if stop and n_batches < len(self.train_loader):
                break
            tick = time.perf_counter()
        elapsed = time.perf_counter() - start
        stats = {f"train_{k}": v / max(1, n_batches) for k, v in totals.items()}
        stats.update(
            lr=self.schedule.lr,
            time_s=elapsed,
            images_per_s=images_seen / elapsed if elapsed > 0 else 0.0,
            data_time_share=data_time / elapsed if elapsed > 0 else 0.0,
        )
        return stats, n_batches == len(self.train_loader)

    def _fail_non_finite(self, value: float, epoch: int) -> None:
        last = self.out / "last.pt"
        kept = f"last good checkpoint kept: {last}" if last.exists() else "no checkpoint yet"
        raise DataError(
            f"loss became {value} at step {self.step + 1} (epoch {epoch}); training stopped, "
            f"{kept}; try a lower --lr, --amp none or check the data for NaN"
        )

    def _validate(self) -> dict[str, Any]:
        """Score the model on the validation shard of every rank; draw pictures on rank 0."""
        assert self.val_loader is not None
        predict = torch_predictor(self.model, self.device, self.amp_dtype)
        matrix = evaluate(
            predict,
            self.val_loader,
            self.classes.num_classes,
            self.classes.ignore_index,
            device=self.device,
        )
        scores = compute_scores(matrix.matrix, self.classes.names)
        self.last_metrics = {
            "val_miou": scores.mean["iou"],
            "val_dice": scores.mean["dice"],
            "val_precision": scores.mean["precision"],
            "val_recall": scores.mean["recall"],
            "val_pixel_accuracy": scores.pixel_accuracy,
            "val_fw_iou": scores.fw_iou,
            "val_class_iou": [c.iou for c in scores.classes],
        }
        if self.info.is_main:
            from segcompress.viz import plot_confusion

            plot_confusion(matrix.matrix, self.classes.names, self.out / "confusion.png")
            self._draw_samples(predict)
        return dict(self.last_metrics)

    def _draw_samples(self, predict: Any) -> None:
        dataset = self.val_loader.dataset  # type: ignore[union-attr]
        count = min(self.cfg.samples, len(dataset))
        if count:
            mean, std = self.data_info.mean, self.data_info.std
            draw_samples(predict, dataset, count, self.classes, mean, std, self.out / "samples.png")

    def _draw_curves(self) -> None:
        from segcompress.viz import plot_curves

        plot_curves(self.log.rows, self.out / "curves.png")

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The checkpoint: self-describing metadata plus the full training state, plain types."""
        return {
            "format_version": CHECKPOINT_FORMAT,
            "model_name": self.model.model_name,
            "model_args": dict(self.model.model_args),
            "num_classes": self.classes.num_classes,
            "classes": self.classes.to_dict(),
            "ignore_index": self.classes.ignore_index,
            "input_size": list(self.cfg.data.img_size),
            "normalization": {"mean": list(self.data_info.mean), "std": list(self.data_info.std)},
            "dataset_format": self.data_info.dataset_format,
            "model": self.model.state_dict(),
            "criterion": self.objective.criterion.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "metrics": {k: _plain(v) for k, v in self.last_metrics.items()},
            "best": {"miou": self.best_miou, "epoch": self.best_epoch},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": self._gather_rng(),
            "config": config_to_dict(self.cfg),
            "provenance": self.provenance,
            "versions": versions(),
        }

    def _gather_rng(self) -> list[dict[str, Any]]:
        """Every rank's RNG states (rank order), so each rank resumes its own streams."""
        state = capture_rng_state()
        if not self.info.enabled:
            return [state]
        gathered: list[Any] = [None] * self.info.world_size
        dist.all_gather_object(gathered, state)
        return gathered

    def _save_initial(self) -> None:
        """Save the state before the first step, and check the disk holds the checkpoints.

        A run killed or stopped in its first epoch can then resume exactly like any other, and
        a full disk shows up now rather than after the first epoch's work.
        """
        self._save(improved=False)
        if self.info.is_main:
            size = (self.out / "last.pt").stat().st_size
            # best.pt, plus the temporary copy each atomic rewrite needs.
            check_free_space(self.out, 2 * size, "best.pt and checkpoint rewrites")

    def _save(self, improved: bool) -> None:
        state = self.state_dict()  # on every rank: gathering RNG states is collective
        if not self.info.is_main:
            return
        save_checkpoint(state, self.out / "last.pt")
        if improved:
            save_checkpoint(state, self.out / "best.pt")

    def _restore(self, state: dict[str, Any]) -> None:
        source = str(self.out / "last.pt")
        load_model_weights(self.model, state, source)
        if state["num_classes"] != self.classes.num_classes:
            raise DataError(
                f"{source}: checkpoint has {state['num_classes']} classes, the data "
                f"{self.classes.num_classes}; resume with the same dataset and class table"
            )
        self.objective.criterion.load_state_dict(state["criterion"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best_miou = float(state["best"]["miou"])
        self.best_epoch = int(state["best"]["epoch"])
        self.last_metrics = dict(state["metrics"])
        rng = state["rng"]
        if len(rng) == self.info.world_size:
            restore_rng_state(rng[self.info.rank])
        else:  # another world size: streams cannot match anyway, keep them distinct per rank
            seed_everything(self.cfg.seed + self.info.rank + self.epoch, self.cfg.deterministic)
