"""From a resolved config to a finished run: output folder, data, model, loss, trainer.

This is what ``segcompress train`` and ``segcompress distill`` call; it only assembles the
pieces (the loop itself is in ``engine.trainer``). Under torchrun every rank runs it: rank 0
alone prepares the output folder and writes files.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import torch

from segcompress.config import (
    KD_TERMS,
    TrainConfig,
    save_config,
    validate_config,
)
from segcompress.data import MEAN, STD, DataSpec, load_split
from segcompress.data.classes import ClassTable
from segcompress.data.dataset import SegmentationDataset
from segcompress.data.unlabeled import UnlabeledDataset, list_unlabeled
from segcompress.engine.checkpoint import (
    checkpoint_classes,
    load_checkpoint,
    model_from_checkpoint,
)
from segcompress.engine.distributed import (
    DistInfo,
    barrier,
    init_distributed,
    resolve_device,
    shutdown_distributed,
)
from segcompress.engine.objective import DistillObjective, SegObjective
from segcompress.engine.outdir import (
    RunLock,
    probe_writable,
    remove_stale_temps,
)
from segcompress.engine.resume import (
    HISTORY,
    check_resumed_recipe,
    check_resumed_teacher,
    record_changes,
    resume_hint,
)
from segcompress.engine.signals import GracefulStop, RunInterrupted
from segcompress.engine.teacher_targets import (
    CachedTeacherDataset,
    TargetOptions,
    TrainingFrames,
    teacher_targets,
)
from segcompress.engine.trainer import (
    DataInfo,
    Trainer,
    amp_dtype,
    make_loaders,
    seed_everything,
)
from segcompress.errors import DataError, UsageError
from segcompress.fileio import describe_os_error
from segcompress.models.ensemble import TeacherEnsemble
from segcompress.models.fuse import fuse

__all__ = [
    "RUN_FILES",
    "clear_run_files",
    "data_spec",
    "prepare_out_dir",
    "train_run",
]

# What a run writes into its folder; ``--overwrite`` removes exactly these.
RUN_FILES = (
    "last.pt",
    "best.pt",
    "config.yaml",
    "log.jsonl",
    "metrics.csv",
    "curves.png",
    "confusion.png",
    "samples.png",
    HISTORY,
)


def prepare_out_dir(
    out: Path, *, resume: bool, overwrite: bool, create: bool, clear: bool = True
) -> None:
    """Refuse to clobber a run by accident and fail before training if ``out`` is unwritable.

    ``clear=False`` leaves an ``--overwrite``'s old files in place for :func:`clear_run_files`
    to remove later, once the new run's data and model are known to load.
    """
    if out.exists() and not out.is_dir():
        raise DataError(f"--out {out}: is a file, not a folder; choose another --out")
    has_run = out.is_dir() and any((out / name).exists() for name in RUN_FILES)
    if resume:
        if not (out / "last.pt").is_file():
            raise UsageError(
                f"--resume: {out / 'last.pt'} not found; start a new run without --resume "
                "(with --overwrite if the folder holds an unfinished run)"
            )
    elif has_run and not overwrite:
        raise UsageError(
            f"--out {out}: a run already exists there; pass --resume to continue it, "
            "--overwrite to replace it, or choose another --out"
        )
    if not create:
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"--out {out}: cannot write there ({describe_os_error(exc)})") from exc
    probe_writable(out)
    if clear and overwrite and not resume:
        clear_run_files(out)


def clear_run_files(out: Path) -> None:
    """Remove the files of an earlier run in ``out`` (for ``--overwrite``), nothing else."""
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


def data_spec(cfg: TrainConfig) -> DataSpec:
    """The run's dataset: its ``data`` section, which the data layer reads as it stands."""
    if cfg.data.root is None and cfg.data.images is None:
        raise UsageError("no dataset given; pass --data ROOT (or --images/--masks)")
    return cfg.data


