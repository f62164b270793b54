"""Resizing, augmentation and normalisation, with torchvision.transforms.v2 and masks as Mask.

Every sample is first brought to the training size (image: bilinear with antialiasing; mask:
always nearest-neighbour, so no invented classes), either from the source files or from the
prepared cache; augmentation then works on that, so cached and uncached loading agree. The
random geometry of a sample is drawn once and applied to its image, its mask and the teacher's
cached targets alike, so a cached teacher stays consistent with what the student sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from segcompress.config import AugmentConfig

__all__ = [
    "MEAN",
    "STD",
    "AugmentConfig",
    "Geometry",
    "PairTransform",
    "RandomHaze",
    "build_transform",
    "resize_pair",
    "warp_targets",
]

# ImageNet statistics: the convention of the field, stored in every checkpoint and ONNX file.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def resize_pair(
    image: np.ndarray, ids: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Resize an (H, W, 3) image (bilinear, antialiased) and its (H, W) ids (nearest) to (h, w)."""
    h, w = size
    if image.shape[:2] != (h, w):
        image = np.array(Image.fromarray(image).resize((w, h), Image.BILINEAR))
    if ids.shape != (h, w):
        ids = np.array(Image.fromarray(ids).resize((w, h), Image.NEAREST))
    return image, ids


class RandomHaze(v2.Transform):
    """Blend the image towards a bright, slightly blue airlight, stronger towards the top.

    A cheap stand-in for the atmospheric scattering model I = J t + A (1 - t) with transmission
    falling with distance, which in a forward-facing road camera rises towards the horizon.
    """

    def __init__(self, p: float = 0.5, strength: tuple[float, float] = (0.2, 0.6)):
        super().__init__()
        self.p = p
        self.strength = strength

    def make_params(self, flat_inputs: list) -> dict:
        apply = bool(torch.rand(()) < self.p)
        s = float(torch.empty(()).uniform_(*self.strength))
        return {"apply": apply, "strength": s}

    def transform(self, inpt, params: dict):  # type: ignore[override]
        if not params["apply"] or not isinstance(inpt, tv_tensors.Image):
            return inpt
        c, h, _ = inpt.shape[-3:]
        airlight = torch.tensor([235.0, 240.0, 248.0][:c]).view(c, 1, 1)
        depth = torch.linspace(1.0, 0.3, h).view(1, h, 1)  # far at the top
        t = 1.0 - params["strength"] * depth
        hazy = inpt.float() * t + airlight * (1.0 - t)
        return tv_tensors.wrap(hazy.clamp(0, 255).to(inpt.dtype), like=inpt)


@dataclass(frozen=True)
class Geometry:
    """One sample's random scale, crop and flip: the scaled size, the crop's top-left corner in
    the scaled image (negative where the scaled image is smaller than the crop and is padded),
    and whether it is mirrored."""

    scaled: tuple[int, int]
    top: int
    left: int
    flip: bool

    @classmethod
    def sample(
        cls, size: tuple[int, int], crop: tuple[int, int], scale: tuple[float, float], hflip: float
    ) -> Geometry:
        s = float(torch.empty(()).uniform_(*scale))
        scaled = (max(1, round(size[0] * s)), max(1, round(size[1] * s)))
        offsets = []
        for have, want in zip(scaled, crop, strict=True):
            low, high = sorted((0, have - want))
            offsets.append(int(torch.randint(low, high + 1, ())))
        return cls(scaled, offsets[0], offsets[1], bool(torch.rand(()) < hflip))


def _crop(t: torch.Tensor, top: int, left: int, size: tuple[int, int], fill: float) -> torch.Tensor:
    """The ``size`` window of ``t`` [..., H, W] at (top, left); outside ``t`` it is ``fill``."""
    h, w = size
    out = torch.full((*t.shape[:-2], h, w), fill, dtype=t.dtype)
    y0, x0 = max(0, top), max(0, left)
    y1, x1 = min(t.shape[-2], top + h), min(t.shape[-1], left + w)
    if y1 > y0 and x1 > x0:
        out[..., y0 - top : y1 - top, x0 - left : x1 - left] = t[..., y0:y1, x0:x1]
    return out


