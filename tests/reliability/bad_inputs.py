"""The bad-input corpus: broken files, wrong flags and configs, hostile checkpoints, one per case.

Each ``Case`` (listed in ``bad_input_cases.py``) is a CLI command run against a corpus built
in a temporary folder (a small synthetic dataset, a trained checkpoint, variants with one defect
each). The expectation for every case: exit 1 (data/runtime) or 2 (usage), a last stderr line
that names the file or flag, no traceback, and no file that existed before changed or deleted.
A few inputs are odd but valid (an RGBA photo, a palette mask) and must be accepted (exit 0).

``docs/bad-inputs.md`` is generated from that list with the messages actually printed:

    python -m tests.reliability.bad_inputs      # rewrites docs/bad-inputs.md

and ``test_bad_inputs.py`` checks that every row there is still true.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import re
import shutil
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from segcompress.engine.outdir import LOCK_NAME
from tests.reliability.bad_input_cases import (
    CASES,
    FIRST_VAL,
    FIRST_VAL_MASK,
    PAYLOAD_MARK,
    SMALL,
    Case,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"
CASES_BY_ID = {case.id: case for case in CASES}


@dataclass
class Outcome:
    code: int | None
    stderr: str
    error: str | None = None  # an exception that escaped main() (a traceback for the user)
    changed: list[str] = field(default_factory=list)
    notice: str | None = None  # the stdout line an accepted case shows (``Case.shows``)

    @property
    def lines(self) -> list[str]:
        """stderr as a terminal shows it: a carriage return (progress bars) restarts the line."""
        shown = (line.rsplit("\r", 1)[-1] for line in self.stderr.split("\n"))
        return [line.strip() for line in shown if line.strip()]

    @property
    def message(self) -> str:
        return self.lines[-1] if self.lines else ""


# -- the corpus ------------------------------------------------------------------------------
class _Evil:
    """Unpickling this would create a marker file: the test checks it never appears."""

    def __init__(self, mark: Path) -> None:
        self.mark = mark

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.mark, PAYLOAD_MARK))


def damage_cache(path: Path, kind: str) -> None:
    """Damage a cache file as disks and people do: truncate it to half, write 8 KB of random
    bytes into its middle, or overwrite 4,096 float16 values there with a finite value."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    if kind == "truncated":
        path.write_bytes(bytes(data[:middle]))
        return
    if kind == "random-bytes":
        data[middle : middle + 8192] = np.random.default_rng(0).bytes(8192)
    else:
        assert kind == "finite-garbage", kind
        data[middle : middle + 8192] = np.full(4096, 0.5, np.float16).tobytes()
    path.write_bytes(bytes(data))


def _variant(corpus: Path, name: str, change: Callable[[Path], None]) -> None:
    target = corpus / name
    shutil.copytree(corpus / "good", target)
    change(target)


