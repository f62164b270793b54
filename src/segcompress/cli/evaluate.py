"""``segcompress evaluate | predict``: score and run a trained model (checkpoint or ONNX file).

``evaluate`` reads its dataset as training does: from ``--config``'s ``data:`` section (or, when
no flag says where a dataset is, the checkpoint's own run config), then the dataset flags typed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from segcompress.cli.common import (
    names_a_dataset,
    non_negative_int,
    positive_int,
    resolve_splits,
    size_arg,
    spec_from_args,
)
from segcompress.cli.flags import add_config_flags, add_dataset_args
from segcompress.config import DataConfig
from segcompress.errors import UsageError

__all__ = ["register"]


def _evaluation_spec(args: argparse.Namespace) -> DataConfig:
    """The dataset ``evaluate`` scores: the dataset flags typed, over the ``data:`` section of
    ``--config`` or, when no flag says where a dataset is, of the checkpoint's run config."""
    from segcompress.config import load_config

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
    base = load_config(source).data if source else None
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
    add_config_flags(evaluate, DataConfig, keys=("root",))
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