def _class_weights(cfg: TrainConfig, spec: DataSpec) -> torch.Tensor | None:
    if cfg.loss.class_weights == "none":
        return None
    from segcompress.data.stats import class_weights, split_stats

    stats = split_stats(spec, cfg.data.train_split)
    return torch.from_numpy(class_weights(stats, cfg.loss.class_weights))


def _teacher_files(cfg: TrainConfig) -> list[str]:
    """The teacher checkpoint and the ensemble's other members, in order."""
    if cfg.distill.teacher is None:
        raise UsageError("distill needs --teacher CHECKPOINT (a trained teacher's best.pt)")
    return [cfg.distill.teacher, *cfg.distill.ensemble]


def _load_teacher(cfg: TrainConfig, classes: ClassTable) -> torch.nn.Module:
    """The teacher, or the mean of several (see ``models.ensemble``)."""
    members = []
    for path in _teacher_files(cfg):
        state = load_checkpoint(path)
        teacher_classes = checkpoint_classes(state, path)
        if teacher_classes.names != classes.names:
            raise DataError(
                f"{path}: the teacher was trained on {teacher_classes.num_classes} classes "
                f"({', '.join(teacher_classes.names[:3])}, ...) but the data has "
                f"{classes.num_classes} ({', '.join(classes.names[:3])}, ...); use the same "
                "dataset format and class options as the teacher's run"
            )
        members.append(model_from_checkpoint(state, path))
    return members[0] if len(members) == 1 else TeacherEnsemble(members)


def _build_objective(
    cfg: TrainConfig, classes: ClassTable, spec: DataSpec, *, resume: bool
) -> torch.nn.Module:
    from segcompress.losses import DistillationLoss, build_segmentation_loss
    from segcompress.models.registry import create_model

    if "num_classes" in cfg.model.args:
        raise UsageError("model.args: num_classes comes from the dataset's class table; remove it")
    # A resumed run's weights come from its checkpoint, never again from ImageNet.
    pretrained = cfg.model.pretrained and not resume
    model = create_model(
        cfg.model.name, num_classes=classes.num_classes, pretrained=pretrained, **cfg.model.args
    )
    lc = cfg.loss
    loss = build_segmentation_loss(
        {"ce": lc.ce, "dice": lc.dice, "focal": lc.focal, "lovasz": lc.lovasz},
        _class_weights(cfg, spec),
        classes.ignore_index,
        focal_gamma=lc.focal_gamma,
    )
    if cfg.distill.teacher is None:
        return SegObjective(model, loss, aux_weight=lc.aux)
    teacher = _load_teacher(cfg, classes)
    kd = cfg.distill
    lambdas = {key: getattr(kd, key) if term in kd.kd else 0.0 for term, key in KD_TERMS.items()}
    kd_loss = DistillationLoss(
        loss,
        **lambdas,
        temperature=kd.temperature,
        cwd_tau=kd.cwd_tau,
        dist_tau=kd.dist_tau,
        student_info=model.feature_info,
        teacher_info=teacher.feature_info,
        feature_loss=kd.feature_loss,
        ignore_index=classes.ignore_index,
    )
    return DistillObjective(model, teacher, kd_loss, aux_weight=lc.aux)


def _unlabelled(
    cfg: TrainConfig, classes: ClassTable, train: bool, size: tuple[int, int] | None = None
) -> UnlabeledDataset | None:
    """The ``data.unlabeled`` frames, augmented like the training split when ``train``, at
    ``size`` (default ``data.img_size``)."""
    d = cfg.data
    if not d.unlabeled:
        return None
    pairs = list_unlabeled(d.unlabeled, d.skip_bad)
    return UnlabeledDataset(
        pairs, classes, size or d.img_size, train=train, augment=cfg.augment, skip_bad=d.skip_bad
    )


