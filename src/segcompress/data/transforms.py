"""Resizing, augmentation and normalisation, with torchvision.transforms.v2 and masks as Mask.

Every sample is first brought to the training size (image: bilinear with antialiasing; mask:
always nearest-neighbour, so no invented classes), either from the source files or from the
prepared cache; augmentation then works on that, so cached and uncached loading agree.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from segcompress.config import AugmentConfig

__all__ = [
    "MEAN",
    "STD",
    "AugmentConfig",
    "RandomHaze",
    "RandomScale",
    "build_transform",
    "resize_pair",
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


class RandomScale(v2.Transform):
    """Resize by a random factor: images bilinear (antialiased), masks NEAREST_EXACT.

    torchvision's own ScaleJitter resizes masks with legacy NEAREST, whose sampling grid is
    shifted by up to half an output pixel against the bilinear image grid; NEAREST_EXACT samples
    pixel centres like bilinear does, so labels stay on their pixels when upscaling.
    """

    def __init__(self, scale: tuple[float, float]):
        super().__init__()
        self.scale = scale

    def make_params(self, flat_inputs: list) -> dict:
        h, w = v2.functional.get_size(flat_inputs[0])
        s = float(torch.empty(()).uniform_(*self.scale))
        return {"size": [max(1, round(h * s)), max(1, round(w * s))]}

    def transform(self, inpt, params: dict):  # type: ignore[override]
        if isinstance(inpt, tv_tensors.Mask):
            mode = v2.InterpolationMode.NEAREST_EXACT
            return v2.functional.resize(inpt, params["size"], interpolation=mode)
        return v2.functional.resize(inpt, params["size"], antialias=True)


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


def build_transform(
    size: tuple[int, int], train: bool, augment: AugmentConfig | None = None
) -> v2.Compose:
    """Transforms from uint8 (Image, Mask) at ``size`` to (normalised float image, long mask)."""
    ops: list[v2.Transform] = []
    if train:
        cfg = augment or AugmentConfig()
        ops += [
            RandomScale(cfg.scale),
            v2.RandomCrop(size, pad_if_needed=True, fill={tv_tensors.Mask: 255, "others": 0}),
            v2.RandomHorizontalFlip(cfg.hflip),
            v2.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue),
        ]
        if cfg.haze > 0:
            ops.append(RandomHaze(cfg.haze))
    ops += [
        v2.ToDtype({tv_tensors.Image: torch.float32, tv_tensors.Mask: torch.int64}, scale=True),
        v2.Normalize(MEAN, STD),
    ]
    return v2.Compose(ops)
