"""The bad-input corpus: broken files, wrong flags and configs, hostile checkpoints, one per case.

Each ``Case`` is a CLI command run against a corpus built in a temporary folder (a small
synthetic dataset, a trained checkpoint, variants with one defect each). The expectation for
every case: exit 1 (data/runtime) or 2 (usage), a last stderr line that names the file or flag,
no traceback, and no file that existed before changed or deleted. A few inputs are odd but
valid (an RGBA photo, a palette mask) and must be accepted (exit 0).

``docs/bad-inputs.md`` is generated from this list with the messages actually printed:

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

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad-inputs.md"
SMALL = ["--model", "student_xs", "--img-size", "32x64", "--batch", "2", "--no-progress"]
FIRST_VAL = "val/images/0000004_leftImg8bit.jpg"
FIRST_VAL_MASK = "val/rgb_labels/0000004_gtFine_polygons.png"
PAYLOAD_MARK = "payload-ran"


@dataclass(frozen=True)
class Case:
    """One bad input. ``argv`` uses ``{c}`` for the corpus root; ``names`` must appear in the
    message (the file or flag at fault); ``xfail`` names the owner of a known defect."""

    id: str
    what: str
    argv: tuple[str, ...]
    code: int
    names: tuple[str, ...]
    xfail: str | None = None
    patch: str | None = None  # a fault injected in-process (see ``_patches``)

    def command(self) -> str:
        return "segcompress " + " ".join(self.argv)


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


def _ev(data: str, *extra: str) -> tuple[str, ...]:
    return ("evaluate", "{c}/ckpt/best.pt", "--data", f"{{c}}/{data}", "--split", "val", *extra)


def _tr(*extra: str) -> tuple[str, ...]:
    return ("train", "--data", "{c}/good", *SMALL, "--epochs", "1", *extra)


CASES: tuple[Case, ...] = (
    # -- image and mask files (read through `evaluate` on the val split) --
    Case("zero-byte-jpeg", "zero-byte JPEG image", _ev("zero_jpeg"), 1, (FIRST_VAL,)),
    Case("truncated-jpeg", "truncated JPEG image", _ev("trunc_jpeg"), 1, (FIRST_VAL,)),
    Case("zero-byte-png", "zero-byte PNG mask", _ev("zero_png"), 1, (FIRST_VAL_MASK,)),
    Case("truncated-png", "truncated PNG mask", _ev("trunc_png"), 1, (FIRST_VAL_MASK,)),
    Case("16bit-png-image", "16-bit PNG image (accepted)", _ev("png16_image"), 0, ()),
    Case(
        "16bit-png-mask",
        "16-bit grayscale PNG as colour mask",
        _ev("png16_mask"),
        1,
        (FIRST_VAL_MASK,),
    ),
    Case("palette-mask", "palette PNG mask in the class colours (accepted)", _ev("palette"), 0, ()),
    Case("rgba-image", "RGBA image (accepted)", _ev("rgba"), 0, ()),
    Case("gray-image", "grayscale image (accepted)", _ev("gray"), 0, ()),
    Case(
        "mask-other-size",
        "mask of another size than its image",
        _ev("mask_size"),
        1,
        (FIRST_VAL_MASK,),
    ),
    Case(
        "unknown-colours",
        "mask with colours outside the class table",
        _ev("mask_colours"),
        1,
        (FIRST_VAL_MASK,),
    ),
    Case("image-without-mask", "image without a mask", _ev("orphan"), 1, ("0000099",)),
    Case("duplicate-ids", "two images with one id", _ev("duplicate"), 1, ("0000004",)),
    Case("non-image-files", "non-image files in the data folders (ignored)", _ev("junk"), 0, ()),
    Case(
        "unreadable-dir",
        "unreadable images folder",
        _ev("good"),
        1,
        ("val/images",),
        patch="unreadable_val_images",
    ),
    Case(
        "missing-data",
        "nonexistent --data",
        ("train", "--data", "{c}/nope", *SMALL, "--out", "{c}/outs/missing-data"),
        1,
        ("nope",),
    ),
    Case(
        "wrong-format", "--format of another layout", _ev("good", "--format", "idd"), 1, ("good",)
    ),
    Case(
        "predict-missing-input",
        "predict on a nonexistent image",
        ("predict", "{c}/ckpt/best.pt", "{c}/nope.jpg", "--out", "{c}/outs/pred1"),
        2,
        ("nope.jpg",),
    ),
    Case(
        "predict-non-image",
        "predict on a text file",
        ("predict", "{c}/ckpt/best.pt", "{c}/notes.txt", "--out", "{c}/outs/pred2"),
        1,
        ("notes.txt",),
    ),
    Case(
        "data-check-missing",
        "data check of a nonexistent root",
        ("data", "check", "{c}/nope"),
        1,
        ("nope",),
    ),
    # -- configs and flags --
    Case(
        "yaml-wrong-type",
        "YAML value of the wrong type",
        _tr("--config", "{c}/cfg/wrong_type.yaml", "--out", "{c}/outs/y1"),
        2,
        ("wrong_type.yaml", "epochs"),
    ),
    Case(
        "yaml-unknown-key",
        "YAML unknown key",
        _tr("--config", "{c}/cfg/unknown_key.yaml", "--out", "{c}/outs/y2"),
        2,
        ("unknown_key.yaml", "momentun"),
    ),
    Case(
        "yaml-not-mapping",
        "YAML that is a list",
        _tr("--config", "{c}/cfg/list.yaml", "--out", "{c}/outs/y3"),
        2,
        ("list.yaml",),
    ),
    Case(
        "yaml-broken",
        "YAML syntax error",
        _tr("--config", "{c}/cfg/broken.yaml", "--out", "{c}/outs/y4"),
        2,
        ("broken.yaml",),
    ),
    Case(
        "yaml-zero-batch",
        "YAML batch: 0",
        ("train", "--data", "{c}/good", "--config", "{c}/cfg/zero_batch.yaml", "--out", "{c}/y5"),
        2,
        ("zero_batch.yaml", "batch"),
    ),
    Case(
        "yaml-zero-size",
        "YAML data.img_size: [0, 64]",
        ("train", "--data", "{c}/good", "--config", "{c}/cfg/zero_size.yaml", "--out", "{c}/y7"),
        2,
        ("zero_size.yaml", "data.img_size"),
    ),
    Case(
        "yaml-negative-epochs",
        "YAML epochs: -3",
        ("train", "--data", "{c}/good", "--config", "{c}/cfg/neg_epochs.yaml", "--out", "{c}/y8"),
        2,
        ("neg_epochs.yaml", "epochs"),
    ),
    Case(
        "yaml-precompute-no-teacher",
        "YAML distill.precompute_teacher: true with no teacher",
        _tr("--config", "{c}/cfg/precompute.yaml", "--out", "{c}/outs/y9"),
        2,
        ("precompute.yaml", "distill.precompute_teacher"),
    ),
    Case(
        "holdout-bad-header",
        "--holdout file that is not a holdout list",
        _tr("--holdout", "{c}/cfg/negative_lr.yaml", "--out", "{c}/outs/h1"),
        1,
        ("--holdout", "negative_lr.yaml"),
    ),
    Case(
        "holdout-stale",
        "--holdout listing frames the split does not have",
        _tr("--holdout", "{c}/cfg/stale_holdout.txt", "--out", "{c}/outs/h2"),
        1,
        ("stale_holdout.txt", "not in split 'train'"),
    ),
    Case(
        "yaml-negative-lr",
        "YAML optim.lr: -0.1",
        _tr("--config", "{c}/cfg/negative_lr.yaml", "--out", "{c}/outs/y6"),
        2,
        ("negative_lr.yaml", "optim.lr"),
    ),
    Case(
        "zero-epochs", "--epochs 0", _tr("--epochs", "0", "--out", "{c}/outs/f1"), 2, ("--epochs",)
    ),
    Case(
        "negative-batch",
        "--batch -2",
        _tr("--batch", "-2", "--out", "{c}/outs/f2"),
        2,
        ("--batch",),
    ),
    Case("zero-lr", "--lr 0", _tr("--lr", "0", "--out", "{c}/outs/f3"), 2, ("--lr",)),
    Case("negative-lr", "--lr -1", _tr("--lr=-1", "--out", "{c}/outs/f4"), 2, ("--lr",)),
    Case(
        "zero-size",
        "--img-size 0",
        _tr("--img-size", "0", "--out", "{c}/outs/f5"),
        2,
        ("--img-size",),
    ),
    Case(
        "negative-size",
        "--img-size 32x-8",
        _tr("--img-size", "32x-8", "--out", "{c}/outs/f6"),
        2,
        ("--img-size",),
    ),
    Case(
        "unknown-format",
        "--format that does not exist",
        _tr("--format", "cityscapes", "--out", "{c}/outs/f7"),
        2,
        ("--format",),
    ),
    Case(
        "models-zero-size", "models --img-size 0", ("models", "--img-size", "0"), 2, ("--img-size",)
    ),
    Case(
        "models-unknown",
        "models --models of an unknown name",
        ("models", "--models", "no_such_net"),
        2,
        ("no_such_net",),
    ),
    Case(
        "synth-negative-count",
        "data synth --n-train -1",
        ("data", "synth", "{c}/outs/synth", "--n-train", "-1"),
        2,
        ("--n-train",),
    ),
    Case(
        "train-bad-val-image",
        "zero-byte val image met during training",
        ("train", "--data", "{c}/zero_jpeg", *SMALL, "--epochs", "1", "--out", "{c}/outs/t1"),
        1,
        (FIRST_VAL,),
    ),
    # -- output folders --
    Case(
        "predict-out-under-file",
        "predict --out below a regular file",
        ("predict", "{c}/ckpt/best.pt", "{c}/good/val/images", "--out", "{c}/notes.txt/p"),
        1,
        ("notes.txt",),
    ),
    Case(
        "evaluate-json-under-file",
        "evaluate --json below a regular file",
        (*_ev("good"), "--json", "{c}/notes.txt/scores.json"),
        1,
        ("notes.txt",),
    ),
    Case(
        "export-out-under-file",
        "export --out below a regular file",
        ("export", "{c}/ckpt/best.pt", "--out", "{c}/notes.txt/m.onnx"),
        1,
        ("notes.txt",),
    ),
    Case(
        "out-under-file",
        "--out below a regular file",
        _tr("--out", "{c}/notes.txt/run"),
        1,
        ("notes.txt",),
    ),
    Case(
        "out-is-file", "--out is a regular file", _tr("--out", "{c}/notes.txt"), 1, ("notes.txt",)
    ),
    Case(
        "out-disk-full",
        "disk full in --out (injected ENOSPC)",
        _tr("--out", "{c}/outs/full"),
        1,
        ("full", "disk is full"),
        patch="disk_full",
    ),
    Case(
        "out-existing-run",
        "--out holding a run, no --resume/--overwrite",
        _tr("--out", "{c}/oldrun"),
        2,
        ("oldrun", "--resume"),
    ),
    Case(
        "overwrite-bad-data",
        "--overwrite with a nonexistent --data keeps the old run",
        ("train", "--data", "{c}/nope", *SMALL, "--out", "{c}/oldrun", "--overwrite"),
        1,
        ("nope",),
    ),
    Case(
        "out-locked",
        "--out in use by another run",
        _tr("--out", "{c}/locked", "--overwrite"),
        2,
        ("locked", "another segcompress run"),
        patch="hold_lock",
    ),
    Case(
        "resume-without-checkpoint",
        "--resume where no run exists",
        ("train", "--out", "{c}/outs/empty", "--resume"),
        2,
        ("last.pt", "--resume"),
    ),
    # -- checkpoints and model files --
    Case(
        "truncated-checkpoint",
        "truncated checkpoint",
        ("evaluate", "{c}/bad/truncated.pt", "--data", "{c}/good"),
        1,
        ("truncated.pt",),
    ),
    Case(
        "resume-truncated",
        "--resume from a truncated last.pt",
        ("train", "--out", "{c}/truncrun", "--resume"),
        1,
        ("last.pt",),
    ),
    Case(
        "other-architecture",
        "weights of another architecture",
        ("evaluate", "{c}/bad/other_arch.pt", "--data", "{c}/good"),
        1,
        ("other_arch.pt",),
    ),
    Case(
        "resume-other-model",
        "--resume with --model of another architecture",
        ("train", "--out", "{c}/resumerun", "--resume", "--model", "student_s"),
        1,
        ("last.pt", "student_xs"),
    ),
    Case(
        "pickle-runs-code",
        "checkpoint whose pickle would run code (it must not)",
        ("evaluate", "{c}/bad/evil.pt", "--data", "{c}/good"),
        1,
        ("evil.pt",),
    ),
    Case(
        "teacher-pickle-runs-code",
        "distill --teacher with a code-running pickle",
        (
            "distill",
            "--data",
            "{c}/good",
            *SMALL,
            "--teacher",
            "{c}/bad/evil.pt",
            "--out",
            "{c}/outs/kd",
        ),
        1,
        ("evil.pt",),
    ),
    Case(
        "predict-truncated-checkpoint",
        "predict with a truncated checkpoint",
        ("predict", "{c}/bad/truncated.pt", "{c}/good/val/images", "--out", "{c}/outs/pred3"),
        1,
        ("truncated.pt",),
    ),
    Case(
        "export-truncated-checkpoint",
        "export a truncated checkpoint",
        ("export", "{c}/bad/truncated.pt", "--out", "{c}/outs/m.onnx"),
        1,
        ("truncated.pt",),
    ),
    Case(
        "quantize-corrupt-onnx",
        "quantize a corrupt ONNX file",
        (
            "quantize",
            "{c}/bad/corrupt.onnx",
            "--out",
            "{c}/outs/q.onnx",
            "--calib-data",
            "{c}/good",
        ),
        1,
        ("corrupt.onnx",),
    ),
    Case(
        "benchmark-corrupt-onnx",
        "benchmark a corrupt ONNX file",
        ("benchmark", "{c}/bad/corrupt.onnx", "--runs", "1", "--warmup", "1", "--no-isolate"),
        1,
        ("corrupt.onnx",),
    ),
)


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
`tests/reliability/bad_inputs.py`; `tests/reliability/test_bad_inputs.py` checks every row
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
