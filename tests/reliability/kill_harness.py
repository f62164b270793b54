"""Fault injection for the reliability tests and ``benchmarks/bench_kill.py``: SIGKILL (or
signal) a training at chosen moments, resume, and compare with an uninterrupted run.

Each round starts ``segcompress train`` as a subprocess on a tiny synthetic dataset (CPU,
``--deterministic``, one thread) and kills it with SIGKILL at one of these moments:

* ``step``: right after the N-th optimizer step of the process (the kill lands in the next step);
* ``ckpt``: halfway through writing the N-th checkpoint (half the bytes are on disk);
* ``eval``: after the first validation batch of the N-th evaluation;
* ``random``: at a uniformly random time after the process started.

The child process (this file run as a script) announces these moments through a marker file:
it wraps ``torch.save``, the trainer's ``evaluate`` and the LR schedule's ``step`` in its own
process only (the training code itself is unchanged, and nothing is patched in the process that
imports this module) and waits there so the kill lands exactly in that phase. After every kill,
``last.pt`` and ``best.pt`` must load; the next round resumes (or starts afresh with
``--overwrite`` when the first checkpoint was never completed). A final round runs to the end,
and its weights, metrics and log rows must equal those of an uninterrupted run bit for bit.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "KillRecord",
    "compare_runs",
    "finish",
    "interrupt",
    "kill_campaign",
    "make_data",
]

_SCRIPT = Path(__file__).resolve()  # run as the child process (see the end of this file)
_SRC = _SCRIPT.parents[2] / "src"
PHASES = ("step", "ckpt", "eval", "random")
# Log fields that measure wall time, the only ones allowed to differ between runs.
TIMING_FIELDS = ("time_s", "images_per_s", "data_time_share")
# Seconds the child waits at its kill point (the parent kills it long before).
HOLD_S = 60.0
# The dataset every round trains on: 12 training frames in batches of 4, 8 validation frames.
N_TRAIN, N_VAL, BATCH = 12, 8, 4
STEPS_PER_EPOCH = N_TRAIN // BATCH
ENV_MARKS, ENV_AT = "SEGCOMPRESS_KILL_MARKS", "SEGCOMPRESS_KILL_AT"


@dataclass
class KillRecord:
    """One kill: where it was aimed, whether it landed there, and what it left behind."""

    round: int
    phase: str
    occurrence: int  # which step / checkpoint write / evaluation of the process (0: random)
    delay_s: float  # seconds from the process start to the kill
    landed: bool  # the process was still running at the kill point
    epoch_saved: int | None  # epoch in last.pt after the kill (None: no checkpoint yet)
    loadable: bool


def train_argv(data: Path, out: Path, epochs: int) -> list[str]:
    """The tiny deterministic CPU training every round runs."""
    return [
        "train",
        "--data",
        str(data),
        "--model",
        "student_xs",
        "--img-size",
        "32x64",
        "--batch",
        str(BATCH),
        "--epochs",
        str(epochs),
        "--deterministic",
        "--device",
        "cpu",
        "--no-progress",
        "--samples",
        "1",
        "--out",
        str(out),
    ]


def make_data(root: Path, seed: int) -> None:
    """The synthetic 64x128 dataset of the kill rounds."""
    from segcompress.data.synthetic import synthesize

    synthesize(root, n_train=N_TRAIN, n_val=N_VAL, size=(64, 128), seed=seed)


# -- child side ------------------------------------------------------------------------------
def _child(argv: list[str]) -> int:
    """Run the CLI with phase markers (and a hold at the requested one); see the docstring."""
    import io

    import torch

    import segcompress.engine.trainer as trainer_mod
    from segcompress.cli import main as cli_main
    from segcompress.engine.schedule import LRSchedule

    marks = Path(os.environ[ENV_MARKS])
    phase, _, nth = os.environ.get(ENV_AT, ":").partition(":")
    target = int(nth) if nth else 0
    counts = dict.fromkeys(PHASES, 0)

    def reached(name: str) -> bool:
        """Count an occurrence of ``name``; when it is the target, announce it and wait."""
        counts[name] += 1
        if name == phase and counts[name] == target:
            with open(marks, "a", encoding="utf-8") as fh:
                fh.write(f"{name}:{counts[name]}\n")
            return True
        return False

    real_save, real_step, real_evaluate = torch.save, LRSchedule.step, trainer_mod.evaluate

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        data = buffer.getvalue()
        if counts["ckpt"] + 1 == target and phase == "ckpt" and hasattr(f, "write"):
            f.write(data[: len(data) // 2])
            f.flush()
            os.fsync(f.fileno())
            reached("ckpt")
            time.sleep(HOLD_S)
        else:
            counts["ckpt"] += 1
        f.write(data)

    def step(self: Any) -> None:
        real_step(self)
        reached("step")

    def evaluate(predict: Any, *args: Any, **kwargs: Any) -> Any:
        counts["eval"] += 1
        hold = phase == "eval" and counts["eval"] == target
        batches = 0

        def wrapped(images: Any) -> Any:
            nonlocal batches
            result = predict(images)
            batches += 1
            if hold and batches == 1:
                counts["eval"] -= 1
                reached("eval")
                time.sleep(HOLD_S)
            return result

        return real_evaluate(wrapped, *args, **kwargs)

    torch.save = save
    LRSchedule.step = step
    trainer_mod.evaluate = evaluate
    return cli_main(argv)


# -- parent side -----------------------------------------------------------------------------
def _env(marks: Path, at: str) -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env[ENV_MARKS], env[ENV_AT] = str(marks), at
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_SRC), env.get("PYTHONPATH")) if p)
    return env


def _spawn(argv: list[str], marks: Path, at: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(_SCRIPT), *argv],
        env=_env(marks, at),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _round_argv(base: list[str], out: Path, epochs: int) -> list[str]:
    """Resume when a checkpoint exists; otherwise start again, replacing any partial run.

    A run that already finished is started again too, so every round has work left to kill.
    """
    saved, _ = _saved_state(out)
    if saved is not None and saved < epochs:
        return ["train", "--out", str(out), "--resume", "--no-progress"]
    return [*base, "--overwrite"]


def _occurrence(phase: str, out: Path, epochs: int, rng: random.Random) -> int:
    """Which occurrence of ``phase`` to kill at, within the work this round has left."""
    saved, _ = _saved_state(out)
    fresh = saved is None or saved >= epochs
    left = epochs if fresh else epochs - saved
    if phase == "step":
        return rng.randint(1, left * STEPS_PER_EPOCH)
    if phase == "ckpt":  # a fresh run also writes the state before its first step
        return rng.randint(1, left + int(fresh))
    if phase == "eval":
        return rng.randint(1, left)
    return 0


def _work_left(out: Path, epochs: int) -> float:
    """Share of the run a new round has left to do (1.0 for a fresh start)."""
    saved, _ = _saved_state(out)
    return 1.0 if saved is None or saved >= epochs else (epochs - saved) / epochs


def _saved_state(out: Path) -> tuple[int | None, bool]:
    """(epoch in last.pt, whether every checkpoint present loads)."""
    from segcompress.engine.checkpoint import load_checkpoint
    from segcompress.errors import DataError

    epoch: int | None = None
    for name in ("last.pt", "best.pt"):
        path = out / name
        if not path.exists():
            continue
        try:
            state = load_checkpoint(path)
        except DataError:
            return epoch, False
        if name == "last.pt":
            epoch = int(state["epoch"])
    return epoch, True


def kill_campaign(
    data: Path,
    out: Path,
    *,
    kills: int,
    epochs: int,
    seed: int,
    phases: tuple[str, ...] = PHASES,
    run_s: float = 8.0,
    timeout_s: float = 300.0,
) -> list[KillRecord]:
    """Kill-and-resume ``kills`` times (cycling through ``phases`` in a seeded random order).

    ``run_s`` is how long an uninterrupted run takes: random kills fall within the time the
    round's remaining work needs, so they land on a running process.
    """
    rng = random.Random(seed)
    base = train_argv(data, out, epochs)
    marks = out.parent / f"{out.name}.marks"
    plan = [phases[i % len(phases)] for i in range(kills)]
    rng.shuffle(plan)
    records: list[KillRecord] = []
    for index, phase in enumerate(plan, start=1):
        occurrence = _occurrence(phase, out, epochs, rng)
        max_delay = run_s * _work_left(out, epochs)
        marks.write_text("")
        start = time.perf_counter()
        proc = _spawn(_round_argv(base, out, epochs), marks, f"{phase}:{occurrence}")
        landed = _wait_for_kill_point(proc, marks, phase, rng, max_delay, timeout_s)
        delay = time.perf_counter() - start
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=timeout_s)
        epoch, loadable = _saved_state(out)
        records.append(
            KillRecord(index, phase, occurrence, round(delay, 2), landed, epoch, loadable)
        )
    return records


def interrupt(
    data: Path, out: Path, epochs: int, signum: int, step: int, timeout_s: float = 300.0
) -> tuple[int, str]:
    """Run (or resume) a training and send ``signum`` right after its ``step``-th step.

    Returns the exit status and stderr: a graceful stop, unlike SIGKILL, must end with status
    128 + signum and a line saying how to resume.
    """
    marks = out.parent / f"{out.name}.marks"
    marks.write_text("")
    proc = _spawn(_round_argv(train_argv(data, out, epochs), out, epochs), marks, f"step:{step}")
    deadline = time.monotonic() + timeout_s
    while not marks.read_text() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    if proc.poll() is None:
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=timeout_s)
    return proc.returncode, err


def _wait_for_kill_point(
    proc: subprocess.Popen,
    marks: Path,
    phase: str,
    rng: random.Random,
    max_delay: float,
    timeout_s: float,
) -> bool:
    """Block until the child reaches its kill point; False if it finished first."""
    deadline = time.monotonic() + timeout_s
    if phase == "random":
        delay = rng.uniform(0.5, max(0.5, max_delay))
        try:
            proc.wait(timeout=delay)
            return False
        except subprocess.TimeoutExpired:
            return True
    while time.monotonic() < deadline:
        if marks.read_text():
            if phase == "step":  # let the next step get under way
                time.sleep(rng.uniform(0.0, 0.1))
            return proc.poll() is None
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    raise TimeoutError(f"the child never reached its {phase} kill point in {timeout_s:.0f}s")


def finish(
    data: Path, out: Path, epochs: int, timeout_s: float = 300.0
) -> subprocess.CompletedProcess:
    """Run (resume) to the end without kills; raises with the child's stderr on failure."""
    marks = out.parent / f"{out.name}.marks"
    argv = _round_argv(train_argv(data, out, epochs), out, epochs)
    result = subprocess.run(
        [sys.executable, str(_SCRIPT), *argv],
        env=_env(marks, ":"),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    if result.returncode != 0:
        raise RuntimeError(f"run in {out} failed ({result.returncode}): {result.stderr[-2000:]}")
    return result


def compare_runs(reference: Path, resumed: Path) -> list[str]:
    """Differences between two finished runs (empty when weights, metrics and logs match)."""
    import torch

    from segcompress.engine.checkpoint import load_checkpoint
    from segcompress.engine.logging import read_log

    problems: list[str] = []
    for name in ("last.pt", "best.pt"):
        a, b = load_checkpoint(reference / name), load_checkpoint(resumed / name)
        for key, tensor in a["model"].items():
            if not torch.equal(tensor, b["model"][key]):
                problems.append(f"{name}: weight {key} differs")
        for key in ("epoch", "step", "metrics", "best"):
            if a[key] != b[key]:
                problems.append(f"{name}: {key} differs: {a[key]} != {b[key]}")
    rows_a, rows_b = read_log(reference / "log.jsonl"), read_log(resumed / "log.jsonl")
    strip = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in (*rows_a, *rows_b)]
    if strip[: len(rows_a)] != strip[len(rows_a) :]:
        problems.append("log.jsonl rows differ (beyond timing fields)")
    leftovers = sorted(p.name for p in resumed.glob(".*tmp*"))
    if leftovers:
        problems.append(f"temporary files left behind: {leftovers}")
    return problems


if __name__ == "__main__":  # the child: ``python kill_harness.py <segcompress CLI arguments>``
    sys.exit(_child(sys.argv[1:]))
