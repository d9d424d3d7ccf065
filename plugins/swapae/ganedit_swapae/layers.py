"""Swapping Autoencoder variants of the shared StyleGAN2 blocks (used by this plugin and by TCP,
which builds on it; the core keeps only blocks every plugin shares).

Two things differ from :mod:`ganedit.nn.layers` in the official Swapping Autoencoder code
(Park et al. 2020) and are needed to load its weights faithfully:

* the encoder pads with reflection (both the 3x3 convolutions and the FIR blur before a strided
  convolution), and its texture branch uses strided convolutions with an explicit padding of 0;
* the modulated convolution scales the *activations* by the style (normalised to unit RMS over
  channels when demodulating) and normalises the *weight* per output channel, instead of folding
  the style into the weight. Because the style acts on activations, a spatial style map
  ``[B, D, H, W]`` (one style per pixel) is handled exactly, for any batch size.

Everything is assembled from the shared pieces (:class:`~ganedit.nn.layers.EqualConv2d`,
:class:`~ganedit.nn.layers.FusedLeakyReLU`, :class:`~ganedit.nn.resample.Blur`,
:class:`~ganedit.nn.layers.ModulatedConv2d`); child indices follow :class:`ConvLayer`.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganedit.nn.layers import (SQRT2, EqualConv2d, EqualLinear, FusedLeakyReLU, ModulatedConv2d,
                               _ScaledLeakyReLU, conv_sequence)
from ganedit.nn.resample import Blur, upfirdn2d


def linear_over_channels(linear: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a linear layer to ``[B, D]`` vectors or, per pixel, to ``[B, D, H, W]`` maps."""
    if x.ndim == 2:
        return linear(x)
    return linear(x.movedim(1, -1)).movedim(-1, 1)