def _with_teacher_targets(
    cfg: TrainConfig,
    spec: DataSpec,
    train_set: SegmentationDataset,
    objective: torch.nn.Module,
    device: torch.device,
    info: DistInfo,
) -> CachedTeacherDataset:
    """The training frames (split, then unlabelled frames) paired with the teacher's cached
    targets (see teacher_targets). Rank 0 builds the cache while the other ranks wait, then
    every rank maps the same file. The teacher sees the frames at ``distill.teacher_size``.
    Unlabelled frames that ``--skip-bad`` passed over while the cache was built (recorded in
    it) are left out of training, counted and named."""
    d, kd = cfg.data, cfg.distill
    seen = tuple(kd.teacher_size or d.img_size)
    clean_split = load_split(spec, d.train_split, img_size=seen, train=False, skip_bad=d.skip_bad)
    classes = train_set.classes
    clean = TrainingFrames(clean_split, _unlabelled(cfg, classes, train=False, size=seen))
    # BatchNorm folded into the convolutions: the same logits up to rounding, computed faster.
    teacher = fuse(objective.teacher).to(device, memory_format=torch.channels_last)
    options = TargetOptions(tuple(kd.tta_scales), kd.tta_flip, kd.target_stride)
    common = {
        "device": device,
        "amp_dtype": amp_dtype(cfg.amp, device),
        "batch": 2 * cfg.batch,
        "progress": cfg.progress and info.is_main,
        "size": tuple(d.img_size),
    }
    targets = None
    if info.is_main:
        targets = teacher_targets(_teacher_files(cfg), teacher, clean, options, **common)
    barrier()
    if targets is None:
        files = _teacher_files(cfg)
        targets = teacher_targets(files, teacher, clean, options, build=False, **common)
    if targets is None:
        raise DataError("teacher targets: rank 0 built none; check its log for the error")
    unlabelled = _unlabelled(cfg, classes, train=True)
    if unlabelled is not None:
        unlabelled.pairs = [p for p in unlabelled.pairs if p.key not in targets.bad]
    frames = TrainingFrames(train_set, unlabelled)
    if info.is_main and d.unlabeled:
        _report_unlabelled(len(train_set), len(frames) - len(train_set), targets.bad, d.unlabeled)
    return CachedTeacherDataset(frames, targets)


def _report_unlabelled(labelled: int, used: int, bad: dict[str, str], folders: list[str]) -> None:
    """The frames a distillation uses; with ``--skip-bad``, how many it left out and which."""
    left = f"; {len(bad)} unreadable left out by --skip-bad" if bad else ""
    print(
        f"distill: {labelled} labelled and {used} unlabelled training frames "
        f"({', '.join(folders)}{left})"
    )
    if bad:
        shown = "; ".join(list(bad.values())[:3]) + ("; ..." if len(bad) > 3 else "")
        noun = "frame" if len(bad) == 1 else "frames"
        print(f"--skip-bad: left out {len(bad)} unreadable unlabelled {noun}: {shown}")


def _teacher_size_notice(cfg: TrainConfig) -> str | None:
    """A line for a teacher trained at another size than the frames it will see: a teacher
    trained at full resolution and run at the student's small size sees what it never learnt."""
    kd = cfg.distill
    if kd.teacher is None or kd.teacher_size is not None:
        return None
    trained = load_checkpoint(kd.teacher).get("input_size")
    if trained is None or tuple(trained) == tuple(cfg.data.img_size):
        return None
    h, w = trained
    seen = "x".join(map(str, cfg.data.img_size))
    how = "" if kd.precompute_teacher else "with --precompute-teacher, "
    return (
        f"distill: the teacher {kd.teacher} was trained at {h}x{w} and will see {seen} frames; "
        f"{how}--teacher-size {h}x{w} lets it see them at its own size"
    )


def _train_collate(cfg: TrainConfig, classes: ClassTable) -> Any:
    """The training loader's collate function: batch mixing when ``augment.mix`` asks for it."""
    if cfg.augment.mix == "none":
        return None
    from segcompress.data.mixing import BatchMix, MixCollate

    mix = BatchMix(cfg.augment.mix, cfg.augment.mix_prob, classes.ignore_index)
    return MixCollate(mix)


