"""StyleGAN-v1 pieces with the official ALAE conventions (``podgorskiy/ALAE``, ``net.py``/``lreq.py``).

Equalized learning rate is *explicit* here, as everywhere in ganedit: a stored weight is multiplied
at run time by ``gain * lr_mul / sqrt(fan_in)``. The official code uses the *implicit* variant
(stored weights are already the effective weights; the constant scales the optimizer step), so the
official checkpoint loader divides by that constant when importing (see ``checkpoint.py``). Both
give the same network and, with Adam, the same training dynamics.

Official gains: sqrt(2) by default, 1 for the generator's style affines, 0.03 for ToRGB; lr
multiplier 0.1 for the mapping network F and the latent discriminator D.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ganedit.nn import Blur, EqualConv2d, EqualLinear

SQRT2 = math.sqrt(2.0)
LRELU_SLOPE = 0.2


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """The official activation: leaky ReLU with slope 0.2 and no gain."""
    return F.leaky_relu(x, LRELU_SLOPE)


class _ContiguousGrad(torch.autograd.Function):
    """Identity whose backward hands on its gradient in the contiguous layout."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad.contiguous()


def instance_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``F.instance_norm`` (no affine), with a correct gradient for a batch of one in channels_last.

    In torch 2.14.1 on CPU, ``F.instance_norm``'s backward is wrong when its input is one image and
    the incoming gradient is channels_last (relative error 1.4 against float64; batches of 2 or more
    are right). A channels_last network inverting one image (``invert`` on CPU) produces exactly
    that gradient, so it is made contiguous before it reaches the norm. Forward values are untouched.
    """
    y = F.instance_norm(x, eps=eps)
    return _ContiguousGrad.apply(y) if x.shape[0] == 1 and torch.is_grad_enabled() else y


class GainLinear(EqualLinear):
    """:class:`ganedit.nn.EqualLinear` with a He gain: effective weight ``W * gain * lr_mul / sqrt(in)``.

    The effective bias is ``bias * lr_mul`` (explicit convention). No activation is fused: ALAE
    applies a plain leaky ReLU (without the sqrt(2) gain of StyleGAN2) where it wants one.
    """

    def __init__(self, in_dim: int, out_dim: int, gain: float = SQRT2, lr_mul: float = 1.0,
                 bias: bool = True):
        super().__init__(in_dim, out_dim, bias=bias, lr_mul=lr_mul, activation=None)
        self.gain = gain
        self.scale = gain * lr_mul / math.sqrt(in_dim)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gain={self.gain:g}"


def _fold_shifts(weight: torch.Tensor) -> torch.Tensor:
    """The official "fused scale" kernel: sum of the four 1-pixel shifts of the zero-padded kernel.

    A 3x3 kernel becomes 4x4; applied with stride 2 it equals resample + 3x3 conv (+ box filter).
    """
    w = F.pad(weight, (1, 1, 1, 1))
    return w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]


class GainConv2d(EqualConv2d):
    """:class:`ganedit.nn.EqualConv2d` with a He gain and the official fused resampling.

    ``resample=None``: stride 1, 'same' padding. ``'down'``: stride-2 conv with the shift-folded
    4x4 kernel times 0.25 (weight ``[out, in, k, k]``). ``'up'``: stride-2 transposed conv with the
    shift-folded kernel (no 0.25; weight in transposed layout ``[in, out, k, k]``, as stored by the
    official checkpoints). The fan-in is ``in * k * k`` in every case.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, gain: float = SQRT2,
                 bias: bool = True, resample: str | None = None):
        if resample not in (None, "up", "down"):
            raise ValueError(f"resample must be None, 'up' or 'down', got {resample!r}")
        super().__init__(in_channel, out_channel, kernel_size, stride=1 if resample is None else 2,
                         padding=kernel_size // 2, bias=bias)
        self.gain = gain
        self.scale = gain / math.sqrt(in_channel * kernel_size**2)
        self.resample = resample
        if resample == "up":
            self.weight = nn.Parameter(torch.randn(in_channel, out_channel, kernel_size, kernel_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resample is None:
            return super().forward(x)
        weight = _fold_shifts(self.weight * self.scale)
        if self.resample == "down":
            return F.conv2d(x, weight * 0.25, self.bias, stride=2, padding=1)
        return F.conv_transpose2d(x, weight, self.bias, stride=2, padding=1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, gain={self.gain:g}, resample={self.resample}"


def binomial_blur() -> Blur:
    """The official 3x3 ``[1, 2, 1]`` outer-product blur (sum 1), 'same' padding."""
    return Blur([1, 2, 1], pad=(1, 1))


def upscale2d(x: torch.Tensor, factor: int = 2) -> torch.Tensor:
    """Nearest-neighbour upsampling by repetition."""
    return x.repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)


def instance_stats(x: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """Per-channel spatial mean and standard deviation ``[B, 2C]`` (means first).

    The std is the biased one (mean squared deviation) with no epsilon, as in the official
    encoder; these are exactly the statistics an instance norm removes.
    """
    m = x.mean(dim=(2, 3), keepdim=True)
    std = ((x - m) ** 2).mean(dim=(2, 3), keepdim=True)
    std = torch.sqrt(std + eps) if eps else torch.sqrt(std)
    return torch.cat((m, std), dim=1).flatten(1)


def adain(x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """StyleGAN-v1 style modulation of an instance-normalised ``x``: ``x * (1 + s_scale) + s_bias``.

    ``style`` is ``[B, 2C]``: the first C entries are the scales, the last C the biases.
    """
    s = style.view(style.shape[0], 2, x.shape[1], 1, 1)
    return torch.addcmul(s[:, 1], x, s[:, 0] + 1)


def deterministic_noise(x: torch.Tensor, block_index: int) -> torch.Tensor:
    """The official ``noise=False`` path: ``x + s exp(-x^2 / 2s^2) / sqrt(2 pi) * 0.8``.

    ``s = sqrt(block_index + 1)``. The official generator adds this bump instead of nothing when
    noise is disabled, so reproducing its deterministic outputs needs it.
    """
    s = math.sqrt(block_index + 1)
    return x + s * torch.exp(-x * x / (2.0 * s * s)) / math.sqrt(2 * math.pi) * 0.8


class FromRGB(nn.Module):
    """1x1 conv (gain sqrt 2, bias) + leaky ReLU; the encoder applies a second leaky ReLU after it."""

    def __init__(self, channels: int, outputs: int):
        super().__init__()
        self.from_rgb = GainConv2d(channels, outputs, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrelu(self.from_rgb(x))


class ToRGB(nn.Module):
    """1x1 conv with gain 0.03 and bias, no activation."""

    def __init__(self, inputs: int, channels: int):
        super().__init__()
        self.to_rgb = GainConv2d(inputs, channels, 1, gain=0.03)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(x)
