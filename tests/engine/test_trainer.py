"""The training loop on tiny random data: logs, checkpoints, exact resume, NaN, early stop."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from segcompress import load_model
from segcompress.engine.checkpoint import load_checkpoint
from segcompress.errors import DataError
from tests.engine.tiny import CLASSES, TinySet, tiny_config, tiny_trainer

METRIC_KEYS = ("epoch", "step", "train_loss", "lr", "val_miou", "val_class_iou", "best_miou")


def test_fit_writes_logs_checkpoints_and_pictures(tmp_path):
    cfg = tiny_config(tmp_path / "run")
    row = tiny_trainer(cfg, TinySet(8, 0), TinySet(5, 1)).fit()
    out = tmp_path / "run"
    for name in ("last.pt", "best.pt", "log.jsonl", "metrics.csv", "curves.png"):
        assert (out / name).is_file(), name
    assert (out / "confusion.png").is_file() and (out / "samples.png").is_file()
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[-1] == row
    with open(out / "metrics.csv") as fh:
        csv_rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in csv_rows] == [1, 2]
    assert float(csv_rows[1]["val_miou"]) == pytest.approx(rows[1]["val_miou"])
    # 8 samples, batch 4: two optimizer steps per epoch.
    assert rows[-1]["step"] == 4
    state = load_checkpoint(out / "last.pt")
    assert state["epoch"] == 2 and state["step"] == 4
    assert state["classes"] == CLASSES.to_dict() and state["input_size"] == [32, 32]
    assert state["metrics"]["val_miou"] == pytest.approx(rows[-1]["val_miou"])
    model = load_model(out / "last.pt")
    assert not model.training
    x = torch.randn(1, 3, 32, 32)
    ref = tiny_trainer(tiny_config(tmp_path / "other"), TinySet(8, 0), None).model
    ref.load_state_dict(state["model"])
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x))


def _metric_rows(path):
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: r.get(k) for k in METRIC_KEYS} for r in rows]


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    epochs = 3
    full = tiny_trainer(
        tiny_config(tmp_path / "full", epochs=epochs), TinySet(8, 0, augment=True), TinySet(4, 1)
    )
    full.fit()

    cut_cfg = tiny_config(tmp_path / "cut", epochs=epochs)
    train_set = TinySet(8, 0, augment=True)
    cut = tiny_trainer(cut_cfg, train_set, TinySet(4, 1))
    # One step into epoch 2 the run is "killed": it stops without saving that epoch.
    train_set.on_fetch = lambda n: cut.request_stop() if n == 8 + 4 else None
    cut.fit()
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1

    state = load_checkpoint(tmp_path / "cut" / "last.pt")
    resumed = tiny_trainer(cut_cfg, TinySet(8, 0, augment=True), TinySet(4, 1), resume=state)
    resumed.fit()

    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert _metric_rows(tmp_path / "full" / "log.jsonl") == _metric_rows(
        tmp_path / "cut" / "log.jsonl"
    )


def test_non_finite_loss_stops_naming_the_step_and_keeps_last_checkpoint(tmp_path):
    train_set = TinySet(8, 0)
    train_set.poison_from = 8  # epoch 1 is clean, the first batch of epoch 2 is NaN
    trainer = tiny_trainer(tiny_config(tmp_path / "run", epochs=3), train_set, TinySet(4, 1))
    with pytest.raises(DataError, match=r"at step 3 \(epoch 2\).*last good checkpoint kept"):
        trainer.fit()
    state = load_checkpoint(tmp_path / "run" / "last.pt")
    assert state["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in state["model"].values() if v.is_floating_point())


def test_early_stopping_ends_after_patience_epochs_without_improvement(tmp_path):
    cfg = tiny_config(tmp_path / "run", epochs=20, patience=1)
    cfg.optim.lr = 1e-12  # nothing is learnt, so mIoU cannot improve after epoch 1
    cfg.optim.warmup_epochs = 0.0
    row = tiny_trainer(cfg, TinySet(8, 0), TinySet(4, 1)).fit()
    assert row["epoch"] == 2
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == 1


def test_bf16_autocast_on_cpu_trains_with_finite_losses(tmp_path):
    cfg = tiny_config(tmp_path / "bf16", epochs=1, samples=0, amp="bf16")
    trainer = tiny_trainer(cfg, TinySet(8, 0), TinySet(4, 1))
    before = [p.detach().clone() for p in trainer.model.parameters()]
    row = trainer.fit()
    assert math.isfinite(row["train_loss"]) and row["step"] == 2
    # Weights stay float32 (autocast only lowers the compute) and were updated.
    after = list(trainer.model.parameters())
    assert all(p.dtype == torch.float32 for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(after, before, strict=True))


def test_channels_last_trains_the_same_model(tmp_path):
    """NHWC is a speed choice only: the same steps give the same losses and predictions (Adam
    magnifies rounding differences in near-zero gradients, so single weights may differ)."""
    rows, logits = [], []
    x = torch.randn(2, 3, 32, 32)
    for flag in (False, True):
        cfg = tiny_config(tmp_path / str(flag), channels_last=flag, epochs=1)
        trainer = tiny_trainer(cfg, TinySet(8, 0), None)
        rows.append(trainer.fit())
        conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last) == flag
        with torch.no_grad():
            logits.append(trainer.model.eval()(x))
    assert rows[0]["train_loss"] == pytest.approx(rows[1]["train_loss"], rel=1e-4)
    torch.testing.assert_close(logits[0], logits[1], atol=1e-3, rtol=1e-3)
