"""Teacher targets computed once per training image, then warped with each sample's augmentation.

On a CPU the teacher's forward pass costs several student training steps, so logit-only
distillation (``kl``, ``cwd``, ``dist``) runs the teacher once per training image before
training instead of at every step. Distillation works when the teacher and the student see the
same view (Beyer et al. 2022), so the cached logits are not tied to one view: each training
sample's random scale, crop and flip is applied to its cached logits exactly as to its image
(:func:`segcompress.data.transforms.warp_targets`), and batch mixing mixes them with the same
mask. Colour jitter reaches the student only.

What is cached, per image, is the teacher's logits averaged over test-time views: the image and
its mirror (flipped back) and optionally other scales (``tta_scales``), which makes the cached
teacher a small ensemble of itself at no cost per step. They are stored as float16 in one
memory-mapped array ``[N, C, H / stride, W / stride]`` in the cache folder (never all in RAM),
keyed by the teacher file's SHA-256, :data:`TARGETS_VERSION`, the image size, the options and
the training frames, so a retrained teacher or a changed transform computes anew.

The teacher may see the frames larger than the student does (``teacher_size``, e.g. the
resolution it was trained at): its logits are then shrunk (antialiased) to the student's size
before they are cached, so a teacher trained at full resolution teaches a student trained
small, from the detail only it can see. Under DDP
rank 0 builds the cache and the other ranks wait for it; separate runs building the same cache
at once take turns through a file lock, so it is built once.

A cache is written with ``write()`` into a preallocated file, never through a memory map, after
its size is compared with the free space (:mod:`segcompress.data.checked_array`): a full disk is
one line, and a failed, interrupted (SIGINT, SIGTERM) or killed build leaves no temporary file
behind (a killed one's is removed by the next build). Its index records the array's shape,
dtype and a BLAKE2b digest per frame. Opening a cache checks the file's size before mapping it
and every frame's digest; a damaged cache is moved aside and rebuilt. Every read verifies its
frame's digest again, so a file damaged during training stops the run in one line instead of
being trained on. Building saves and restores every random number generator, so a run that
builds the cache trains exactly as one that reuses it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from filelock import FileLock
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from segcompress.data.cache import default_cache_dir
from segcompress.data.checked_array import (
    ArrayWriter,
    CacheDamaged,
    check_size,
    move_aside,
    row_digest,
)
from segcompress.data.dataset import SegmentationDataset, to_tensors
from segcompress.data.unlabeled import UnlabeledDataset
from segcompress.engine.checkpoint import capture_rng_state, restore_rng_state
from segcompress.engine.evaluate import autocast
from segcompress.engine.signals import RunInterrupted
from segcompress.errors import DataError
from segcompress.fileio import atomic_write_bytes, file_sha256

__all__ = [
    "TARGETS_VERSION",
    "CachedTeacherDataset",
    "TargetOptions",
    "TeacherTargets",
    "TrainingFrames",
    "build_teacher_targets",
    "target_fidelity",
    "teacher_logits",
    "teacher_targets",
]

# Bump when what a cache holds for the same inputs changes (preprocessing, TTA, storage).
# 3: per-frame checksums and the frames --skip-bad left out, in the index.
TARGETS_VERSION = 3


@dataclass(frozen=True)
class TargetOptions:
    """How the cached targets are made: test-time scales, mirror averaging, storage stride."""

    scales: tuple[float, ...] = (1.0,)
    flip: bool = True
    stride: int = 1


def _logits(out: Tensor | dict[str, Tensor]) -> Tensor:
    return out["logits"] if isinstance(out, dict) else out


@torch.no_grad()
def teacher_logits(
    teacher: nn.Module, images: Tensor, options: TargetOptions, size: tuple[int, int]
) -> Tensor:
    """The teacher's logits on ``images``, averaged over the test-time views, at ``size``."""
    total: Tensor | None = None
    views = 0
    h, w = images.shape[-2:]
    for scale in options.scales:
        x = images
        if scale != 1.0:
            scaled = (max(1, round(h * scale)), max(1, round(w * scale)))
            x = F.interpolate(images, size=scaled, mode="bilinear", antialias=scale < 1)
        for mirror in (False, True) if options.flip else (False,):
            out = _logits(teacher(x.flip(-1) if mirror else x)).float()
            out = out.flip(-1) if mirror else out
            if tuple(out.shape[-2:]) != tuple(size):
                shrink = out.shape[-2] > size[0]
                out = F.interpolate(out, size=size, mode="bilinear", antialias=shrink)
            total = out if total is None else total + out
            views += 1
    assert total is not None
    return total / views


