"""Frames without labels, for distillation: the teacher's outputs are their only targets.

Vehicles record far more frames than anyone labels. ``--unlabeled DIR...`` adds every image
under those folders (searched recursively, any common image format) to the distillation set:
there the student learns from the teacher alone, on labelled frames from the teacher and the
labels. A sample of this set carries a mask of the ignore index everywhere (the task loss
skips it) and a *validity* map, true where the augmented crop shows the image rather than
padding, which the distillation terms use instead of the labels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from segcompress.data.classes import ClassTable
from segcompress.data.dataset import load_skipping_bad, to_tensors
from segcompress.data.formats import Pair
from segcompress.data.io import IMAGE_EXTENSIONS, read_image
from segcompress.data.transforms import AugmentConfig, build_transform, resize_pair
from segcompress.errors import DataError

__all__ = ["UnlabeledDataset", "list_unlabeled"]


def list_unlabeled(folders: Sequence[str | Path], skip_bad: bool = False) -> list[Pair]:
    """Every image under ``folders`` (recursively, sorted), as pairs without a mask.

    A file that is not an image is an error naming it (``skip_bad`` leaves it out); a folder
    that is missing or holds no image is an error whatever ``skip_bad`` says.
    """
    pairs: list[Pair] = []
    for number, folder in enumerate(folders):
        top = Path(folder)
        if not top.is_dir():
            raise DataError(f"--unlabeled {top}: no such folder")
        found = []
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(f for f in filenames if not f.startswith(".")):
                path = Path(dirpath) / name
                if path.suffix.lower() in IMAGE_EXTENSIONS:
                    found.append(path)
                elif not skip_bad:
                    raise DataError(
                        f"{path}: not an image ({', '.join(IMAGE_EXTENSIONS)}) in --unlabeled "
                        f"{top}; remove it or pass --skip-bad to leave such files out"
                    )
        if not found:
            raise DataError(f"--unlabeled {top}: holds no image; pass a folder of frames")
        # Keys are unique across folders, and stable: the folder's position and relative path.
        for path in found:
            key = f"unlabeled{number}/{path.relative_to(top).with_suffix('').as_posix()}"
            pairs.append(Pair(key, path, path))
    return pairs


class UnlabeledDataset(Dataset):
    """Unlabelled frames at a fixed size, augmented like the labelled training split.

    ``load_good`` and ``transform`` follow :class:`~segcompress.data.dataset.SegmentationDataset`
    so that cached teacher targets pair with either. The ids it hands the transform are all 0:
    after a random scale and crop, the pixels still 0 are the image and the padded ones hold
    the ignore index, which is how the validity map is told apart.
    """

    def __init__(
        self,
        pairs: list[Pair],
        classes: ClassTable,
        size: tuple[int, int],
        *,
        train: bool,
        augment: AugmentConfig | None = None,
        skip_bad: bool = False,
    ) -> None:
        self.pairs = pairs
        self.classes = classes
        self.size = size
        self.skip_bad = skip_bad
        self.bad: dict[str, str] = {}  # key -> why, for frames skip_bad passed over
        self.transform = build_transform(size, train, augment, classes.ignore_index)

    def __len__(self) -> int:
        return len(self.pairs)

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        image = read_image(self.pairs[index].image)
        blank = np.zeros(image.shape[:2], dtype=np.uint8)
        return resize_pair(image, blank, self.size)

    def load_good(self, index: int) -> tuple[int, np.ndarray, np.ndarray]:
        """(index read, image, zeros); with ``skip_bad`` an unreadable frame is recorded in
        ``bad`` and replaced by the next readable one. The cache build records them, and
        training leaves them out (``engine.teacher_targets``), so they are counted and named,
        never silently trained in another frame's place."""

        def record(i: int, exc: DataError) -> None:
            self.bad[self.pairs[i].key] = str(exc)

        return load_skipping_bad(
            index,
            len(self),
            self.load,
            self.skip_bad,
            record,
            "every unlabelled frame failed to load; check the --unlabeled folders",
        )

    def __getitem__(self, index: int):
        _, image, ids = self.load_good(index)
        return self.transform(*to_tensors(image, ids))
