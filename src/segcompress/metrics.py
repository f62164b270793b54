"""Dataset-level segmentation metrics from one confusion matrix (never averages of batch scores).

:class:`ConfusionMatrix` accumulates pixel counts on the data's device (one ``bincount`` per
batch) and sums across DDP processes with :meth:`ConfusionMatrix.all_reduce`. :func:`compute_scores`
turns the final matrix into per-class and mean scores with these rules:

- Rows are ground truth, columns are predictions; ignored pixels are never counted.
- A class is *present* when it has ground-truth pixels (support > 0). Absent classes get ``None``
  for every score and are left out of all means, even when the model predicted them; their false
  positives still lower the recall, IoU and Dice of the classes those pixels really belong to.
- A present class that is never predicted has precision 0 (and recall, IoU, Dice 0), not NaN.
- Means are unweighted over present classes; ``fw_iou`` weights each present class's IoU by its
  share of the valid pixels; ``pixel_accuracy`` is correct / valid pixels.
- With no valid pixel at all every score and mean is ``None``. No NaN is ever returned.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from segcompress.errors import DataError, UsageError

__all__ = [
    "ClassScores",
    "ConfusionMatrix",
    "Scores",
    "compute_scores",
    "format_table",
    "image_miou",
    "scores_to_dict",
]

DEFAULT_IGNORE_INDEX = 255
SCORE_NAMES = ("dice", "iou", "precision", "recall")
ABSENT_MARK = "—"


class ConfusionMatrix:
    """Pixel confusion matrix ``[C, C]`` (int64; rows ground truth, columns prediction)."""

    def __init__(
        self,
        num_classes: int,
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        device: torch.device | str | None = None,
    ) -> None:
        if num_classes < 1:
            raise UsageError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self._matrix = torch.zeros(
            (self.num_classes, self.num_classes), dtype=torch.int64, device=device
        )

    @property
    def matrix(self) -> Tensor:
        """The accumulated counts, on the device of the data last added."""
        return self._matrix

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add a batch: ``pred`` is class ids shaped like ``target`` or logits ``[N, C, ...]``."""
        if pred.dim() == target.dim() + 1 and pred.shape[1] == self.num_classes:
            pred = pred.argmax(1)
        if pred.shape != target.shape:
            raise UsageError(
                f"predictions {tuple(pred.shape)} do not match target {tuple(target.shape)}; "
                f"pass class ids shaped like the target or logits [N, {self.num_classes}, H, W]"
            )
        if pred.is_floating_point():
            raise UsageError("predictions must be integer class ids (or logits with a class axis)")
        with torch.no_grad():
            target = target.reshape(-1).long()
            pred = pred.reshape(-1).long().to(target.device)
            valid = target != self.ignore_index
            target, pred = target[valid], pred[valid]
            c = self.num_classes
            out_of_range = ((target < 0) | (target >= c) | (pred < 0) | (pred >= c)).any()
            if out_of_range:
                raise DataError(
                    f"a label or prediction lies outside 0..{c - 1} and is not the ignore index "
                    f"{self.ignore_index}; check the class table matches the masks and the model"
                )
            counts = torch.bincount(target * c + pred, minlength=c * c).reshape(c, c)
            self._matrix = self._matrix.to(counts.device) + counts

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add another matrix's counts into this one (e.g. from another worker); returns self."""
        if other.num_classes != self.num_classes:
            raise UsageError(
                f"cannot merge confusion matrices of {other.num_classes} and "
                f"{self.num_classes} classes"
            )
        self._matrix = self._matrix + other.matrix.to(self._matrix.device)
        return self

    def all_reduce(self) -> ConfusionMatrix:
        """Sum the counts over all DDP processes; a no-op without an initialised process group."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(self._matrix, op=dist.ReduceOp.SUM)
        return self

    def reset(self) -> None:
        self._matrix = torch.zeros_like(self._matrix)

    def compute(self, class_names: Sequence[str] | None = None) -> Scores:
        return compute_scores(self._matrix, class_names)


@dataclass(frozen=True)
class ClassScores:
    """One class's scores; every score is None when the class has no ground-truth pixels."""

    id: int
    name: str
    dice: float | None
    iou: float | None
    precision: float | None
    recall: float | None
    support: int

    @property
    def present(self) -> bool:
        return self.support > 0


@dataclass(frozen=True)
class Scores:
    """Per-class scores, means over present classes, pixel accuracy and frequency-weighted IoU."""

    classes: tuple[ClassScores, ...]
    mean: dict[str, float | None]
    pixel_accuracy: float | None
    fw_iou: float | None

    @property
    def absent(self) -> list[ClassScores]:
        """Classes without ground-truth pixels (left out of the means)."""
        return [c for c in self.classes if not c.present]


def _ratio(num: float, den: float) -> float:
    """num / den with 0 / 0 defined as 0 (a present class that is never predicted)."""
    return float(num / den) if den > 0 else 0.0


