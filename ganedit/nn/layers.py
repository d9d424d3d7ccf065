"""Equalized-learning-rate layers, modulated convolution and discriminator blocks (StyleGAN2).

Weights are stored at unit scale and multiplied by a constant at run time (equalized learning
rate). Parameter names follow the community layout (``weight``, ``bias``, ``modulation``,
``activate.bias``) so that checkpoints map onto these modules with few renames.
"""

from __future__ import annotations

import contextlib
import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganedit.nn.resample import Blur, upfirdn2d  # noqa: F401  (re-exported for plugins)

SQRT2 = math.sqrt(2.0)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None = None, slope: float = 0.2,
                     gain: float = SQRT2) -> torch.Tensor:
    """``leaky_relu(x + bias) * gain`` with the bias broadcast over channel dim 1.

    Computed as ``leaky_relu_(gain * x + gain * bias)`` (equal for ``gain > 0``): one pass for the
    scaled sum and an in-place activation, instead of three passes.
    """
    if bias is not None and gain > 0:
        shape = [1, -1] + [1] * (x.ndim - 2)
        return F.leaky_relu_(torch.add((bias * gain).view(shape).to(x.dtype), x, alpha=gain), slope)
    if bias is not None:
        shape = [1, -1] + [1] * (x.ndim - 2)
        x = x + bias.view(shape).to(x.dtype)
    return F.leaky_relu(x, slope) * gain


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU (slope 0.2) + sqrt(2) gain; the bias lives here, not in the conv."""

    def __init__(self, channels: int, slope: float = 0.2, gain: float = SQRT2):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))
        self.slope = slope
        self.gain = gain

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.slope, self.gain)


class PixelNorm(nn.Module):
    """Normalize each vector to unit root-mean-square over dim 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalized learning rate and an lr multiplier.

    Stored weight ~ N(0, 1) / lr_mul, run-time scale lr_mul / sqrt(in); effective bias = bias * lr_mul.
    With ``activation='fused_lrelu'`` the output is ``lrelu(xW + b) * sqrt(2)``.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.activation = activation
        self.scale = (1.0 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation:
            # lrelu(z + b) * g == lrelu(g z + g b) for g > 0: the gain and the bias go into the
            # matmul, the activation runs in place (one pass instead of three).
            bias = self.bias * (self.lr_mul * SQRT2) if self.bias is not None else None
            return F.leaky_relu_(F.linear(x, self.weight * (self.scale * SQRT2), bias), 0.2)
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}"


class EqualConv2d(nn.Module):
    """Conv2d with equalized learning rate (run-time scale 1/sqrt(in * k * k))."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size**2)
        self.stride = stride
        self.padding = padding
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride,
                        padding=self.padding)

    def forward_activated(self, x: torch.Tensor, act: "FusedLeakyReLU") -> torch.Tensor:
        """``act(self(x))`` in one convolution and one in-place activation: the activation's gain
        ``g > 0`` scales weight and bias (``lrelu(z + b) * g == lrelu(g z + g b)``)."""
        g = act.gain
        bias = act.bias * g if self.bias is None else (self.bias + act.bias) * g
        out = F.conv2d(x, self.weight * (self.scale * g), bias=bias.to(x.dtype), stride=self.stride,
                       padding=self.padding)
        return F.leaky_relu_(out, act.slope)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, {k}, stride={self.stride}, padding={self.padding}"


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution (style folded into the weight, optional demodulation).

    ``forward(x [B, in, H, W], style [B, style_dim]) -> [B, out, H', W']``. With ``upsample`` a
    stride-2 transposed convolution is followed by an FIR blur (2x resolution); with
    ``downsample`` an FIR blur precedes a stride-2 convolution.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, downsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.eps = 1e-8
        self.kernel_size = kernel_size
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.upsample = upsample
        self.downsample = downsample
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1),
                             upsample_factor=factor)
        if downsample:
            factor = 2
            p = (len(blur_kernel) - factor) + (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2, p // 2))
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)
        self.demodulate = demodulate

    def modulated_weight(self, style: torch.Tensor) -> torch.Tensor:
        """Per-sample weight ``[B, out, in, k, k]`` from the style vector (before any transpose)."""
        s = self.modulation(style)
        weight = self.scale * self.weight * s[:, None, :, None, None]
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)
            weight = weight * demod[:, :, None, None, None]
        return weight

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        # One image with a trained weight: the per-sample weight form is faster. With a frozen weight
        # (latent optimisation: only the style needs a gradient) the activation-side form is, since
        # its convolution needs no weight gradient (14.0 vs 16.7 ms per 64 px synthesis forward +
        # backward, docs/benchmarks.md).
        if b > 1 or (torch.is_grad_enabled() and not self.weight.requires_grad):
            return self._forward_batched(x, style)
        k = self.kernel_size
        weight = self.modulated_weight(style)
        if self.upsample:
            x = x.reshape(1, b * c, h, w)
            weight = weight.transpose(1, 2).reshape(b * c, self.out_channel, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=b)
            out = out.reshape(b, self.out_channel, out.shape[-2], out.shape[-1])
            return self.blur(out)
        weight = weight.reshape(b * self.out_channel, c, k, k)
        if self.downsample:
            x = self.blur(x)
            x = x.reshape(1, b * c, x.shape[-2], x.shape[-1])
            out = F.conv2d(x, weight, padding=0, stride=2, groups=b)
        else:
            x = x.reshape(1, b * c, h, w)
            out = F.conv2d(x, weight, padding=self.padding, groups=b)
        return out.reshape(b, self.out_channel, out.shape[-2], out.shape[-1])

    def _forward_batched(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The same layer with the style on the activations (NVIDIA's ``fused_modconv=False``).

        ``conv(x * s, W) * d`` equals the grouped convolution with per-sample weights ``W * s``
        (demodulated by ``d``) up to float rounding, but runs one convolution over the whole batch
        with one shared weight: several times faster on CPU for batches > 1, above all the weight
        gradient. ``d = rsqrt(s^2 @ sum_k W^2 + eps)`` needs no per-sample weight tensor.
        """
        b = x.shape[0]
        s = self.modulation(style).float()  # styles and demodulation stay float32 under autocast
        weight = self.scale * self.weight[0]
        x = x * s.reshape(b, -1, 1, 1).to(x.dtype)
        if self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1).to(x.dtype), stride=2, padding=0)
        elif self.downsample:
            out = F.conv2d(self.blur(x), weight.to(x.dtype), stride=2, padding=0)
        else:
            out = F.conv2d(x, weight.to(x.dtype), padding=self.padding)
        if self.demodulate:
            with _no_autocast(x):
                demod = torch.rsqrt(s.square() @ weight.float().square().sum([2, 3]).t() + 1e-8)
            out = out * demod.reshape(b, -1, 1, 1).to(out.dtype)
        if self.upsample:
            out = self.blur(out)
        return out

    def extra_repr(self) -> str:
        return (f"{self.in_channel}, {self.out_channel}, {self.kernel_size}, "
                f"upsample={self.upsample}, downsample={self.downsample}, demodulate={self.demodulate}")


