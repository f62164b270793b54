"""Scoring any predictor on a loader: one confusion matrix, summed over DDP ranks.

``evaluate`` takes a *predict function* (normalised float batch -> logits) rather than a model,
so a torch model, an ONNX session or an INT8 runtime are all measured on the same harness.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm import tqdm

from segcompress.data.classes import ClassTable
from segcompress.data.formats import Pair
from segcompress.data.io import read_mask
from segcompress.data.masks import MaskDecoder
from segcompress.errors import DataError
from segcompress.metrics import ConfusionMatrix

__all__ = [
    "PredictFn",
    "autocast",
    "draw_samples",
    "evaluate",
    "evaluate_predictions",
    "torch_predictor",
]

PredictFn = Callable[[Tensor], "Tensor | np.ndarray"]


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision on ``device`` when ``dtype`` is given, a no-op context otherwise."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def torch_predictor(
    model: nn.Module, device: torch.device, amp_dtype: torch.dtype | None = None
) -> PredictFn:
    """A predict function running ``model`` in eval mode without autograd; logits in float32."""

    def predict(images: Tensor) -> Tensor:
        model.eval()
        with torch.no_grad(), autocast(device, amp_dtype):
            return model(images.to(device, non_blocking=True)).float()

    return predict


def evaluate(
    predict_fn: PredictFn,
    loader: Iterable[Any],
    num_classes: int,
    ignore_index: int,
    *,
    device: torch.device | str = "cpu",
    progress: bool = False,
    desc: str = "eval",
) -> ConfusionMatrix:
    """Confusion matrix of ``predict_fn`` over ``(images, masks)`` batches, all-reduced over ranks.

    Logits of another size than the masks are resized bilinearly first (e.g. a model run at a
    lower resolution than the ground truth). Under DDP every rank must call this with its own
    shard of the data (``ShardSampler``), so each sample is counted exactly once.
    """
    matrix = ConfusionMatrix(num_classes, ignore_index, device=device)
    for images, masks in tqdm(loader, desc=desc, leave=False, disable=not progress):
        logits = predict_fn(images)
        if isinstance(logits, np.ndarray):
            logits = torch.from_numpy(logits)
        logits = logits.to(device)
        if logits.shape[-2:] != masks.shape[-2:]:
            logits = F.interpolate(
                logits.float(), size=masks.shape[-2:], mode="bilinear", align_corners=False
            )
        matrix.update(logits.argmax(1), masks.to(device))
    return matrix.all_reduce()


def evaluate_predictions(
    pairs: Sequence[Pair], pred_dir: Path, decoder: MaskDecoder
) -> ConfusionMatrix:
    """Confusion matrix of saved prediction PNGs (index masks named like the ground truth's
    mask or image file, anywhere under ``pred_dir``, as ``predict`` writes them) against the
    ground truth at its own resolution."""
    by_stem: dict[str, Path] = {}
    for path in sorted(pred_dir.rglob("*.png")):
        if path.stem in by_stem:
            raise DataError(f"{path}: two predictions named {path.stem}.png under {pred_dir}")
        by_stem[path.stem] = path

    def prediction_of(pair: Pair) -> Path | None:
        return by_stem.get(pair.mask.stem) or by_stem.get(pair.image.stem)

    missing = [p.mask for p in pairs if prediction_of(p) is None]
    if missing:
        raise DataError(
            f"{pred_dir}: no prediction for {len(missing)} of {len(pairs)} masks "
            f"(first: {missing[0].stem}.png); name each prediction like its mask or image"
        )
    classes = decoder.classes
    matrix = ConfusionMatrix(classes.num_classes, classes.ignore_index)
    for pair in pairs:
        gt = decoder.decode(read_mask(pair.mask, decoder.kind), str(pair.mask)).ids
        pred_path = prediction_of(pair)
        assert pred_path is not None
        pred = read_mask(pred_path, "index")
        if pred.shape != gt.shape:
            raise DataError(
                f"{pred_path}: prediction is {pred.shape[1]}x{pred.shape[0]}, its ground truth "
                f"{gt.shape[1]}x{gt.shape[0]}; save predictions at the masks' resolution"
            )
        matrix.update(
            torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(gt.astype(np.int64))
        )
    return matrix


def draw_samples(
    predict_fn: PredictFn,
    dataset: Any,
    count: int,
    classes: ClassTable,
    mean: Sequence[float],
    std: Sequence[float],
    path: Path,
) -> None:
    """Input | Ground Truth | Prediction for the first ``count`` samples, with a legend."""
    from segcompress.viz import denormalize, plot_comparison

    items = [dataset[i] for i in range(count)]
    images = torch.stack([image for image, _ in items])
    logits = predict_fn(images)
    preds = np.asarray(logits.argmax(1).cpu() if isinstance(logits, Tensor) else logits.argmax(1))
    pictures = [denormalize(image, mean, std) for image in images]
    masks = [(mask.numpy(), pred) for (_, mask), pred in zip(items, preds, strict=True)]
    plot_comparison(pictures, masks, classes, path)