class TeacherTargets:
    """A built cache: ``len()`` entries of float16 logits, read through a memory map.

    Opening it checks the index and the file's size (:class:`CacheDamaged` otherwise); every
    read checks the frame's digest unless ``verify`` is False (for measuring what it costs).
    """

    def __init__(self, directory: Path, verify: bool = True) -> None:
        self.directory = directory
        self.path = directory / "logits.npy"
        try:
            self.index = json.loads((directory / "index.json").read_text())
            self.keys: list[str] = self.index["keys"]
            self.meta: dict[str, Any] = self.index["array"]
            self.bad: dict[str, str] = self.index["bad"]
            frames = {len(self.keys), len(self.meta["checksums"]), self.meta["shape"][0]}
            if len(frames) != 1:
                raise ValueError("frame counts disagree")
            check_size(self.path, self.meta)
        except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
            raise CacheDamaged(f"{directory / 'index.json'}: unreadable cache index") from exc
        self.verify = verify
        self._logits: np.ndarray | None = None

    @property
    def logits(self) -> np.ndarray:
        if self._logits is None:  # opened lazily, once per DataLoader worker
            m = self.meta
            shape = tuple(m["shape"])
            self._logits = np.memmap(self.path, m["dtype"], "r", m["offset"], shape)
        return self._logits

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, i: int) -> np.ndarray:
        """Frame ``i``'s stored logits, verified against its digest."""
        data = np.array(self.logits[i])
        if self.verify and row_digest(data) != self.meta["checksums"][i]:
            raise self.damaged(f"frame {i} ({self.keys[i]}) fails its checksum")
        return data

    def first_damaged(self) -> int | None:
        """The first frame whose bytes do not match its digest (None: all intact)."""
        for i, expected in enumerate(self.meta["checksums"]):
            if row_digest(self.logits[i]) != expected:
                return i
        return None

    def damaged(self, what: str) -> CacheDamaged:
        """The error for a damage found while training: the cache is moved aside first, so
        that the same command builds it anew."""
        aside = move_aside(self.directory)
        return CacheDamaged(
            f"{self.path}: {what}: the teacher targets are damaged and were not trained on; "
            f"moved aside to {aside}; run the same command again to rebuild them"
        )

    def __getitem__(self, i: int) -> Tensor:
        # Copy the float16 row out of the map, then widen it in torch: numpy's float16 ->
        # float32 cast is about 7x slower, and it runs for every training sample.
        return torch.from_numpy(self.row(i)).float()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_logits": None}  # never pickle the map into workers