def build_corpus(corpus: Path) -> None:
    """Write the good dataset, a trained checkpoint and every defective variant into ``corpus``."""
    from segcompress.cli import main
    from segcompress.data.synthetic import synthesize
    from segcompress.engine.checkpoint import load_checkpoint, save_checkpoint

    synthesize(corpus / "good", n_train=4, n_val=2, size=(64, 128), seed=0)
    (corpus / "notes.txt").write_text("not an image\n")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(
            [
                "train",
                "--data",
                str(corpus / "good"),
                *SMALL,
                "--epochs",
                "1",
                "--samples",
                "0",
                "--out",
                str(corpus / "ckpt"),
            ]
        )
    assert code == 0, "could not train the corpus checkpoint"

    def jpeg(dataset: Path) -> Path:
        return dataset / FIRST_VAL

    def mask(dataset: Path) -> Path:
        return dataset / FIRST_VAL_MASK

    def truncate(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])

    def resave(path: Path, convert: Callable[[Image.Image], Image.Image], name: str) -> None:
        with Image.open(path) as img:
            new = convert(img.convert("RGB"))
        path.unlink()
        new.save(path.with_name(name))

    stem = Path(FIRST_VAL).name.removesuffix(".jpg")
    _variant(corpus, "zero_jpeg", lambda d: jpeg(d).write_bytes(b""))
    _variant(corpus, "trunc_jpeg", lambda d: truncate(jpeg(d)))
    _variant(corpus, "zero_png", lambda d: mask(d).write_bytes(b""))
    _variant(corpus, "trunc_png", lambda d: truncate(mask(d)))
    _variant(
        corpus,
        "png16_image",
        lambda d: resave(
            jpeg(d),
            lambda im: Image.fromarray(np.asarray(im.convert("L"), dtype=np.uint16) * 257),
            f"{stem}.png",
        ),
    )
    _variant(
        corpus,
        "png16_mask",
        lambda d: resave(
            mask(d),
            lambda im: Image.fromarray(np.asarray(im.convert("L"), dtype=np.uint16) * 257),
            mask(d).name,
        ),
    )
    _variant(
        corpus,
        "palette",
        lambda d: resave(
            mask(d),
            lambda im: im.quantize(
                colors=256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE
            ),
            mask(d).name,
        ),
    )
    _variant(
        corpus, "rgba", lambda d: resave(jpeg(d), lambda im: im.convert("RGBA"), f"{stem}.png")
    )
    _variant(corpus, "gray", lambda d: resave(jpeg(d), lambda im: im.convert("L"), jpeg(d).name))
    _variant(
        corpus,
        "mask_size",
        lambda d: resave(
            mask(d),
            lambda im: im.resize((im.width // 2, im.height // 2), Image.NEAREST),
            mask(d).name,
        ),
    )

    def odd_colours(d: Path) -> None:
        resave(mask(d), lambda im: Image.new("RGB", im.size, (7, 77, 177)), mask(d).name)

    _variant(corpus, "mask_colours", odd_colours)

    def orphan(d: Path) -> None:
        shutil.copy(jpeg(d), d / "val/images/0000099_leftImg8bit.jpg")

    _variant(corpus, "orphan", orphan)

    def duplicate(d: Path) -> None:
        with Image.open(jpeg(d)) as im:
            im.save(d / f"val/images/{stem}.png")

    _variant(corpus, "duplicate", duplicate)

    def junk(d: Path) -> None:
        for folder in ("val/images", "val/rgb_labels"):
            (d / folder / "README.txt").write_text("notes\n")
            (d / folder / ".DS_Store").write_bytes(b"\0\1\2")

    _variant(corpus, "junk", junk)

    cfg = corpus / "cfg"
    cfg.mkdir()
    (cfg / "wrong_type.yaml").write_text("epochs: ten\n")
    (cfg / "unknown_key.yaml").write_text("optim: {lr: 0.1, momentun: 0.9}\n")
    (cfg / "list.yaml").write_text("- epochs\n- 3\n")
    (cfg / "broken.yaml").write_text("optim: {lr: 0.1\n")
    (cfg / "zero_batch.yaml").write_text("batch: 0\n")
    (cfg / "negative_lr.yaml").write_text("optim: {lr: -0.1}\n")
    (cfg / "precompute.yaml").write_text("distill: {precompute_teacher: true}\n")
    (cfg / "stale_holdout.txt").write_text(
        "# segcompress holdout of split 'train': 1 of 8 frames\n9999999\n"
    )
    (cfg / "zero_size.yaml").write_text("data: {img_size: [0, 64]}\n")
    (cfg / "neg_epochs.yaml").write_text("epochs: -3\n")

    bad = corpus / "bad"
    bad.mkdir()
    good_ckpt = (corpus / "ckpt" / "best.pt").read_bytes()
    (bad / "truncated.pt").write_bytes(good_ckpt[: len(good_ckpt) // 2])
    state = load_checkpoint(corpus / "ckpt" / "best.pt")
    save_checkpoint({**state, "model_name": "teacher", "model_args": {}}, bad / "other_arch.pt")
    with open(bad / "evil.pt", "wb") as fh:
        pickle.dump({"model": _Evil(corpus / PAYLOAD_MARK)}, fh)
    (bad / "corrupt.onnx").write_bytes(b"\x08\x07\x12\x04junk" + os.urandom(64))

    for run in ("oldrun", "truncrun", "resumerun", "locked"):
        shutil.copytree(corpus / "ckpt", corpus / run)
    truncate(corpus / "truncrun" / "last.pt")

    shutil.copytree(corpus / "good" / "train" / "images", corpus / "frames")
    truncate(sorted((corpus / "frames").iterdir())[1])
    kdrun = ["distill", "--data", str(corpus / "good"), *SMALL, "--epochs", "1", "--samples", "0"]
    kdrun += ["--teacher", str(corpus / "ckpt" / "best.pt"), "--kd", "dist"]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main([*kdrun, "--out", str(corpus / "kdrun")]) == 0, "could not distil kdrun"


# -- running a case --------------------------------------------------------------------------
def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        # Run folders' lock files hold the last holder's pid: rewritten by design.
        if p.is_file() and "outs" not in p.relative_to(root).parts and p.name != LOCK_NAME
    }


@contextlib.contextmanager
def _patches(name: str | None, corpus: Path) -> Iterator[None]:
    """Faults that cannot be made with files when running as root (chmod is ignored)."""
    if name is None:
        yield
        return
    if name == "unreadable_val_images":
        target = str(corpus / "good" / "val" / "images")
        real = os.scandir

        def scandir(path: object = ".") -> object:
            if os.fspath(path) == target:  # type: ignore[arg-type]
                raise PermissionError(13, "Permission denied", target)
            return real(path)  # type: ignore[arg-type]

        os.scandir = scandir  # type: ignore[assignment]
        try:
            yield
        finally:
            os.scandir = real
        return
    if name == "disk_full":
        import errno

        import segcompress.engine.outdir as outdir

        real_probe = outdir._write_probe

        def full(path: Path, size: int) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

        outdir._write_probe = full  # type: ignore[assignment]
        try:
            yield
        finally:
            outdir._write_probe = real_probe  # type: ignore[assignment]
        return
    if name.startswith("cache:"):
        with _cache_fault(name.split(":")[1], corpus):
            yield
        return
    if name == "hold_lock":
        from segcompress.engine.outdir import RunLock

        with RunLock(corpus / "locked"):
            yield
        return
    raise ValueError(f"unknown patch {name}")


@contextlib.contextmanager
def _cache_fault(kind: str, corpus: Path) -> Iterator[None]:
    """A teacher-target cache of its own for the case, built and then damaged (``kind`` of
    :func:`damage_cache`), or a disk that reports 64 KiB free (``full``)."""
    from segcompress.cli import main
    from segcompress.data import checked_array

    before = os.environ.get("SEGCOMPRESS_CACHE")
    os.environ["SEGCOMPRESS_CACHE"] = str(corpus / "outs" / f"cache-{kind}")
    real = checked_array.shutil
    try:
        if kind == "full":
            usage = shutil.disk_usage(corpus)._replace(free=2**16)
            checked_array.shutil = type("shutil", (), {"disk_usage": lambda path: usage})
        else:
            argv = [a.replace("{c}", str(corpus)) for a in CASES_BY_ID["cache-truncated"].argv]
            argv[-1] += f"-build-{kind}"
            quiet = io.StringIO()
            with contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
                assert main(argv) == 0, "could not build the cache to damage"
            (logits,) = (corpus / "outs" / f"cache-{kind}").glob("teacher-targets/*/logits.npy")
            damage_cache(logits, kind)
        yield
    finally:
        checked_array.shutil = real
        os.environ["SEGCOMPRESS_CACHE"] = before or ""


def run_case(case: Case, corpus: Path) -> Outcome:
    """Run one case in-process; records exit code, stderr and files changed in the corpus."""
    from segcompress.cli import main

    argv = [a.replace("{c}", str(corpus)) for a in case.argv]
    before = _digest(corpus)
    err, out = io.StringIO(), io.StringIO()
    error = None
    code: int | None
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            with _patches(case.patch, corpus):
                code = main(argv)
        except SystemExit as exc:  # argparse
            code = int(exc.code) if exc.code is not None else 0
        except Exception:
            code = None
            error = traceback.format_exc()
    after = _digest(corpus)
    changed = sorted(k for k, v in before.items() if after.get(k) != v)
    if (corpus / PAYLOAD_MARK).exists():
        changed.append(f"{PAYLOAD_MARK} (the pickle payload ran!)")
    lines = out.getvalue().splitlines()
    shown = [line for line in lines if case.shows and line.startswith(case.shows)]
    return Outcome(code, err.getvalue(), error, changed, shown[0] if shown else None)


def normalise(message: str, corpus: Path) -> str:
    """The message with machine-specific parts (paths, pids) replaced, for the docs table."""
    text = message.replace(str(corpus), "<corpus>")
    text = re.sub(r"\.tmp\d+", ".tmp<pid>", text)
    text = re.sub(r"teacher-targets/[0-9a-f]{20}", "teacher-targets/<key>", text)
    text = re.sub(r"\.damaged-\d{8}-\d{6}", ".damaged-<time>", text)
    return re.sub(r"pid \d+", "pid <pid>", text)


def shown_message(outcome: Outcome, corpus: Path) -> str:
    """What the docs table shows for an outcome."""
    if outcome.error is not None:
        return normalise("(traceback: " + outcome.error.strip().splitlines()[-1] + ")", corpus)
    if outcome.code == 0:
        return normalise(f"(accepted) {outcome.notice}", corpus) if outcome.notice else "(accepted)"
    return normalise(outcome.message, corpus)


# -- the docs table --------------------------------------------------------------------------
HEADER = """# Bad inputs: what each command says

Generated by `python -m tests.reliability.bad_inputs` from the case list in
`tests/reliability/bad_input_cases.py`; `tests/reliability/test_bad_inputs.py` checks every row
(exit code and message) against the current code. `<corpus>` is the temporary folder the tests
build: a 64x128 synthetic dataset (`good/`), a checkpoint trained on it (`ckpt/`) and copies of
the dataset with one defect each. Exit 0 marks odd but valid input that is converted; 1 is bad
data or a runtime failure; 2 is a wrong flag or config value. In every case no file that existed
before is changed, and no traceback is printed (pass `--debug` for one).

| case | input | command | exit | message |
|---|---|---|---|---|
"""


FOOTER = """
Faults of the teacher-target cache that the table cannot show (a signal, a real full disk, damage
found while training) are checked by `tests/reliability/test_cache_faults.py`:

- **The cache's disk fills while it is built** (`SEGCOMPRESS_CACHE` on a 512 KiB tmpfs): exit 1,
  `segcompress: error: <cache>/teacher-targets/<key>: the cache needs 832 KiB but its disk has
  512 KiB free; free space there or set SEGCOMPRESS_CACHE to a folder on a larger disk`, before
  anything is written; the same line if the disk fills while writing (the file is written with
  `write()` into a preallocated file, never through a memory map: no SIGBUS), and no temporary
  file is left.
- **SIGTERM (or Ctrl-C) while the cache is built**: exit 143 (130), `segcompress: SIGTERM while
  building the teacher targets in <cache>/teacher-targets/<key>; the partial file was removed;
  run the same command again to build them`.
- **The cache is damaged while a run trains on it** (each frame read is checked against its
  digest, in DataLoader workers too): exit 1, `segcompress: error: <cache>/teacher-targets/<key>/
  logits.npy: frame N (<frame id>) fails its checksum: the teacher targets are damaged and were
  not trained on; moved aside to <cache>/teacher-targets/<key>.damaged-<time>; run the same
  command again to rebuild them`.
- **`--resume-with-changes`** accepts what `resume-changed-recipe` refuses, and appends the
  change to the run's `config_history.jsonl`
  (`{"after_epoch": 1, "changes": {"distill.kd": {"from": ["dist"], "to": ["kl"]}}}`).

## segcompress-edge (the vehicle runtime, `./edge`)

Not generated: `tests/edge/test_bad_inputs.py` checks each line (exit code, one line on stderr,
no traceback). Nothing is written before the inputs, the model and `--out` are checked.

- **Truncated or corrupt video** (`run student.int8.onnx cut.mp4 --out o`): exit 1,
  `cut.mp4: cannot read this video (Invalid data found when processing input); the file is
  corrupt, truncated or not a video`. A decoding error part-way through stops the run with
  `corrupt or truncated video at frame N (...)`; the frames before it stay in a playable overlay.
- **Not a video** (a text file named `notes.mp4`): exit 1, the same line naming `notes.mp4`.
- **ONNX file without segcompress metadata**: exit 2, `bare.onnx: no segcompress metadata in
  this ONNX file; pass --classes FILE, or export it with `segcompress export``
  (`--img-size HxW` is asked for too when the graph's size is dynamic).
- **Not an ONNX model / cut ONNX file**: exit 1, `cut.onnx: onnxruntime cannot load this model
  (... Protobuf parsing failed.); export it again with `segcompress export``.
- **Missing runtime** (`--runtime openvino` without OpenVINO): exit 2, `--runtime openvino: the
  openvino package is not installed; pip install 'segcompress-edge[openvino]'`.
- **Unwritable `--out`**: exit 2, `--out afile/out: cannot write there (Not a directory);
  choose another folder`.
- **Existing outputs**: exit 2, `o/drive.summary.json: already exists; pass --overwrite to
  replace it`; nothing is written.
- **Frames that change size mid-stream**: handled (exit 0). Each frame's mask is computed at its
  own size; the overlay video keeps the first frame's size (later frames scaled to it); the
  summary lists each change (`size_changes`) and one line says where the first was.
- **Ctrl-C**: exit 130, `interrupted: the frames done are in o/drive.overlay.mp4 (playable)`;
  the summary is written with `"complete": false`.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def doc_row(case: Case, message: str) -> str:
    command = case.command().replace("{c}", "<corpus>")
    status = case.code if case.xfail is None else f"{case.code} (known bug: {case.xfail})"
    return f"| {case.id} | {_cell(case.what)} | `{_cell(command)}` | {status} | {_cell(message)} |"


def read_doc_rows(path: Path = DOC) -> dict[str, list[str]]:
    """Case id -> the cells of its row in the docs table."""
    rows: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("| ") or line.startswith(("| case", "|---")):
            continue
        cells = [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        rows[cells[0]] = cells
    return rows


def write_doc(corpus: Path, path: Path = DOC) -> None:
    lines = [HEADER.rstrip("\n")]
    for case in CASES:
        lines.append(doc_row(case, shown_message(run_case(case, corpus), corpus)))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n" + FOOTER, encoding="utf-8")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEGCOMPRESS_CACHE"] = str(Path(tmp) / "cache")
        build_corpus(Path(tmp) / "corpus")
        write_doc(Path(tmp) / "corpus")
    print(f"wrote {DOC}")
