"""Building blocks shared by the teacher, the students and the baselines.

Every block with BatchNorm can *re-parameterize* itself for inference (``reparameterize()``): BN is
folded into the preceding convolution (torch's ``fuse_conv_bn_eval``) and the 1x3 / 3x1 branches
of :class:`MultiKernelBlock` are added into its 3x3 kernel, so a deployed block is a single dense
convolution (cheap, and it quantizes well to INT8). :func:`segcompress.models.fuse` calls
``reparameterize()`` on every block.

Attention gates (Oktay et al., 2018, "Attention U-Net") expose their coefficients through
``coefficients(x, g)`` (shape ``[N, 1, H, W]``, values in [0, 1]) so models can return them as
features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_conv_bn_weights

__all__ = [
    "UPSAMPLE_MODES",
    "AttentionGate",
    "ChannelAttention",
    "ConvBNAct",
    "MultiKernelBlock",
    "resize",
]

# Upsampling modes a model may use between scales.
UPSAMPLE_MODES = ("bilinear", "nearest")


def resize(x: torch.Tensor, like: torch.Tensor, mode: str) -> torch.Tensor:
    """Resample ``x`` to ``like``'s height and width.

    When both sizes are known numbers (eager mode, or export at a fixed size) and ``like``'s are
    a whole multiple of ``x``'s, as at every level of an input padded to the model's size
    divisor, it upsamples by that factor: the same values, but exported as a ``Resize`` with
    constant scales. A target size needs ``Shape`` of the dynamic-batch input, and in INT8
    graphs ONNX Runtime then transposed and dequantized each whole map only to read its shape
    (BENCHMARKS.md, "Which runtime and settings?"). With dynamic height and width the sizes are
    symbolic and the target size is used, so that no equality between two symbolic sizes has
    to be proven.
    """
    (h, w), size = x.shape[-2:], like.shape[-2:]
    align = False if mode == "bilinear" else None
    if all(isinstance(v, int) for v in (h, w, *size)):
        factor = size[0] // h
        if tuple(size) == (h * factor, w * factor):
            if factor == 1:
                return x
            return F.interpolate(x, scale_factor=float(factor), mode=mode, align_corners=align)
    return F.interpolate(x, size=size, mode=mode, align_corners=align)


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
        """Fold BN into the convolution (eval mode only: uses the running statistics)."""
        if not isinstance(self.bn, nn.BatchNorm2d):
            return
        self.conv = fuse_conv_bn_eval(self.conv, self.bn)
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
        """Collapse the branches into one 3x3 conv (plus the dilated conv, if any), BN folded.

        torch folds each Conv-BN pair; adding the branches and the shared BN after the sum are
        this block's own structure, which torch knows nothing of.
        """
        if self.fused:
            return
        post = self.bn
        square = fuse_conv_bn_eval(self.square.conv, self.square.bn)
        hor = fuse_conv_bn_eval(self.hor[0], self.hor[1])
        ver = fuse_conv_bn_eval(self.ver[0], self.ver[1])
        # A 1x3 (3x1) kernel is a 3x3 one with zero top and bottom rows (left and right columns).
        square.weight += F.pad(hor.weight, [0, 0, 1, 1]) + F.pad(ver.weight, [1, 1, 0, 0])
        square.bias += hor.bias + ver.bias
        self.square.conv = fuse_conv_bn_eval(square, post)
        self.square.bn = nn.Identity()
        if self.dilated is not None:
            dilated = fuse_conv_bn_eval(self.dilated[0], self.dilated[1])
            # BN(a + d) = s*a + s*d + shift: the shift already sits in the square conv's bias, so
            # the dilated conv takes the scale s only (the BN without its mean and bias).
            dilated.weight, dilated.bias = fuse_conv_bn_weights(
                dilated.weight,
                dilated.bias,
                torch.zeros_like(post.running_mean),
                post.running_var,
                post.eps,
                post.weight,
                None,
            )
            self.dilated = dilated
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
