"""The bad-input cases: one CLI command per broken file, wrong flag or hostile checkpoint.

``argv`` uses ``{c}`` for the root of the corpus ``bad_inputs.build_corpus`` writes; the
expected exit code is 1 (data/runtime), 2 (usage) or 0 for odd but valid inputs, and ``names``
must appear in the message.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    shows: str | None = None  # an accepted case: the start of the stdout line the docs show

    def command(self) -> str:
        return "segcompress " + " ".join(self.argv)


def _ev(data: str, *extra: str) -> tuple[str, ...]:
    return ("evaluate", "{c}/ckpt/best.pt", "--data", f"{{c}}/{data}", "--split", "val", *extra)


def _tr(*extra: str) -> tuple[str, ...]:
    return ("train", "--data", "{c}/good", *SMALL, "--epochs", "1", *extra)


def _kd(out: str, *extra: str) -> tuple[str, ...]:
    """``distill`` on cached teacher targets from the corpus checkpoint."""
    teacher = ("--teacher", "{c}/ckpt/best.pt", "--precompute-teacher")
    return ("distill", "--data", "{c}/good", *SMALL, "--epochs", "1", *teacher, *extra, "--out",
            f"{{c}}/outs/{out}")  # fmt: skip


def _cfg(config: str, out: str) -> tuple[str, ...]:
    """``train`` with one of the corpus's broken YAML files."""
    return _tr("--config", f"{{c}}/cfg/{config}", "--out", f"{{c}}/outs/{out}")


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
        _cfg("wrong_type.yaml", "y1"),
        2,
        ("wrong_type.yaml", "epochs"),
    ),
    Case(
        "yaml-unknown-key",
        "YAML unknown key",
        _cfg("unknown_key.yaml", "y2"),
        2,
        ("unknown_key.yaml", "momentun"),
    ),
    Case(
        "yaml-not-mapping",
        "YAML that is a list",
        _cfg("list.yaml", "y3"),
        2,
        ("list.yaml",),
    ),
    Case(
        "yaml-broken",
        "YAML syntax error",
        _cfg("broken.yaml", "y4"),
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
        _cfg("precompute.yaml", "y9"),
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
        _cfg("negative_lr.yaml", "y6"),
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
        2,
        ("last.pt", "model.name", "student_xs", "student_s"),
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
    # -- the teacher-target cache, unlabelled frames, resume (more in test_cache_faults.py) --
    Case(
        "cache-truncated",
        "cached teacher targets truncated to half (moved aside and rebuilt)",
        _kd("cache1"),
        0,
        (),
        patch="cache:truncated",
        shows="teacher targets:",
    ),
    Case(
        "cache-random-bytes",
        "8 KB of random bytes written into the cached teacher targets (moved aside and rebuilt)",
        _kd("cache2"),
        0,
        (),
        patch="cache:random-bytes",
        shows="teacher targets:",
    ),
    Case(
        "cache-finite-garbage",
        "4,096 finite values overwritten in the cached teacher targets, same size (moved aside "
        "and rebuilt)",
        _kd("cache3"),
        0,
        (),
        patch="cache:finite-garbage",
        shows="teacher targets:",
    ),
    Case(
        "cache-disk-full",
        "too little free space for the teacher targets (injected: 64 KiB free)",
        _kd("cache4"),
        1,
        ("SEGCOMPRESS_CACHE", "KiB free"),
        patch="cache:full",
    ),
    Case(
        "unlabeled-truncated",
        "truncated JPEG among the --unlabeled frames",
        _kd("unl1", "--unlabeled", "{c}/frames"),
        1,
        ("/frames/",),
    ),
    Case(
        "unlabeled-skip-bad",
        "truncated JPEG among the --unlabeled frames, with --skip-bad (counted and named)",
        _kd("unl2", "--unlabeled", "{c}/frames", "--skip-bad"),
        0,
        (),
        shows="--skip-bad:",
    ),
    Case(
        "resume-changed-recipe",
        "--resume with another --kd than the run was trained with",
        ("distill", "--out", "{c}/kdrun", "--resume", "--kd", "kl", "--epochs", "2"),
        2,
        ("distill.kd", "--resume-with-changes"),
    ),
)