def compute_scores(matrix: Tensor | np.ndarray, class_names: Sequence[str] | None = None) -> Scores:
    """Scores from a dataset-level confusion matrix (rules in the module docstring)."""
    m = (
        matrix.detach().cpu().numpy() if isinstance(matrix, Tensor) else np.asarray(matrix)
    ).astype(np.int64)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise UsageError(f"a confusion matrix must be square [C, C], got shape {m.shape}")
    num_classes = m.shape[0]
    names = [f"class {i}" for i in range(num_classes)] if class_names is None else list(class_names)
    if len(names) != num_classes:
        raise UsageError(
            f"{len(names)} class names for a {num_classes}-class confusion matrix; "
            "use the class table the model was trained with"
        )
    tp = np.diag(m)
    support = m.sum(1)
    predicted = m.sum(0)
    total = int(m.sum())
    classes = []
    for i in range(num_classes):
        if support[i] == 0:
            classes.append(ClassScores(i, names[i], None, None, None, None, 0))
            continue
        fp, fn = predicted[i] - tp[i], support[i] - tp[i]
        classes.append(
            ClassScores(
                id=i,
                name=names[i],
                dice=_ratio(2 * tp[i], 2 * tp[i] + fp + fn),
                iou=_ratio(tp[i], tp[i] + fp + fn),
                precision=_ratio(tp[i], predicted[i]),
                recall=_ratio(tp[i], support[i]),
                support=int(support[i]),
            )
        )
    present = [c for c in classes if c.present]
    mean: dict[str, float | None] = {
        key: (float(np.mean([getattr(c, key) for c in present])) if present else None)
        for key in SCORE_NAMES
    }
    if total == 0:
        return Scores(tuple(classes), mean, None, None)
    fw_iou = float(sum(c.support / total * c.iou for c in present if c.iou is not None))
    return Scores(tuple(classes), mean, float(tp.sum() / total), fw_iou)


def image_miou(pred: Tensor, target: Tensor, num_classes: int, ignore_index: int) -> Tensor:
    """Per-image mIoU ``[N]`` of class-id batches ``[N, H, W]``, by the dataset-level rule: the
    mean over the classes present in that image's ground truth, ignored pixels left out (an
    image with none labelled scores NaN). Used to find the images where two models differ."""
    n = pred.shape[0]
    pred, target = pred.reshape(n, -1).long(), target.reshape(n, -1).long()
    valid = (target != ignore_index) & (target >= 0) & (target < num_classes)
    index = torch.arange(n, device=pred.device)[:, None] * num_classes**2
    index = index + target.clamp(0, num_classes - 1) * num_classes + pred.clamp(0, num_classes - 1)
    counts = torch.bincount(index[valid], minlength=n * num_classes**2)
    m = counts.reshape(n, num_classes, num_classes).double()
    tp = m.diagonal(dim1=1, dim2=2)
    support, predicted = m.sum(2), m.sum(1)
    union = support + predicted - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), torch.zeros_like(tp))
    present = support > 0
    return (iou * present).sum(1) / present.sum(1)  # 0 / 0 = NaN: nothing labelled


def scores_to_dict(scores: Scores) -> dict[str, Any]:
    """Plain JSON-ready dict; absent classes have null scores and are left out of the means."""
    return {
        "classes": [
            {
                "id": c.id,
                "name": c.name,
                "dice": c.dice,
                "iou": c.iou,
                "precision": c.precision,
                "recall": c.recall,
                "support": c.support,
            }
            for c in scores.classes
        ],
        "mean": {key: scores.mean[key] for key in SCORE_NAMES},
        "pixel_accuracy": scores.pixel_accuracy,
        "fw_iou": scores.fw_iou,
    }


def _fmt(value: float | None, digits: int) -> str:
    return ABSENT_MARK if value is None else f"{value:.{digits}f}"


def format_table(scores: Scores, markdown: bool = True, digits: int = 4) -> str:
    """Class | Dice | IoU | Precision | Recall, a Mean row, then overall scores and a note."""
    header = ["Class", "Dice", "IoU", "Precision", "Recall"]
    rows = [
        [f"{c.name} ({c.id})", *(_fmt(getattr(c, key), digits) for key in SCORE_NAMES)]
        for c in scores.classes
    ]
    mean_row = ["Mean", *(_fmt(scores.mean[key], digits) for key in SCORE_NAMES)]
    if markdown:
        mean_row = [f"**{cell}**" for cell in mean_row]
        lines = [
            "| " + " | ".join(header) + " |",
            "|---|" + "---:|" * (len(header) - 1),
            *("| " + " | ".join(row) + " |" for row in [*rows, mean_row]),
        ]
    else:
        table = [header, *rows, mean_row]
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]

        def line(row: list[str]) -> str:
            return "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )

        rule = "-" * len(line(header))
        lines = [line(header), rule, *(line(r) for r in rows), rule, line(mean_row)]
    absent = scores.absent
    n_present = len(scores.classes) - len(absent)
    note = f"Means are over the {n_present} classes present in the ground truth"
    if absent:
        listed = ", ".join(f"{c.name} ({c.id})" for c in absent)
        note += f"; absent classes ({ABSENT_MARK}) are left out of the means: {listed}."
    else:
        note += " (no class is absent)."
    overall = (
        f"Pixel accuracy: {_fmt(scores.pixel_accuracy, digits)}; "
        f"frequency-weighted IoU: {_fmt(scores.fw_iou, digits)}."
    )
    return "\n".join([*lines, "", overall, note])
