"""Building blocks shared by the teacher, the students and the baselines.

Every block with BatchNorm can *re-parameterize* itself for inference (``reparameterize()``): BN is
folded into the preceding convolution and the 1x3 / 3x1 branches of :class:`MultiKernelBlock` are
added into its 3x3 kernel, so a deployed block is a single dense convolution (cheap, and it
quantizes well to INT8). :func:`segcompress.models.fuse` calls ``reparameterize()`` on every block.

Attention gates (Oktay et al., 2018, "Attention U-Net") expose their coefficients through
``coefficients(x, g)`` (shape ``[N, 1, H, W]``, values in [0, 1]) so models can return them as
features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "UPSAMPLE_MODES",
    "AttentionGate",
    "ChannelAttention",
    "ConvBNAct",
    "MultiKernelBlock",
    "fold_bn",
    "resize",
]

# Upsampling modes a model may use between scales.
UPSAMPLE_MODES = ("bilinear", "nearest")


def resize(x: torch.Tensor, like: torch.Tensor, mode: str) -> torch.Tensor:
    """Resample ``x`` to ``like``'s height and width.

    Sizes come from the target tensor rather than a scale factor so that, under dynamic-shape
    export, no equality between two symbolic sizes has to be proven.
    """
    size = like.shape[-2:]
    if mode == "bilinear":
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    return F.interpolate(x, size=size, mode="nearest")


def fold_bn(
    weight: torch.Tensor, bias: torch.Tensor | None, bn: nn.BatchNorm2d
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (weight, bias) of one convolution equal to ``bn(conv(x))`` in eval mode."""
    std = torch.sqrt(bn.running_var + bn.eps)
    scale = bn.weight / std
    conv_bias = bias if bias is not None else torch.zeros_like(bn.running_mean)
    new_weight = weight * scale.reshape(-1, *([1] * (weight.dim() - 1)))
    new_bias = bn.bias + (conv_bias - bn.running_mean) * scale
    return new_weight, new_bias


def _conv_with(
    template: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor, kernel: tuple[int, int]
) -> nn.Conv2d:
    """A biased copy of ``template`` (same stride/padding/dilation) holding the given weights."""
    padding = tuple(d * (k // 2) for d, k in zip(template.dilation, kernel, strict=True))
    conv = nn.Conv2d(
        template.in_channels,
        template.out_channels,
        kernel,
        stride=template.stride,
        padding=padding,
        dilation=template.dilation,
        groups=template.groups,
        bias=True,
    )
    conv.weight.data.copy_(weight.detach())
    conv.bias.data.copy_(bias.detach())
    return conv.to(weight.device)


class ConvBNAct(nn.Module):
    """Convolution -> BatchNorm -> ReLU (``act=False``: no activation), 'same' padding."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        act: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False
        )
        self.bn: nn.Module = nn.BatchNorm2d(out_channels)
        self.act: nn.Module = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fold BN into the convolution (inference only: uses the running statistics)."""
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        k = self.conv.kernel_size
        weight, bias = fold_bn(self.conv.weight, self.conv.bias, self.bn)
        self.conv = _conv_with(self.conv, weight, bias, k)
        self.bn = nn.Identity()


class MultiKernelBlock(nn.Module):
    """Parallel 3x3, 1x3 and 3x1 convolutions (ACNet / MACU-Net), each batch-normalised, summed,
    normalised again and activated; optionally a dilated 3x3 branch widens the receptive field.

    The asymmetric branches strengthen the kernel's central cross during training and cost nothing
    at inference: ``reparameterize()`` adds them into the 3x3 kernel (the dilated branch stays a
    separate convolution, its BN folded).
    """

    def __init__(
        self, in_channels: int, out_channels: int, *, dilation: int = 0, act: bool = True
    ) -> None:
        super().__init__()
        self.square = ConvBNAct(in_channels, out_channels, 3, act=False)
        self.hor = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, (1, 3), padding=(0, 1), bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.ver = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, (3, 1), padding=(1, 0), bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.dilated: nn.Module | None = None
        if dilation > 1:
            self.dilated = nn.Sequential(
                nn.Conv2d(
                    in_channels,
                    out_channels,
                    3,
                    padding=dilation,
                    dilation=dilation,
                    bias=False,
                ),
                nn.BatchNorm2d(out_channels),
            )
        self.bn: nn.Module = nn.BatchNorm2d(out_channels)
        self.act: nn.Module = nn.ReLU(inplace=True) if act else nn.Identity()
        self.fused = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.square(x)
        if not self.fused:
            out = out + self.hor(x) + self.ver(x)
        if self.dilated is not None:
            out = out + self.dilated(x)
        return self.act(self.bn(out))

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Collapse the branches into one 3x3 conv (plus the dilated conv, if any), BN folded."""
        if self.fused:
            return
        post = self.bn
        w_sq, b_sq = fold_bn(self.square.conv.weight, None, self.square.bn)
        w_h, b_h = fold_bn(self.hor[0].weight, None, self.hor[1])
        w_v, b_v = fold_bn(self.ver[0].weight, None, self.ver[1])
        weight = w_sq + F.pad(w_h, [0, 0, 1, 1]) + F.pad(w_v, [1, 1, 0, 0])
        bias = b_sq + b_h + b_v
        weight, bias = fold_bn(weight, bias, post)
        self.square.conv = _conv_with(self.square.conv, weight, bias, (3, 3))
        self.square.bn = nn.Identity()
        if self.dilated is not None:
            # BN(a + d) = s*a + s*d + shift: the shift already sits in the square conv's bias.
            w_d, b_d = fold_bn(self.dilated[0].weight, None, self.dilated[1])
            scale = post.weight / torch.sqrt(post.running_var + post.eps)
            self.dilated = _conv_with(
                self.dilated[0], w_d * scale.reshape(-1, 1, 1, 1), b_d * scale, (3, 3)
            )
        del self.hor, self.ver
        self.bn = nn.Identity()
        self.fused = True


class AttentionGate(nn.Module):
    """Additive attention gate: ``alpha = sigmoid(psi(ReLU(W_x x + W_g g)))``, output ``x * alpha``.

    ``g`` is the decoder's gating signal, coarser than ``x``. ``W_g`` runs at g's own resolution
    and its output is resampled to x's size: resampling is linear with interpolation weights that
    sum to one, so this equals ``W_g(resample(g))`` at a fraction of the cost. Students use the
    cheap variant: fewer ``inter_channels`` and ``mode="nearest"``.
    """

    def __init__(
        self, x_channels: int, g_channels: int, inter_channels: int, *, mode: str = "bilinear"
    ) -> None:
        super().__init__()
        self.mode = mode
        self.theta = ConvBNAct(x_channels, inter_channels, 1, act=False)
        self.phi = ConvBNAct(g_channels, inter_channels, 1, act=False)
        self.psi = ConvBNAct(inter_channels, 1, 1, act=False)

    def coefficients(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        """The attention coefficients alpha, ``[N, 1, H, W]`` in [0, 1] at x's resolution."""
        g_proj = resize(self.phi(g), x, self.mode)
        return torch.sigmoid(self.psi(F.relu(self.theta(x) + g_proj)))

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return x * self.coefficients(x, g)


class ChannelAttention(nn.Module):
    """Channel attention (CBAM style): a shared bottleneck MLP on global average- and max-pooled
    descriptors, summed and squashed by a sigmoid, re-weights channels. Used by MACU-Net."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        mx = self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(avg + mx)
