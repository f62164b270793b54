"""Teacher logits computed once per training image (and its mirror), not at every step.

Pixel KD and CWD need only the teacher's logits, and on a CPU the teacher's forward pass costs
2-4x the student's whole training step. With random scale/crop off (``augment.scale: [1, 1]``)
the only geometric augmentation left is the horizontal flip, so the teacher's output for every
view a sample can take is known in advance: its logits on the image and on the mirrored image.
Colour jitter then reaches the student's input only; the teacher saw the clean image, which is
the usual "clean teacher, noisy student" setting. Memory: ``2 * N * classes * H * W`` float16
values (IDD-Lite at 96x128: 0.5 GB), held by every process. :func:`cached_teacher_logits` keeps
them on disk in the data cache folder, keyed by the teacher file and the training images, so
further students distilled from the same teacher (other seeds, other KD terms) skip the pass.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from segcompress.data.cache import default_cache_dir
from segcompress.data.io import atomic_write_bytes
from segcompress.engine.evaluate import autocast

__all__ = ["TeacherLogitsDataset", "cached_teacher_logits", "precompute_teacher_logits"]


@torch.no_grad()
def precompute_teacher_logits(
    teacher: nn.Module,
    dataset: Dataset,
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    batch: int = 16,
    progress: bool = False,
) -> Tensor:
    """Logits of ``teacher`` on every sample of ``dataset`` and its mirror: [N, 2, C, H, W] fp16.

    ``dataset`` must yield the un-augmented (normalised) images in the training set's order.
    """
    teacher.eval()
    loader = DataLoader(dataset, batch_size=batch, shuffle=False)
    chunks = []
    for images, _ in tqdm(loader, desc="teacher logits", leave=False, disable=not progress):
        images = images.to(device)
        with autocast(device, amp_dtype):
            plain = _logits(teacher(images))
            mirrored = _logits(teacher(images.flip(-1)))
        chunks.append(torch.stack([plain, mirrored], 1).to("cpu", torch.float16))
    return torch.cat(chunks)


def cached_teacher_logits(
    teacher_file: str | Path,
    teacher: nn.Module,
    dataset: Dataset,
    *,
    cache_dir: Path | None = None,
    **options: Any,
) -> Tensor:
    """:func:`precompute_teacher_logits`, read from or written to ``cache_dir/teacher-logits``.

    The key covers the teacher file (path, size, modification time), every training image
    (path, modification time), the dataset size and ``options``; any change computes anew.
    """
    stat = Path(teacher_file).stat()
    pairs = getattr(dataset, "pairs", [])
    key = {
        "teacher": [str(Path(teacher_file).resolve()), stat.st_size, stat.st_mtime_ns],
        "images": [[str(p.image), Path(p.image).stat().st_mtime_ns] for p in pairs],
        "size": list(getattr(dataset, "size", [])),
        "n": len(dataset),  # type: ignore[arg-type]
        "amp": str(options.get("amp_dtype")),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    path = (cache_dir or default_cache_dir()) / "teacher-logits" / f"{digest}.pt"
    if path.is_file():
        logits = torch.load(path, weights_only=True)
        if logits.shape[0] == len(dataset):  # type: ignore[arg-type]
            return logits
    logits = precompute_teacher_logits(teacher, dataset, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(logits, buffer)
    atomic_write_bytes(path, buffer.getvalue())
    return logits


def _logits(out: Tensor | dict[str, Tensor]) -> Tensor:
    return out["logits"] if isinstance(out, dict) else out


class TeacherLogitsDataset(Dataset):
    """A training set whose targets are ``(mask, teacher logits)``; it does the flip itself.

    Args:
        base: the training set with random flip and scale off (colour jitter may stay on).
        logits: :func:`precompute_teacher_logits` of the same samples.
        hflip: probability of mirroring a sample (image, mask and the logits taken on the
            mirrored image, which are already in mirrored coordinates).
    """

    def __init__(self, base: Dataset, logits: Tensor, hflip: float = 0.5) -> None:
        if len(base) != logits.shape[0]:  # type: ignore[arg-type]
            raise ValueError(f"{len(base)} samples but logits for {logits.shape[0]}")  # type: ignore[arg-type]
        self.base = base
        self.logits = logits
        self.hflip = hflip

    def __len__(self) -> int:
        return self.logits.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        image, mask = self.base[index]
        flip = bool(torch.rand(()) < self.hflip)
        if flip:
            image, mask = image.flip(-1), mask.flip(-1)
        return image, (mask, self.logits[index, int(flip)])

    def __getattr__(self, name: str):  # classes, format, describe() ... of the base set
        if name in ("base", "logits", "hflip"):
            raise AttributeError(name)
        return getattr(self.base, name)