def warp_targets(targets: torch.Tensor, geometry: Geometry, crop: tuple[int, int]) -> torch.Tensor:
    """Apply a sample's geometry to teacher targets [C, h, w] stored at any resolution.

    Shrinking uses the image's own filter (bilinear with antialiasing) to the scaled size, then
    the crop. Enlarging samples the crop window straight from the stored map with one
    ``roi_align`` (bilinear at the crop's pixel centres, as the image's resize), so a map stored
    at a fraction of the image size is never materialised at the scaled size. Outside the image
    it is 0 (those pixels are padding and carry the ignore index in the mask).
    """
    from torchvision.ops import roi_align

    (sh, sw), (h, w) = geometry.scaled, crop
    th, tw = targets.shape[-2:]
    if sh <= th and sw <= tw:
        out = targets.float()
        if (sh, sw) != (th, tw):
            out = F.interpolate(out[None], size=(sh, sw), mode="bilinear", antialias=True)[0]
        out = _crop(out, geometry.top, geometry.left, crop, 0.0)
    else:
        fy, fx = th / sh, tw / sw
        y0, x0 = geometry.top * fy, geometry.left * fx
        box = torch.tensor([[0.0, x0, y0, x0 + w * fx, y0 + h * fy]])
        out = roi_align(targets[None].float(), box, (h, w), 1.0, -1, aligned=True)[0]
    return out.flip(-1) if geometry.flip else out


class PairTransform:
    """uint8 (image, mask) at the dataset size -> (normalised float image, long mask).

    Training samples get a random scale, crop and flip (the same for the image, the mask and,
    when given, the teacher's targets for the image, see :func:`warp_targets`), then colour
    jitter and haze (the image only). Masks are resized NEAREST_EXACT (pixel centres sampled
    like bilinear does, so labels stay on their pixels) and padded with the class table's
    ignore index, never with a fixed 255.
    """

    def __init__(
        self,
        size: tuple[int, int],
        train: bool,
        augment: AugmentConfig | None = None,
        ignore_index: int = 255,
    ) -> None:
        self.size = tuple(size)
        self.train = train
        self.augment = augment or AugmentConfig()
        self.ignore_index = ignore_index
        a = self.augment
        colour: list[v2.Transform] = [v2.ColorJitter(a.brightness, a.contrast, a.saturation, a.hue)]
        if a.haze > 0:
            colour.append(RandomHaze(a.haze))
        self.colour = v2.Compose(colour)
        self.finish = v2.Compose([v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])

    def geometry(self, image: torch.Tensor) -> Geometry:
        a = self.augment
        return Geometry.sample(tuple(image.shape[-2:]), self.size, tuple(a.scale), a.hflip)

    def __call__(
        self, image: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """``image`` [3, H, W] uint8, ``mask`` [H, W]; returns (image, mask[, targets])."""
        mask = mask.long()
        if self.train:
            g = self.geometry(image)
            if g.scaled != tuple(image.shape[-2:]):
                image = v2.functional.resize(image, list(g.scaled), antialias=True)
                mode = v2.InterpolationMode.NEAREST_EXACT
                mask = v2.functional.resize(mask[None], list(g.scaled), interpolation=mode)[0]
            image = _crop(image, g.top, g.left, self.size, 0)
            mask = _crop(mask, g.top, g.left, self.size, self.ignore_index)
            if g.flip:
                image, mask = image.flip(-1), mask.flip(-1)
            if targets is not None:
                targets = warp_targets(targets, g, self.size)
            image = self.colour(tv_tensors.Image(image)).as_subclass(torch.Tensor)
        out = (self.finish(image), mask)
        return out if targets is None else (*out, targets)


def build_transform(
    size: tuple[int, int],
    train: bool,
    augment: AugmentConfig | None = None,
    ignore_index: int = 255,
) -> PairTransform:
    """The transform of one split (see :class:`PairTransform`)."""
    return PairTransform(size, train, augment, ignore_index)
