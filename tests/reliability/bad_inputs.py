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


@dataclass
class Outcome:
    code: int | None
    stderr: str
    error: str | None = None  # an exception that escaped main() (a traceback for the user)
    changed: list[str] = field(default_factory=list)

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
    if name == "hold_lock":
        from segcompress.engine.outdir import RunLock

        with RunLock(corpus / "locked"):
            yield
        return
    raise ValueError(f"unknown patch {name}")


def run_case(case: Case, corpus: Path) -> Outcome:
    """Run one case in-process; records exit code, stderr and files changed in the corpus."""
    from segcompress.cli import main

    argv = [a.replace("{c}", str(corpus)) for a in case.argv]
    before = _digest(corpus)
    err = io.StringIO()
    error = None
    code: int | None
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
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
    return Outcome(code, err.getvalue(), error, changed)


def normalise(message: str, corpus: Path) -> str:
    """The message with machine-specific parts (paths, pids) replaced, for the docs table."""
    text = message.replace(str(corpus), "<corpus>")
    text = re.sub(r"\.tmp\d+", ".tmp<pid>", text)
    return re.sub(r"pid \d+", "pid <pid>", text)


def shown_message(outcome: Outcome, corpus: Path) -> str:
    """What the docs table shows for an outcome."""
    if outcome.error is not None:
        return normalise("(traceback: " + outcome.error.strip().splitlines()[-1] + ")", corpus)
    if outcome.code == 0:
        return "(accepted)"
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
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SEGCOMPRESS_CACHE"] = str(Path(tmp) / "cache")
        build_corpus(Path(tmp) / "corpus")
        write_doc(Path(tmp) / "corpus")
    print(f"wrote {DOC}")
