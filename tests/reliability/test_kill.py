"""SIGKILL at chosen moments never leaves an unloadable checkpoint, and resuming is exact.

The short CI version of ``benchmarks/bench_kill.py`` (which does >= 10 kills with the same
harness, ``kill_harness.py`` here): one kill each in the middle of a training step, of a
checkpoint write and of an evaluation, then a Ctrl-C in the middle of an epoch, each followed by
a resume; the finished run must equal an uninterrupted one bit for bit (CPU, deterministic). One
campaign shares one reference run to keep CI short.
"""

from __future__ import annotations

import signal

import pytest

from segcompress.engine.checkpoint import load_checkpoint, save_checkpoint
from tests.reliability import kill_harness


@pytest.mark.slow
def test_kills_and_ctrl_c_mid_epoch_resume_exactly(kill_data, tmp_path):
    epochs = 2
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    kill_harness.finish(kill_data, reference, epochs)
    records = kill_harness.kill_campaign(
        kill_data, killed, kills=3, epochs=epochs, seed=1, phases=("step", "ckpt", "eval")
    )
    assert sorted(r.phase for r in records) == ["ckpt", "eval", "step"]
    assert all(r.landed for r in records), records  # each kill hit a running process
    assert all(r.loadable for r in records), records

    # Ctrl-C right after the first step of the round: the stop is seen in the next step, which
    # is mid-epoch (3 steps per epoch), so the epoch is left for the resume to redo.
    saved = load_checkpoint(killed / "last.pt")["epoch"]
    code, err = kill_harness.interrupt(kill_data, killed, epochs, signal.SIGINT, 1)
    last = err.strip().splitlines()[-1]
    assert code == 130, err
    assert f"stopped during epoch {saved + 1}" in last, last
    assert f"segcompress train --out {killed} --resume" in last and "Traceback" not in err
    assert load_checkpoint(killed / "last.pt")["epoch"] == saved
    assert not list(killed.glob(".*tmp*"))

    kill_harness.finish(kill_data, killed, epochs)
    assert kill_harness.compare_runs(reference, killed) == []

    # The comparison itself can fail: one changed weight and a stray temporary file show up.
    state = load_checkpoint(killed / "last.pt")
    key = next(iter(state["model"]))
    state["model"][key] = state["model"][key] + 1
    save_checkpoint(state, killed / "last.pt")
    (killed / ".last.pt.x.tmp").write_bytes(b"half")
    problems = kill_harness.compare_runs(reference, killed)
    assert any(key in p for p in problems) and any("temporary" in p for p in problems)
