"""The fault corpus of the teacher-target cache and of resume, as a new user meets it.

Each fault (docs/bad-inputs.md: the cache-, unlabeled- and resume- rows and the notes below
the table) ends in one line and exit 1 or 2, or in training exactly as on intact data: a
damaged cache (truncated, random bytes, finite garbage of the same size, a broken index) is
moved aside and rebuilt, a full disk is refused naming both sizes and SEGCOMPRESS_CACHE (never
SIGBUS), a stopped build leaves no temporary file, a resume that changes the recipe is refused,
``--skip-bad`` counts the unlabelled frames it leaves out, and one seed trains one student
whether the cache was built in the run or reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from segcompress.cli import main
from tests.reliability.bad_inputs import damage_cache

# Its subprocess tests took down the xdist worker that ran them in full runs (never alone):
# `make test` runs this module in a pytest process of its own.
pytestmark = pytest.mark.own_process

SMALL = ["--model", "student_xs", "--img-size", "32x64", "--batch", "4", "--no-progress"]
RUN = [*SMALL, "--epochs", "1", "--threads", "1", "--samples", "0", "--seed", "0"]
RUN += ["--deterministic"]
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32x64 synthetic dataset (8 train, 2 val, 3 unlabelled frames) and a teacher."""
    from segcompress.data.synthetic import synthesize

    root = tmp_path_factory.mktemp("cache-faults")
    synthesize(root / "data", n_train=8, n_val=2, size=(32, 64), seed=0, n_unlabeled=3)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(["train", "--data", str(root / "data"), *RUN, "--out", str(root / "teacher")])
    assert code == 0, "could not train the teacher"
    return root


@pytest.fixture(scope="module")
def reference(world: Path) -> tuple[Path, list[dict]]:
    """A cache built by a 1-epoch distillation, and what that run trained."""
    env = os.environ.get("SEGCOMPRESS_CACHE")
    os.environ["SEGCOMPRESS_CACHE"] = str(world / "reference-cache")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(_distill(world, world / "reference")) == 0
    finally:
        os.environ["SEGCOMPRESS_CACHE"] = env or ""
    return world / "reference-cache", _trained(world / "reference")


def _reuse(reference: tuple[Path, list[dict]], tmp_path: Path, monkeypatch) -> Path:
    """A copy of the reference cache as this test's SEGCOMPRESS_CACHE."""
    cache = tmp_path / "cache"
    shutil.copytree(reference[0], cache)
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(cache))
    return cache


def _distill(world: Path, out: Path, *extra: str) -> list[str]:
    return [
        "distill",
        "--data",
        str(world / "data"),
        *RUN,
        "--teacher",
        str(world / "teacher" / "best.pt"),
        "--precompute-teacher",
        "--out",
        str(out),
        *extra,
    ]


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _trained(out: Path) -> list[dict]:
    """The log rows without their timings: what was trained and what it scored."""
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    drop = ("time_s", "images_per_s", "data_time_share")
    return [{k: v for k, v in row.items() if k not in drop} for row in rows]


def _cache_file(cache: Path) -> Path:
    (found,) = (cache / "teacher-targets").glob("*/logits.npy")
    return found


# -- a damaged cache -------------------------------------------------------------------------
WHAT_IS_SAID = {
    "truncated": ("logits.npy", "truncated or damaged"),
    "random-bytes": ("logits.npy", "fails its checksum"),
    "finite-garbage": ("logits.npy", "fails its checksum"),
    "index": ("index.json", "unreadable cache index"),
}