class ReflectionBlur(Blur):
    """FIR blur whose border padding reflects the input instead of adding zeros."""

    def __init__(self, kernel: Sequence[float], pad: Sequence[int]):
        super().__init__(kernel, pad=(0, 0))
        self.reflect_pad = (int(pad[0]), int(pad[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p0, p1 = self.reflect_pad
        if p0 or p1:
            x = F.pad(x, (p0, p1, p0, p1), mode="reflect")
        return upfirdn2d(x, self.kernel, pad=(0, 0))


class ReflectConvLayer(nn.Sequential):
    """:class:`~ganedit.nn.layers.ConvLayer` with an explicit ``pad`` and optional reflection padding.

    Children, in order: ``[Blur | ReflectionPad2d]``, ``EqualConv2d``, ``[FusedLeakyReLU]``.
    With ``downsample`` the blur pads by ``pad`` in total (default ``len(blur) - 2 + k - 1``) and the
    convolution has stride 2 and no padding; otherwise the convolution pads by ``pad``
    (default ``k // 2``), by reflection when ``reflection_pad``.
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), bias: bool = True, activate: bool = True,
                 pad: int | None = None, reflection_pad: bool = False):
        layers: list[nn.Module] = []
        if downsample:
            total = (len(blur_kernel) - 2) + (kernel_size - 1) if pad is None else pad
            blur_pad = ((total + 1) // 2, total // 2)
            layers.append(ReflectionBlur(blur_kernel, blur_pad) if reflection_pad
                          else Blur(blur_kernel, pad=blur_pad))
            stride, conv_pad = 2, 0
        else:
            stride = 1
            conv_pad = kernel_size // 2 if pad is None else pad
            if reflection_pad and conv_pad > 0:
                layers.append(nn.ReflectionPad2d(conv_pad))
                conv_pad = 0
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, stride=stride, padding=conv_pad,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel) if bias else _ScaledLeakyReLU())
        super().__init__(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv_sequence(self, x)


class ReflectResBlock(nn.Module):
    """Downsampling residual block of the SwapAE encoder: reflection-padded main path.

    ``conv1`` is a 3x3 conv ``in -> in``, ``conv2`` a blurred stride-2 3x3 conv ``in -> out``
    (both reflection padded); the skip is a blurred stride-2 1x1 conv without bias or activation
    (zero padded, as in the official code). Output ``(main + skip) / sqrt(2)``.
    """

    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[float] = (1, 2, 1),
                 reflection_pad: bool = True, downsample: bool = True):
        super().__init__()
        self.conv1 = ReflectConvLayer(in_channel, in_channel, 3, reflection_pad=reflection_pad)
        self.conv2 = ReflectConvLayer(in_channel, out_channel, 3, downsample=downsample,
                                      blur_kernel=blur_kernel, reflection_pad=reflection_pad)
        self.skip = ReflectConvLayer(in_channel, out_channel, 1, downsample=downsample, blur_kernel=blur_kernel,
                                     activate=False, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


def resize_style_map(style: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinearly resize a style map to ``size`` (align_corners=False); a no-op at equal size."""
    if tuple(style.shape[-2:]) == tuple(size):
        return style
    return F.interpolate(style, size=tuple(size), mode="bilinear", align_corners=False)


class ActivationModulatedConv2d(ModulatedConv2d):
    """Modulated convolution with the style applied to the input activations (SwapAE form).

    ``style`` is ``[B, D]`` or a spatial map ``[B, D, h, w]``. The ``modulation`` linear layer maps
    it to per-channel input scales; with ``demodulate`` those scales are normalised to unit RMS over
    channels (per pixel for maps) and the weight to unit L2 norm per output channel. Parameter
    names and up/down-sampling match :class:`~ganedit.nn.layers.ModulatedConv2d`.
    """

    def input_scales(self, style: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
        """Per-channel input scales ``[B, in, 1, 1]`` (vector style) or ``[B, in, H, W]`` (map)."""
        if style.ndim == 2:
            s = self.modulation(style)[:, :, None, None].float()  # float32 under autocast too
        elif style.ndim == 4:
            # The per-pixel affine map commutes with bilinear resizing (its weights sum to 1), so
            # modulating at the map's own resolution first is exact and far cheaper than resizing
            # a D-channel map up to every layer's resolution.
            s = resize_style_map(linear_over_channels(self.modulation, style).float(), size)
        else:
            raise ValueError(f"style must be [B, D] or [B, D, H, W], got shape {tuple(style.shape)}")
        if self.demodulate:
            s = s * torch.rsqrt(s.pow(2).mean(1, keepdim=True) + 1e-8)
        return s

    def normalized_weight(self) -> torch.Tensor:
        """The shared ``[out, in, k, k]`` weight, unit L2 norm per output channel when demodulating."""
        weight = self.scale * self.weight[0]
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum([1, 2, 3], keepdim=True) + 1e-8)
        return weight

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        x = x * self.input_scales(style, x.shape[-2:]).to(x.dtype)
        weight = self.normalized_weight()
        if self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2, padding=0)
            return self.blur(out)
        if self.downsample:
            return F.conv2d(self.blur(x), weight, stride=2, padding=0)
        return F.conv2d(x, weight, padding=self.padding)


class StyleAffine(nn.Module):
    """``x * A(style) + B(style)`` with equalized linears ``scale`` (A) and ``bias`` (B).

    The SwapAE generator applies this to the structure code; ``style`` may be a vector ``[B, D]``
    or a spatial map ``[B, D, h, w]`` (resized bilinearly to ``x``).
    """

    def __init__(self, style_dim: int, channels: int):
        super().__init__()
        self.scale = EqualLinear(style_dim, channels)
        self.bias = EqualLinear(style_dim, channels)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        if style.ndim == 2:
            return x * self.scale(style)[:, :, None, None] + self.bias(style)[:, :, None, None]
        size = x.shape[-2:]
        a = resize_style_map(linear_over_channels(self.scale, style), size)
        b = resize_style_map(linear_over_channels(self.bias, style), size)
        return x * a + b


__all__ = [
    "ActivationModulatedConv2d",
    "ReflectConvLayer",
    "ReflectResBlock",
    "ReflectionBlur",
    "StyleAffine",
    "linear_over_channels",
    "resize_style_map",
]
