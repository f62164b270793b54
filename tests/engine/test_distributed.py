"""DDP on CPU (gloo, 2 processes): training runs, and distributed evaluation of a checkpoint
gives exactly the single-process confusion matrix, although the shards are uneven."""

from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from segcompress import load_model
from segcompress.config import DistillConfig, TrainConfig
from segcompress.engine.checkpoint import load_checkpoint
from segcompress.engine.distributed import ShardSampler, init_distributed, shutdown_distributed
from segcompress.engine.evaluate import evaluate, torch_predictor
from segcompress.engine.run import train_run
from tests.data.builders import make_cityscapes_like
from tests.engine.tiny import CLASSES, TinySet, tiny_config, tiny_trainer

WORLD = 2
N_VAL = 7  # odd: rank 0 gets 4 samples, rank 1 gets 3; padding would count one twice


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_rank(rank: int, port: int) -> None:
    """The environment torchrun would give this process, one CPU thread."""
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(WORLD),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)


def _worker(rank: int, out: str, port: int) -> None:
    _as_rank(rank, port)
    info = init_distributed(torch.device("cpu"))
    try:
        cfg = tiny_config(Path(out), epochs=1, samples=0)
        trainer = tiny_trainer(cfg, TinySet(8, 0), TinySet(N_VAL, 1), info=info)
        trainer.fit()
        params = {k: v.detach() for k, v in trainer.model.named_parameters()}
        torch.save(params, Path(out) / f"rank{rank}.pt")
        model = load_model(Path(out) / "last.pt")
        matrix = evaluate(
            torch_predictor(model, torch.device("cpu")),
            trainer.val_loader,
            CLASSES.num_classes,
            CLASSES.ignore_index,
        )
        torch.save(matrix.matrix, Path(out) / f"matrix{rank}.pt")
    finally:
        shutdown_distributed()


@pytest.mark.slow
def test_ddp_training_and_exact_distributed_evaluation(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path), _free_port()), nprocs=WORLD, join=True)

    # Both ranks hold the same weights after training (BatchNorm running statistics are
    # per rank without SyncBatchNorm; the checkpoint keeps rank 0's), and they were trained.
    rank0 = torch.load(tmp_path / "rank0.pt")
    rank1 = torch.load(tmp_path / "rank1.pt")
    for key in rank0:
        assert torch.equal(rank0[key], rank1[key]), key
    saved = torch.load(tmp_path / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(saved[k], rank0[k]) for k in rank0)
    # 8 samples over 2 ranks, batch 4: one step each.
    state = torch.load(tmp_path / "last.pt", weights_only=True)
    assert state["step"] == 1 and len(state["rng"]) == WORLD

    model = load_model(tmp_path / "last.pt")
    loader = torch.utils.data.DataLoader(TinySet(N_VAL, 1), batch_size=3)
    single = evaluate(
        torch_predictor(model, torch.device("cpu")),
        loader,
        CLASSES.num_classes,
        CLASSES.ignore_index,
    ).matrix
    for rank in range(WORLD):
        assert torch.equal(torch.load(tmp_path / f"matrix{rank}.pt"), single)
    assert single.sum() == (TinySet(N_VAL, 1).masks != CLASSES.ignore_index).sum()


def test_shard_sampler_covers_every_index_once():
    shards = [list(ShardSampler(N_VAL, r, 3)) for r in range(3)]
    assert sorted(i for s in shards for i in s) == list(range(N_VAL))
    assert [len(ShardSampler(N_VAL, r, 3)) for r in range(3)] == [3, 2, 2]


def _distill_config(out: Path, data: Path, teacher: Path, batch: int) -> TrainConfig:
    """A student with deep-supervision heads, distilled with cached targets and scale/crop."""
    cfg = TrainConfig(out=str(out), epochs=2, batch=batch, progress=False, samples=0)
    cfg.deterministic, cfg.amp = True, "none"
    cfg.data.root, cfg.data.img_size = str(data), (32, 48)
    cfg.model.name, cfg.model.args = "student_xs", {"deep_supervision": True}
    cfg.augment.scale = (0.75, 1.5)
    cfg.distill.teacher, cfg.distill.kd = str(teacher), ["cwd", "dist"]
    cfg.distill.precompute_teacher = True
    return cfg


def _distill_worker(rank: int, out: str, port: int, data: str, teacher: str) -> None:
    _as_rank(rank, port)
    train_run(_distill_config(Path(out), Path(data), Path(teacher), batch=2))


@pytest.mark.slow
def test_ddp_distillation_with_deep_supervision_matches_one_process(tmp_path, monkeypatch):
    """Every output of the student reaches a loss (else DDP fails at the second step), the
    teacher's targets are built once for both ranks, and two ranks of batch 2 train like one
    process of batch 4."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(cache))
    data = tmp_path / "lite"
    keys = [f"{d}/{i:06d}" for d in range(4) for i in range(3)]
    make_cityscapes_like(data, "train", keys, "_image", "_label", 7)
    make_cityscapes_like(data, "val", keys[:3], "_image", "_label", 7, seed=1)
    teacher_cfg = _distill_config(tmp_path / "teacher", data, tmp_path, batch=4)
    teacher_cfg.distill = DistillConfig()
    teacher_cfg.epochs, teacher_cfg.model.args = 1, {}
    train_run(teacher_cfg)
    teacher = tmp_path / "teacher" / "last.pt"
    args = (str(tmp_path / "ddp"), _free_port(), str(data), str(teacher))
    mp.spawn(_distill_worker, args=args, nprocs=WORLD, join=True)
    train_run(_distill_config(tmp_path / "one", data, teacher, batch=4))

    rows = {}
    for name in ("ddp", "one"):
        log = (tmp_path / name / "log.jsonl").read_text().splitlines()
        rows[name] = [json.loads(line) for line in log]
        assert [r["epoch"] for r in rows[name]] == [1, 2]
        assert load_checkpoint(tmp_path / name / "last.pt")["step"] == 6  # 12 frames, batch 4
        for part in ("train_task", "train_cwd", "train_dist", "train_aux2", "train_aux3"):
            assert math.isfinite(rows[name][-1][part]) and rows[name][-1][part] > 0, part
    assert len(list((cache / "teacher-targets").iterdir())) == 1  # built once, used by all
    for key in ("train_task", "train_cwd", "train_dist"):
        ddp, one = rows["ddp"][0][key], rows["one"][0][key]
        assert abs(ddp - one) < 0.25 * one, (key, ddp, one)