@pytest.mark.parametrize("kind", list(WHAT_IS_SAID))
def test_a_damaged_cache_is_named_moved_aside_and_rebuilt(
    world, reference, tmp_path, monkeypatch, capsys, kind
):
    logits = _cache_file(_reuse(reference, tmp_path, monkeypatch))
    if kind == "index":
        (logits.parent / "index.json").write_text('{"key": ')
    else:
        damage_cache(logits, kind)
    code, out, err = _run(_distill(world, tmp_path / "again"), capsys)
    assert code == 0, err
    notice = [line for line in _lines(out) if "teacher targets" in line]
    name, said = WHAT_IS_SAID[kind]
    assert len(notice) == 1 and str(logits.parent / name) in notice[0], out
    assert said in notice[0] and "moved aside" in notice[0], notice
    (aside,) = logits.parent.parent.glob(f"{logits.parent.name}.damaged-*")
    assert (aside / "logits.npy").is_file()  # kept, not deleted
    assert _trained(tmp_path / "again") == reference[1]  # rebuilt, not trained on


def test_damage_found_while_training_stops_in_one_line_even_from_a_worker(
    world, tmp_path, monkeypatch, capsys
):
    """The digest of every frame read is checked: a file damaged after the cache was opened
    ends the run (one line, the cache moved aside) instead of training on it."""
    import torch

    from segcompress.data.checked_array import CacheDamaged
    from segcompress.engine.teacher_targets import TeacherTargets

    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))
    assert _run(_distill(world, tmp_path / "run"), capsys)[0] == 0
    copy = _cache_file(tmp_path / "cache").parent
    targets = TeacherTargets(copy)
    assert torch.isfinite(targets[5]).all()
    damage_cache(copy / "logits.npy", "finite-garbage")
    loader = torch.utils.data.DataLoader(targets, batch_size=4, num_workers=1)
    with pytest.raises(CacheDamaged) as caught:
        list(loader)
    message = str(caught.value)
    assert "\n" not in message and "fails its checksum" in message, message
    assert "run the same command again to rebuild them" in message
    assert not copy.exists() and list(copy.parent.glob(f"{copy.name}.damaged-*"))


# -- the disk fills ----------------------------------------------------------------------------
def test_too_little_space_is_refused_before_writing_and_a_full_disk_mid_write_too(
    tmp_path, monkeypatch
):
    import errno

    from segcompress.data import checked_array
    from segcompress.data.checked_array import ArrayWriter
    from segcompress.errors import DataError

    class Usage:
        free = 1000

    monkeypatch.setattr(checked_array.shutil, "disk_usage", lambda path: Usage)
    shape = (16, 128, 128)  # 512 KiB of float16
    expected = r"needs 512 KiB but its disk has 1 KiB free.*SEGCOMPRESS_CACHE"
    with pytest.raises(DataError, match=expected), ArrayWriter(tmp_path / "a", shape, np.float16):
        pass
    assert list(tmp_path.iterdir()) == []
    Usage.free = 10**12  # the check passes, then the disk fills while writing

    def full(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checked_array.os, "posix_fallocate", full)
    anything_free = expected.replace("1 KiB", "[0-9.]+ [KMGi]+B")
    with pytest.raises(DataError, match=anything_free), ArrayWriter(tmp_path / "b", shape, "f2"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_data_prepare_on_a_full_disk_is_one_line_and_leaves_no_temp_file(
    world, tmp_path, monkeypatch, capsys
):
    """The image cache (``data prepare``) shares the cache folder: the same check, and its
    first file is removed when the second does not fit."""
    from segcompress.data import checked_array

    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))
    frees = iter([1 << 40, 1000, 1000])  # the images fit, the masks do not
    usage = shutil.disk_usage(tmp_path)
    fake = type("shutil", (), {"disk_usage": lambda path: usage._replace(free=next(frees))})
    monkeypatch.setattr(checked_array, "shutil", fake)
    argv = ["data", "prepare", str(world / "data"), "--img-size", "32x64", "--split", "train"]
    code, _, err = _run(argv, capsys)
    assert code == 1, err
    (message,) = _lines(err)
    assert "needs 16 KiB but its disk has 1 KiB free" in message, message
    assert "SEGCOMPRESS_CACHE" in message
    assert [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()] == []