def build_teacher_targets(
    directory: Path,
    teacher: nn.Module,
    dataset: Dataset,
    keys: Sequence[str],
    options: TargetOptions,
    key: dict[str, Any],
    *,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    batch: int = 16,
    progress: bool = False,
    size: tuple[int, int] | None = None,
) -> TeacherTargets:
    """Run the teacher over ``dataset`` (un-augmented, in training order) into ``directory``.

    ``size``: the image size the targets are for (the student's), when the dataset's frames
    are another (the teacher's). The array is written under a temporary name (removed if the
    build fails) and renamed when complete; the index is written last, so an interrupted build
    is never taken for a finished one. Frames that ``--skip-bad`` left out while loading
    (``dataset.bad``) are recorded in the index.
    """
    teacher.eval()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.json").unlink(missing_ok=True)
    loader = DataLoader(dataset, batch_size=batch, shuffle=False)
    tmp = directory / f"logits.npy.tmp{os.getpid()}"
    with contextlib.ExitStack() as stack:
        writer: ArrayWriter | None = None
        for images, _ in tqdm(loader, desc="teacher targets", leave=False, disable=not progress):
            h, w = size or images.shape[-2:]
            stored = (-(-h // options.stride), -(-w // options.stride))
            with autocast(device, amp_dtype):
                out = teacher_logits(teacher, images.to(device), options, stored)
            if writer is None:  # the size is known: check the free space, preallocate
                shape = (len(dataset), out.shape[1], *stored)  # type: ignore[arg-type]
                writer = stack.enter_context(ArrayWriter(tmp, shape, np.float16))
            writer.append(out.cpu().numpy().astype(np.float16))
        assert writer is not None
        meta = writer.finish(directory / "logits.npy")
    bad = dict(getattr(dataset, "bad", {}))
    index = {"key": key, "keys": list(keys), "array": meta, "bad": bad}
    atomic_write_bytes(directory / "index.json", json.dumps(index).encode())
    return TeacherTargets(directory)


def _cache_key(
    teacher_files: Sequence[str | Path],
    dataset: SegmentationDataset | TrainingFrames,
    options: TargetOptions,
    amp: str,
    size: tuple[int, int],
) -> dict[str, Any]:
    frames = []
    for pair in dataset.pairs:
        st = Path(pair.image).stat()
        frames.append([pair.key, str(Path(pair.image).resolve()), st.st_size, st.st_mtime_ns])
    key = {
        "version": TARGETS_VERSION,
        "teacher_sha256": [file_sha256(path) for path in teacher_files],
        "size": list(size),
        "options": asdict(options),
        "amp": amp,
        "frames": frames,
    }
    if tuple(dataset.size) != tuple(size):  # only then, so that earlier caches stay valid
        key["teacher_size"] = list(dataset.size)
    return key


def teacher_targets(
    teacher_files: str | Path | Sequence[str | Path],
    teacher: nn.Module,
    dataset: SegmentationDataset | TrainingFrames,
    options: TargetOptions,
    *,
    cache_dir: Path | None = None,
    build: bool = True,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    batch: int = 16,
    progress: bool = False,
    size: tuple[int, int] | None = None,
    notify: Callable[[str], None] = print,
) -> TeacherTargets | None:
    """The cached targets of ``dataset`` (un-augmented training split), built when missing.

    ``teacher_files``: the checkpoint(s) ``teacher`` was loaded from (several for an
    ensemble), whose contents key the cache. ``size``: the student's image size, when the
    teacher sees ``dataset``'s frames at another. ``build=False`` (DDP ranks other than 0)
    only looks: None when the cache is not there yet. ``notify`` prints the one line that
    says a damaged cache was moved aside.
    """
    files = [teacher_files] if isinstance(teacher_files, (str, Path)) else list(teacher_files)
    size = tuple(size or dataset.size)  # type: ignore[assignment]
    # Through JSON once, so that it compares equal to the copy stored in the index.
    key = json.loads(json.dumps(_cache_key(files, dataset, options, str(amp_dtype), size)))
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    directory = (cache_dir or default_cache_dir()) / "teacher-targets" / digest
    found = _complete(directory, key, notify, full=build)
    if found is not None or not build:
        return found
    directory.mkdir(parents=True, exist_ok=True)
    rng = capture_rng_state()  # building draws random numbers (the loader's seed) ...
    try:
        # Two runs of one teacher starting together (parallel lanes): one builds, the other
        # waits for it and then reads what it built.
        with _stops_raise(directory), FileLock(directory / ".lock"):
            found = _complete(directory, key, notify)
            if found is not None:
                return found
            for stale in directory.glob("logits.npy.tmp*"):  # left by a killed build
                stale.unlink()
            (directory / "logits.npy").unlink(missing_ok=True)  # no index: not a cache
            keys = [p.key for p in dataset.pairs]
            return build_teacher_targets(
                directory,
                teacher,
                dataset,
                keys,
                options,
                key,
                device=device,
                amp_dtype=amp_dtype,
                batch=batch,
                progress=progress,
                size=size,
            )
    finally:
        restore_rng_state(rng)  # ... which the training run that reuses the cache would not


def _complete(
    directory: Path, key: dict[str, Any], notify: Callable[[str], None], full: bool = True
) -> TeacherTargets | None:
    """The cache in ``directory`` when it is complete, made for ``key`` and intact (its size
    and, with ``full``, every frame's digest); a damaged one is moved aside (None)."""
    if not (directory / "index.json").is_file():
        return None
    try:
        targets = TeacherTargets(directory)
        if targets.index.get("key") != key:
            return None
        bad = targets.first_damaged() if full else None
        if bad is not None:
            what = f"frame {bad} ({targets.keys[bad]}) fails its checksum"
            raise CacheDamaged(f"{targets.path}: {what}")
    except CacheDamaged as exc:
        aside = move_aside(directory)
        notify(f"teacher targets: {exc}; moved aside to {aside}, building them again")
        return None
    return targets


@contextlib.contextmanager
def _stops_raise(directory: Path) -> Iterator[None]:
    """While building, SIGINT and SIGTERM raise :class:`RunInterrupted`, so that the build's
    temporary file is removed on the way out and the user is told what to do."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise RunInterrupted(
            f"{signal.Signals(signum).name} while building the teacher targets in {directory}; "
            "the partial file was removed; run the same command again to build them",
            signum,
        )

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class TrainingFrames(Dataset):
    """The frames a cache covers, in its order: the labelled split, then unlabelled frames.

    Args:
        labelled: the training split.
        unlabelled: frames without masks (``data.unlabeled``), or None.
    """

    def __init__(
        self, labelled: SegmentationDataset, unlabelled: UnlabeledDataset | None = None
    ) -> None:
        self.parts: list[SegmentationDataset | UnlabeledDataset] = [labelled]
        if unlabelled is not None and len(unlabelled):
            self.parts.append(unlabelled)
        self.labelled = labelled
        self.pairs = [p for part in self.parts for p in part.pairs]
        self.size = labelled.size

    def __len__(self) -> int:
        return len(self.pairs)

    def locate(self, index: int) -> tuple[SegmentationDataset | UnlabeledDataset, int]:
        """The part holding frame ``index`` and the frame's index in it."""
        for part in self.parts:
            if index < len(part):
                return part, index
            index -= len(part)
        raise IndexError(index)

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor]:
        part, i = self.locate(index)
        return part[i]

    @property
    def bad(self) -> dict[str, str]:
        """Frames ``--skip-bad`` left out while loading (key -> why), unlabelled ones."""
        return {k: v for part in self.parts for k, v in getattr(part, "bad", {}).items()}


class CachedTeacherDataset(Dataset):
    """Training frames whose targets are ``(mask, teacher logits, valid)``, all warped like the
    image; ``valid`` marks the pixels the distillation terms learn from.

    On a labelled frame ``valid`` is the labelled pixels (``mask != ignore``); on an unlabelled
    frame the mask is the ignore index everywhere (the task loss skips it) and ``valid`` is the
    image, without the padding a random crop may add.

    Args:
        frames: the (augmenting) training frames, labelled then unlabelled, without those
            the cache records as bad (``targets.bad``).
        targets: :func:`teacher_targets` of the same frames, in the same order.
    """

    def __init__(self, frames: TrainingFrames, targets: TeacherTargets) -> None:
        rows = [i for i, key in enumerate(targets.keys) if key not in targets.bad]
        if [p.key for p in frames.pairs] != [targets.keys[i] for i in rows]:
            raise DataError(
                f"{targets.directory}: teacher targets were made for other frames than the "
                "training split's; delete that folder to rebuild them"
            )
        self.frames = frames
        self.base = frames.labelled
        self.targets = targets
        self.rows = rows  # frame index -> its row in the cache

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        part, i = self.frames.locate(index)
        offset = index - i
        i, image, ids = part.load_good(i)
        image_t, mask_t = to_tensors(image, ids)
        logits = self.targets[self.rows[offset + i]]
        image_t, mask_t, logits = part.transform(image_t, mask_t, logits)
        ignore = self.base.classes.ignore_index
        valid = mask_t != ignore
        if part is not self.base:  # unlabelled: the teacher is the only target
            mask_t = torch.full_like(mask_t, ignore)
        return image_t, (mask_t, logits, valid)

    def __getattr__(self, name: str):  # classes, format, describe() ... of the labelled split
        if name in ("frames", "base", "targets"):
            raise AttributeError(name)
        return getattr(self.base, name)


@torch.no_grad()
def target_fidelity(
    teacher: nn.Module, dataset: CachedTeacherDataset, indices: Sequence[int]
) -> dict[str, float]:
    """How well warped cached targets stand in for the live teacher on augmented samples.

    For each sample (drawn with the dataset's random augmentation) the teacher is run on the
    augmented image itself; returns the share of valid pixels where both argmaxes agree and
    the mean per-pixel ``KL(live || cached)`` of the class distributions.
    """
    teacher.eval()
    agree = kl = 0.0
    pixels = 0
    for i in indices:
        image, (_, cached, valid) = dataset[i]
        live = _logits(teacher(image[None]))[0].float()
        agree += float((live.argmax(0) == cached.argmax(0))[valid].sum())
        log_live, log_cached = F.log_softmax(live, 0), F.log_softmax(cached, 0)
        kl += float((log_live.exp() * (log_live - log_cached)).sum(0)[valid].sum())
        pixels += int(valid.sum())
    return {"agreement": agree / max(1, pixels), "kl": kl / max(1, pixels), "pixels": pixels}
