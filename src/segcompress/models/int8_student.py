"""``student_q``: a student shaped for INT8 kernels, from what the per-operator profile showed.

Profiling ``student_s`` in INT8 (``benchmarks/bench_edge.py``) put much of its time outside
the convolutions, the one thing integer kernels speed up: full-scale resizes, concatenations
that stay FP32, quantize/dequantize steps around the FP32 islands of the attention gates
(Sigmoid, Mul) and layout changes. This student keeps only operators that run in INT8 end to
end:

* strided 3x3 convolutions instead of max-pooling to go down a level (the pooling fuses into
  the convolution's own stride);
* an additive top-down decoder (FPN / U-Net style): at each level the coarser map is projected by
  a 1x1 convolution *at its own resolution* to the finer level's width, upsampled (see
  ``decoder_upsample``) and added to the encoder map; one 3x3 block then mixes them.
  No attention gates, no concatenation, one resize per level;
* every 3x3 block is a :class:`MultiKernelBlock` (3x3 + 1x3 + 3x1 while training), which folds
  into one dense 3x3 convolution with its ReLU for inference;
* the head predicts at stride 2. ``upsample`` chooses how the logits reach the input size:
  ``"bilinear"`` (smooth boundaries) or ``"nearest"``, which in an INT8 file stays an 8-bit copy
  and skips a costly float resize of the full-size logits;
* ``decoder_upsample`` chooses the decoder's upsampling, ``"bilinear"`` by default. It is
  faster in ONNX Runtime's INT8 graph than ``"nearest"`` (the original design): ORT runs 8-bit
  nearest resizes channels-last through a generic per-element loop, bilinear ones in float
  through a threaded channels-last kernel. On IDD-Lite it scored as well at both widths
  (speed and accuracy: BENCHMARKS.md, "Which INT8 student is fastest?").
  Unlike ``upsample`` it changes what the model computes, so a model is trained with it; a
  checkpoint saved before the argument existed was trained with ``"nearest"`` and loads so.

Features: ``enc1..enc5`` and ``dec1..dec4`` (strides 2..32), for feature distillation.

``student_lite`` puts the same decoder on an ImageNet EfficientNet-Lite encoder
(:mod:`segcompress.models.encoders`): its five maps replace the strided-convolution encoder, and
each skip is projected by a 1x1 convolution to the decoder's width at that level
(``decoder_widths``) when the two differ.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from segcompress.errors import UsageError
from segcompress.models.base import SegmentationModel, check_positive
from segcompress.models.blocks import UPSAMPLE_MODES, ConvBNAct, MultiKernelBlock, resize
from segcompress.models.encoders import PretrainedEncoder, create_encoder
from segcompress.models.msunet import check_level_widths
from segcompress.models.registry import register_model
from segcompress.models.student import scale_widths

__all__ = ["AdditiveUNet", "student_lite", "student_q"]


class AdditiveUNet(SegmentationModel):
    """Strided-convolution encoder and additive upsampling decoder, head at stride 2."""

    model_name = "additive_unet"
    # How the logits reach the input size (copied or interpolated) is a deployment choice; the
    # decoder's own upsampling is part of what the weights learnt.
    export_args = frozenset({"upsample"})

    def __init__(
        self,
        num_classes: int,
        widths: Sequence[int],
        *,
        upsample: str,
        decoder_upsample: str,
        encoder: PretrainedEncoder | None = None,
        decoder_widths: Sequence[int] | None = None,
    ) -> None:
        """``widths``: the encoder's, per level (an ``encoder``'s own channels when given);
        ``decoder_widths``: the decoder's at levels 1..depth-1 (default: the encoder's)."""
        if encoder is not None:
            widths = encoder.channels
        depth = check_level_widths(widths)
        for arg, mode in (("upsample", upsample), ("decoder_upsample", decoder_upsample)):
            if mode not in UPSAMPLE_MODES:
                raise UsageError(f"{arg} must be one of {', '.join(UPSAMPLE_MODES)}, got {mode!r}")
        dec_widths = list(decoder_widths or widths[:-1])
        if len(dec_widths) != depth - 1:
            raise UsageError(f"decoder_widths needs {depth - 1} widths, got {len(dec_widths)}")
        for i, w in enumerate(dec_widths):
            check_positive(f"decoder width of level {i + 1}", w)
        super().__init__(num_classes, size_divisor=2**depth)
        self.depth = depth
        self.upsample = upsample
        self.decoder_upsample = decoder_upsample
        self.encoder = encoder
        in_ch = 3
        for lvl, width in enumerate(widths if encoder is None else [], start=1):
            down = ConvBNAct(in_ch, width, 3, stride=2)
            setattr(self, f"enc{lvl}", nn.Sequential(down, MultiKernelBlock(width, width)))
            in_ch = width
        # What each decoder level receives from below: the bottleneck, then a decoder output.
        below = [*dec_widths[1:], widths[-1]]
        for lvl in range(depth - 1, 0, -1):
            width = dec_widths[lvl - 1]
            setattr(self, f"lat{lvl}", ConvBNAct(below[lvl - 1], width, 1, act=False))
            if widths[lvl - 1] != width:
                setattr(self, f"skip{lvl}", ConvBNAct(widths[lvl - 1], width, 1, act=False))
            setattr(self, f"dec{lvl}", MultiKernelBlock(width, width))
        self.head = nn.Conv2d(dec_widths[0], num_classes, 1)
        self.feature_info = [
            {"name": f"enc{lvl}", "channels": widths[lvl - 1], "stride": 2**lvl}
            for lvl in range(1, depth + 1)
        ] + [
            {"name": f"dec{lvl}", "channels": dec_widths[lvl - 1], "stride": 2**lvl}
            for lvl in range(1, depth)
        ]

    def forward_features(self, x: torch.Tensor, with_aux: bool) -> dict[str, torch.Tensor]:
        feats: dict[str, torch.Tensor] = {}
        if self.encoder is not None:
            enc = dict(enumerate(self.encoder(x), start=1))
        else:
            enc, y = {}, x
            for lvl in range(1, self.depth + 1):
                y = enc[lvl] = getattr(self, f"enc{lvl}")(y)
        feats.update({f"enc{lvl}": enc[lvl] for lvl in enc})
        y = enc[self.depth]
        for lvl in range(self.depth - 1, 0, -1):
            up = resize(getattr(self, f"lat{lvl}")(y), enc[lvl], self.decoder_upsample)
            skip = getattr(self, f"skip{lvl}", None)
            lateral = enc[lvl] if skip is None else skip(enc[lvl])
            y = feats[f"dec{lvl}"] = getattr(self, f"dec{lvl}")(torch.relu(up + lateral))
        feats["logits"] = resize(self.head(y), x, self.upsample)
        return feats


# student_q keeps its widths multiples of 16 when scaled (its design; BENCHMARKS.md).
Q_CHANNEL_MULTIPLE = 16


# Files saved before decoder_upsample existed were trained with nearest decoder upsampling.
@register_model(saved_defaults={"decoder_upsample": "nearest"})
def student_q(
    num_classes: int,
    upsample: str = "bilinear",
    width_mult: float = 1.0,
    decoder_upsample: str = "bilinear",
) -> AdditiveUNet:
    """The INT8-shaped student: 5 levels, widths 16..128 times ``width_mult`` (rounded to
    multiples of 16), additive decoder. Wider variants spend a larger share of their time in
    convolutions, the part INT8 speeds up;
    the bilinear decoder (the default) avoids the slowest non-convolution step of ONNX Runtime's
    INT8 graph, 8-bit nearest resizes (BENCHMARKS.md, "Which INT8 student is fastest?")."""
    widths = scale_widths([16, 32, 64, 96, 128], width_mult, Q_CHANNEL_MULTIPLE)
    return AdditiveUNet(num_classes, widths, upsample=upsample, decoder_upsample=decoder_upsample)


@register_model()
def student_lite(
    num_classes: int,
    encoder: str = "efficientnet_lite0",
    decoder_widths: list[int] | tuple[int, ...] = (32, 48, 64, 96),
    upsample: str = "bilinear",
    decoder_upsample: str = "bilinear",
    encoder_padding: str = "same",
) -> AdditiveUNet:
    """``student_q``'s INT8-shaped additive decoder on an EfficientNet-Lite encoder; start it
    from ImageNet with ``create_model(..., pretrained=True)`` (``--pretrained``)."""
    if isinstance(decoder_widths, str) or not isinstance(decoder_widths, (list, tuple)):
        raise UsageError(
            f"decoder_widths must be a list of 4 widths, e.g. [32,48,64,96], got {decoder_widths!r}"
        )
    return AdditiveUNet(
        num_classes,
        [],
        upsample=upsample,
        decoder_upsample=decoder_upsample,
        encoder=create_encoder(encoder, encoder_padding),
        decoder_widths=list(decoder_widths),
    )