def _no_autocast(x: torch.Tensor) -> "contextlib.AbstractContextManager":
    """Autocast off for the block when it is on (float32 statistics inside a half-precision run)."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.autocast(x.device.type, enabled=False)
    return contextlib.nullcontext()


class NoiseInjection(nn.Module):
    """Add a single-channel noise map scaled by a learned strength (``weight``, shape [1])."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        if noise is None:
            b, _, h, w = image.shape
            noise = image.new_empty(b, 1, h, w).normal_()
        # In the image's dtype: a float32 strength would promote a half-precision (autocast)
        # activation to float32 for the rest of the network.
        return image + self.weight.to(image.dtype) * noise.to(image.dtype)


class ConstantInput(nn.Module):
    """Learned constant ``[1, C, size, size]`` tiled over the batch."""

    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.repeat(batch, 1, 1, 1)


class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> [FusedLeakyReLU]; with ``downsample`` the conv has stride 2.

    Indexing matches the community layout (``0.weight``, ``1.bias`` / ``0.kernel``, ``1.weight``,
    ``2.bias``), so checkpoints load without renaming.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), bias: bool = True, activate: bool = True,
                 padding: str | int = "zero"):
        layers: list[nn.Module] = []
        if downsample:
            factor = 2
            p = (len(blur_kernel) - factor) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, pad = 2, 0
        else:
            stride = 1
            pad = kernel_size // 2 if padding == "zero" else (0 if padding in ("valid", "reflect") else int(padding))
            if padding == "reflect" and kernel_size > 1:
                layers.append(nn.ReflectionPad2d(kernel_size // 2))
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, padding=pad, stride=stride,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel) if bias else _ScaledLeakyReLU())
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_sequence(self, x)


def conv_sequence(layers: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """Run a conv ``Sequential``, fusing each ``EqualConv2d -> FusedLeakyReLU`` pair (see
    :meth:`EqualConv2d.forward_activated`); other children (blur, padding, clamps) run as they are."""
    mods = list(layers._modules.values())
    i = 0
    while i < len(mods):
        m = mods[i]
        nxt = mods[i + 1] if i + 1 < len(mods) else None
        if type(m) is EqualConv2d and type(nxt) is FusedLeakyReLU and not (m._forward_hooks or nxt._forward_hooks
                                                                          or nxt._forward_pre_hooks):
            x = m.forward_activated(x, nxt)
            i += 2
        else:
            x = m(x)
            i += 1
    return x


class _ScaledLeakyReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, None)


class ResBlock(nn.Module):
    """Residual downsampling block of the StyleGAN2 discriminator: (main + skip) / sqrt(2)."""

    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[float] = (1, 3, 3, 1),
                 downsample: bool = True):
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=downsample, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=downsample, blur_kernel=blur_kernel,
                              activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return (out + self.skip(x)) / SQRT2


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_features: int = 1) -> torch.Tensor:
    """Append minibatch standard-deviation channels (strided groups, biased variance).

    Sample ``b`` gets the statistic of sub-batch ``b mod (B / G)``, ``G = min(B, group_size)``.
    """
    b, c, h, w = x.shape
    g = min(b, group_size)
    if b % g != 0:
        raise ValueError(f"minibatch stddev: batch size {b} is not divisible by group size {g}")
    y = x.reshape(g, -1, num_features, c // num_features, h, w)
    y = torch.sqrt(y.var(0, unbiased=False) + 1e-8)
    y = y.mean([2, 3, 4], keepdim=True).squeeze(2)  # [B/G, F, 1, 1]
    y = y.repeat(g, 1, h, w)
    return torch.cat([x, y], 1)