def train_run(
    cfg: TrainConfig,
    *,
    resume_state: dict[str, Any] | None = None,
    overwrite: bool = False,
    allow_changes: bool = False,
    source: str = "config",
) -> dict[str, Any]:
    """Train (or distil when ``cfg.distill.teacher`` is set); returns the last epoch's log row.

    The config's range checks run here, once for the command line and the Python API alike;
    ``source`` names where an out-of-range value came from in their errors (a config file).
    ``allow_changes``: a resume may change what is trained (``--resume-with-changes``)."""
    validate_config(cfg, source)
    out = Path(cfg.out)
    device = resolve_device(cfg.device, DistInfo(local_rank=int(os.environ.get("LOCAL_RANK", 0))))
    info = init_distributed(device)
    lock = RunLock(out, enabled=info.is_main)
    try:
        resume = resume_state is not None
        changes = check_resumed_recipe(cfg, resume_state, allow_changes) if resume_state else []
        # Old files go only once the new run's data and model have loaded (below), so a bad
        # flag or dataset never costs the run that --overwrite would have replaced.
        prepare_out_dir(out, resume=resume, overwrite=overwrite, create=info.is_main, clear=False)
        lock.acquire()
        if info.is_main:
            remove_stale_temps(out, RUN_FILES)
        barrier()
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
        seed_everything(cfg.seed + info.rank, cfg.deterministic)
        spec = data_spec(cfg)
        size = cfg.data.img_size
        skip = cfg.data.skip_bad
        train_set = load_split(
            spec,
            cfg.data.train_split,
            img_size=size,
            train=True,
            augment=cfg.augment,
            skip_bad=skip,
        )
        val_set = load_split(spec, cfg.data.val_split, img_size=size, train=False, skip_bad=skip)
        skipped = train_set.skipped + val_set.skipped
        if skipped and info.is_main:
            print(f"--skip-bad: left out {skipped} bad or unpaired files (see `data check`)")
        classes = train_set.classes
        provenance = {}
        if cfg.distill.teacher is not None:
            provenance = check_resumed_teacher(_teacher_files(cfg), resume_state or {})
        objective = _build_objective(cfg, classes, spec, resume=resume)
        notice = _teacher_size_notice(cfg)
        if notice and info.is_main:
            print(notice)
        if cfg.distill.precompute_teacher:
            train_set = _with_teacher_targets(cfg, spec, train_set, objective, device, info)
        if resume_state is not None:  # the model's arguments as built, against the saved ones
            changes += check_resumed_recipe(
                cfg,
                resume_state,
                allow_changes,
                objective.model,  # type: ignore[arg-type]
            )
        train_loader, val_loader = make_loaders(
            train_set,
            val_set,
            batch=cfg.batch,
            workers=cfg.data.workers,
            seed=cfg.seed,
            info=info,
            pin_memory=device.type == "cuda",
            collate_fn=_train_collate(cfg, classes),
        )
        if info.is_main and overwrite and not resume:
            clear_run_files(out)
        trainer = Trainer(
            objective,
            train_loader,
            val_loader,
            cfg,
            classes,
            data_info=DataInfo(MEAN, STD, train_set.format.name),
            device=device,
            info=info,
            resume=resume_state,
            provenance=provenance,
        )
        if info.is_main:  # only now: a resume that does not fit its checkpoint changes nothing
            save_config(cfg, out / "config.yaml")
            if changes:
                record_changes(out, trainer.epoch, changes)
        with GracefulStop(trainer.request_stop, announce=info.is_main) as stop:
            row = trainer.fit()
        if trainer.stopped_in_epoch is not None:
            raise RunInterrupted(resume_hint(cfg, trainer), stop.signum or signal.SIGTERM)
        row["best_epoch"] = trainer.best_epoch
        return row
    finally:
        lock.release()
        shutdown_distributed()