def _namespace_reason() -> str | None:
    """Why a private tmpfs cannot be mounted here (None: it can)."""
    if sys.platform != "linux" or os.geteuid() != 0 or shutil.which("unshare") is None:
        return "needs Linux, root and unshare to mount a small tmpfs in a mount namespace"
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # never the xdist worker's channel
    )
    if probe.returncode:
        return f"cannot mount a tmpfs in a mount namespace here: {probe.stderr.strip()}"
    return None


# Runs the command twice on the full disk: as it is, then with the check before writing told
# the disk is big, so that the disk fills while writing; lists temporary files after each.
_TWICE = """
import pathlib, sys, collections
from segcompress.cli import main
from tests.reliability.bad_inputs import damage_cache
from segcompress.data import checked_array
cache = pathlib.Path(sys.argv[1])
for attempt in ("checked before", "found while writing"):
    code = main(sys.argv[2:] + ["--out", sys.argv[1] + "-out-" + attempt[:5]])
    print(attempt, code, sorted(p.name for p in cache.rglob("*tmp*")), flush=True)
    usage = collections.namedtuple("usage", "total used free")(1 << 40, 0, 1 << 40)
    checked_array.shutil = type("shutil", (), {"disk_usage": staticmethod(lambda p: usage)})
"""


def test_a_full_cache_disk_is_one_line_never_sigbus_and_leaves_no_temp_file(world, tmp_path):
    """The issue's fault for real: SEGCOMPRESS_CACHE on a 512 KiB tmpfs, an 832 KiB cache."""
    reason = _namespace_reason()
    if reason:
        pytest.skip(reason)
    cache = tmp_path / "cache"
    cache.mkdir()
    script = f'mount -t tmpfs -o size=512k tmpfs {cache} && exec "$@"'
    command = [sys.executable, "-c", _TWICE, str(cache), *_distill(world, tmp_path / "out")]
    env = {**os.environ, "SEGCOMPRESS_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *command],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # never the xdist worker's channel
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 0, (done.returncode, done.stderr)  # 135 would be SIGBUS
    assert _lines(done.stdout) == ["checked before 1 []", "found while writing 1 []"]
    messages = _lines(done.stderr)
    assert len(messages) == 2, done.stderr
    for message in messages:
        assert message.startswith("segcompress: error: ") and "SEGCOMPRESS_CACHE" in message
        assert "the cache needs 832 KiB but its disk has" in message, message


# Sends SIGTERM to its own main thread while the second batch of teacher logits is computed,
# the cache's temporary file half written; prints the temporary files seen then.
_SIGTERM_MID_BUILD = """
import pathlib, signal, sys, threading
import segcompress.engine.teacher_targets as targets
from segcompress.cli import main
real, batches = targets.teacher_logits, []
def logits_then_signal(*args):
    batches.append(sorted(p.name for p in pathlib.Path(sys.argv[1]).rglob("*.tmp*")))
    if len(batches) == 2:
        signal.pthread_kill(threading.main_thread().ident, signal.SIGTERM)
    return real(*args)
targets.teacher_logits = logits_then_signal
code = main(sys.argv[2:])
print(batches[-1], flush=True)
sys.exit(code)
"""


def test_sigterm_during_the_build_removes_the_temp_file_and_says_so(world, tmp_path):
    """In a fresh interpreter, as the other signal tests (see test_signals.py)."""
    cache = tmp_path / "cache"
    argv = _distill(world, tmp_path / "out", "--batch", "2")
    env = {**os.environ, "SEGCOMPRESS_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _SIGTERM_MID_BUILD, str(cache), *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # never the xdist worker's channel
        env=env,
        cwd=REPO,
    )
    assert done.returncode == 143, (done.returncode, done.stderr)
    assert "logits.npy.tmp" in done.stdout, done.stdout  # stopped with the file half written
    (message,) = _lines(done.stderr)
    assert message.startswith("segcompress: SIGTERM while building the teacher targets in ")
    assert "the partial file was removed; run the same command again" in message, message
    assert list(cache.rglob("*tmp*")) == []


# -- resume ------------------------------------------------------------------------------------
def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_resume_refuses_a_changed_recipe_unless_asked_and_records_it(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert _run(_distill(world, out, "--kd", "dist"), capsys)[0] == 0
    kept = {name: _digest(out / name) for name in ("last.pt", "config.yaml", "log.jsonl")}
    resume = ["distill", "--out", str(out), "--resume", "--epochs", "2"]
    code, _, err = _run([*resume, "--kd", "kl"], capsys)
    assert code == 2, err
    (message,) = _lines(err)
    assert 'distill.kd was ["dist"]' in message and 'now ["kl"]' in message, message
    assert "--resume-with-changes" in message
    assert {name: _digest(out / name) for name in kept} == kept  # nothing written
    code, _, err = _run([*resume, "--lr", "0.01", "--temperature", "2"], capsys)
    assert code == 2 and "(and 1 more: optim.lr)" in err, err
    code, _, err = _run([*resume, "--model-arg", "width_mult=0.5"], capsys)
    assert code == 2 and "model.args.width_mult was 1.0" in err and "now 0.5" in err, err
    assert {name: _digest(out / name) for name in kept} == kept
    # How long, how fast and what is printed stay free to change, and a YAML model.args that
    # leaves out the defaults builds the same model.
    config = tmp_path / "run.yaml"
    config.write_text("model:\n  args: {upsample: nearest}\n")
    free = ["--threads", "1", "--no-progress", "--samples", "1", "--config", str(config)]
    assert _run([*resume, *free], capsys)[0] == 0
    changed = ["distill", "--out", str(out), "--resume-with-changes", "--epochs", "3"]
    assert _run([*changed, "--kd", "kl"], capsys)[0] == 0
    (row,) = [json.loads(line) for line in (out / "config_history.jsonl").read_text().splitlines()]
    assert row == {"after_epoch": 2, "changes": {"distill.kd": {"from": ["dist"], "to": ["kl"]}}}
    assert "- kl" in (out / "config.yaml").read_text()
    assert [r["epoch"] for r in _trained(out)] == [1, 2, 3]


# -- unlabelled frames and --skip-bad ----------------------------------------------------------
def test_skip_bad_counts_and_names_the_unlabelled_frames_it_leaves_out(
    world, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("SEGCOMPRESS_CACHE", str(tmp_path / "cache"))
    frames = tmp_path / "frames"
    shutil.copytree(world / "data" / "unlabeled" / "images", frames)
    bad = sorted(frames.glob("*.jpg"))[1]
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 3])
    argv = _distill(world, tmp_path / "run", "--unlabeled", str(frames), "--skip-bad")
    for _ in ("cache built", "cache reused"):
        code, out, err = _run([*argv, "--overwrite"], capsys)
        assert code == 0, err
        lines = _lines(out)
        left = f"({frames}; 1 unreadable left out by --skip-bad)"
        assert f"distill: 8 labelled and 2 unlabelled training frames {left}" in lines, out
        (named,) = [line for line in lines if line.startswith("--skip-bad: left out 1 ")]
        assert str(bad) in named and "unreadable unlabelled frame" in named, named


# -- the same seed, the same student -----------------------------------------------------------
def test_the_same_seed_trains_the_same_student_with_the_cache_built_or_reused(
    world, reference, tmp_path, monkeypatch, capsys
):
    """The reference run built its cache; this one reuses a copy of it, with the same seed."""
    cache = _reuse(reference, tmp_path, monkeypatch)
    code, out, _ = _run(_distill(world, tmp_path / "reused"), capsys)
    assert code == 0 and "teacher targets" not in out  # reused as it was
    assert len(list((cache / "teacher-targets").iterdir())) == 1
    assert _trained(tmp_path / "reused") == reference[1]
