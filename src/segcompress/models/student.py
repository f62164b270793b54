"""Students: the teacher's design (attention gates, full-scale skips) made cheap for CPU inference.

Choices measured on this machine (ONNX Runtime, INT8 static QDQ, see benchmarks/bench_models.py):

* a stride-2 stem: every map is 4x smaller; logits are upsampled bilinearly at the very end;
* dense 3x3 convolutions only (multi-kernel blocks without the dilated branch fold into one dense
  3x3): they run as QLinearConv in INT8, unlike depthwise-separable designs that ran slower in
  INT8 than in FP32 here;
* nearest upsampling between scales (bilinear cost more in INT8 and FP32);
* attention gates with a quarter of the skip's channels and nearest resampling of the gating
  signal (computing the gate at the coarse scale measured no faster, so it is not used);
* thin full-scale projections (8 channels per scale): the decoder dominated FLOPs and
  parameters, and halving it kept the student within 1/15 of the teacher's parameters.
"""

from __future__ import annotations

from segcompress.errors import UsageError
from segcompress.models.msunet import AttentionMSUNet
from segcompress.models.registry import register_model

__all__ = ["CHANNEL_MULTIPLE", "build_student", "scale_widths", "student_s", "student_xs"]

# Channel counts are rounded to this multiple: vectorised INT8 kernels work on groups of channels.
CHANNEL_MULTIPLE = 8


def scale_widths(
    widths: list[int], width_mult: float, multiple: int = CHANNEL_MULTIPLE
) -> list[int]:
    """``widths`` times ``width_mult``, each rounded to ``multiple`` (at least ``multiple``)."""
    if isinstance(width_mult, bool) or not isinstance(width_mult, (int, float)) or width_mult <= 0:
        raise UsageError(f"width_mult must be a positive number, got {width_mult!r}")
    return [max(multiple, round(w * width_mult / multiple) * multiple) for w in widths]


def build_student(
    num_classes: int,
    base_widths: list[int],
    base_skip: int,
    width_mult: float,
    upsample: str,
    deep_supervision: bool,
    stem_stride: int = 2,
) -> AttentionMSUNet:
    """A student whose widths are ``base_widths`` (and ``base_skip``) times ``width_mult``;
    ``stem_stride`` 1 keeps the input resolution in the first stage (small objects) for 4x the
    FLOPs."""
    *widths, skip = scale_widths([*base_widths, base_skip], width_mult)
    return AttentionMSUNet(
        num_classes,
        widths,
        skip_channels=skip,
        stem_stride=stem_stride,
        encoder_blocks=1,
        gate_ratio=4,
        dilation=0,
        upsample=upsample,
        deep_supervision=deep_supervision,
    )


@register_model()
def student_s(
    num_classes: int,
    width_mult: float = 1.0,
    upsample: str = "nearest",
    deep_supervision: bool = False,
    stem_stride: int = 2,
) -> AttentionMSUNet:
    """The small student: 5 levels (like the teacher), widths 16..128, 40-channel decoder."""
    return build_student(
        num_classes, [16, 32, 64, 96, 128], 8, width_mult, upsample, deep_supervision, stem_stride
    )


@register_model()
def student_xs(
    num_classes: int,
    width_mult: float = 1.0,
    upsample: str = "nearest",
    deep_supervision: bool = False,
    stem_stride: int = 2,
) -> AttentionMSUNet:
    """The extra-small student: 4 levels, widths 8..64, 32-channel decoder."""
    return build_student(
        num_classes, [8, 16, 32, 64], 8, width_mult, upsample, deep_supervision, stem_stride
    )
