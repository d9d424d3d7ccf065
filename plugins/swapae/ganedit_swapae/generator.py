"""SwapAE generator G: (structure code, texture code) -> image.

The texture code modulates every layer; it may be a vector ``[B, D]`` or a spatial texture map
``[B, D, h, w]`` (one code per pixel, resized bilinearly to each layer), for any batch size.
Module names follow the official ``StyleGAN2ResnetGenerator``.

Noise: each styled convolution adds ``strength * noise`` before its activation. ``noise_mode``
``'const'`` uses the layer's fixed noise (drawn once from ``noise_seed`` at the nominal
resolution, or set with :meth:`SwapAEGenerator.set_fixed_noise`; resized with nearest neighbour
for other sizes, as the official ``fix_noise``), ``'random'`` draws fresh noise, ``'none'`` adds
none.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

import ganedit
from ganedit.interfaces import NoiseMode, check_latent
from ganedit.nn import ConvLayer, FusedLeakyReLU, NoiseInjection

from ganedit_swapae.arch import GeneratorArch
from ganedit_swapae.encoder import l2_normalize
from ganedit_swapae.formats import SwapAEPart
from ganedit_swapae.layers import ActivationModulatedConv2d, StyleAffine

SQRT2 = math.sqrt(2.0)


class StyledConv(nn.Module):
    """Activation-modulated conv + noise + bias/leaky ReLU (official ``StyledConv`` layout)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1), use_noise: bool = True):
        super().__init__()
        self.conv = ActivationModulatedConv2d(in_channel, out_channel, kernel_size, style_dim,
                                              upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)
        self.use_noise = use_noise
        self.register_buffer("fixed_noise", None)

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise_mode: NoiseMode = "const",
                noise: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style)
        if self.use_noise and noise_mode != "none":
            if noise is None and noise_mode == "const":
                noise = self.fixed_noise
            if noise is not None and noise.shape[0] not in (1, out.shape[0]):
                noise = noise[:1]  # a per-sample fixed noise of another batch size: share the first
            if noise is not None and tuple(noise.shape[-2:]) != tuple(out.shape[-2:]):
                noise = F.interpolate(noise, size=out.shape[-2:], mode="nearest")
            out = self.noise(out, None if noise is None else noise.to(device=out.device, dtype=out.dtype))
        return self.activate(out)


class HeadResBlock(nn.Module):
    """Resolution-preserving residual block; 1x1 skip (no bias/activation) when widths differ."""

    def __init__(self, in_channel: int, out_channel: int, style_dim: int):
        super().__init__()
        self.conv1 = StyledConv(in_channel, out_channel, 3, style_dim)
        self.conv2 = StyledConv(out_channel, out_channel, 3, style_dim)
        self.skip = (ConvLayer(in_channel, out_channel, 1, activate=False, bias=False)
                     if in_channel != out_channel else nn.Identity())

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise_mode: NoiseMode = "const",
                noise: Sequence[torch.Tensor | None] = (None, None)) -> torch.Tensor:
        res = self.conv2(self.conv1(x, style, noise_mode, noise[0]), style, noise_mode, noise[1])
        return (self.skip(x) + res) / SQRT2


class UpResBlock(nn.Module):
    """Upsampling residual block; skip = [1x1 conv + activation] then bilinear x2."""

    def __init__(self, in_channel: int, out_channel: int, style_dim: int,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), use_noise: bool = True):
        super().__init__()
        self.conv1 = StyledConv(in_channel, out_channel, 3, style_dim, upsample=True, blur_kernel=blur_kernel,
                                use_noise=use_noise)
        self.conv2 = StyledConv(out_channel, out_channel, 3, style_dim, use_noise=use_noise)
        self.skip = ConvLayer(in_channel, out_channel, 1) if in_channel != out_channel else nn.Identity()

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise_mode: NoiseMode = "const",
                noise: Sequence[torch.Tensor | None] = (None, None)) -> torch.Tensor:
        skip = F.interpolate(self.skip(x), scale_factor=2, mode="bilinear", align_corners=False)
        res = self.conv2(self.conv1(x, style, noise_mode, noise[0]), style, noise_mode, noise[1])
        return (skip + res) / SQRT2


class ToRGB(nn.Module):
    """Modulated 1x1 conv without demodulation, plus a bias (no upsampled skip)."""

    def __init__(self, in_channel: int, style_dim: int):
        super().__init__()
        self.conv = ActivationModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        return self.conv(x, style) + self.bias


class SwapAEGenerator(SwapAEPart, ganedit.Generator, name="swapae", part="generator"):
    """Swapping Autoencoder generator G: structure code + texture code (vector or map) -> image.

    The structure code is the spatial input, the texture code (a vector or a spatial map)
    modulates every layer; output side = structure side x ``2^len(up_channels)``."""

    def __init__(self, arch: GeneratorArch, noise_seed: int = 0):
        super().__init__()
        self.arch = arch
        self.img_resolution = arch.resolution
        d = arch.global_code_ch
        self.SpatialCodeModulation = StyleAffine(d, arch.spatial_code_ch)
        self.head_names: list[str] = []
        self.up_names: list[str] = []
        ch = arch.spatial_code_ch
        for i, out in enumerate(arch.head_channels):
            name = f"HeadResnetBlock{i}"
            self.add_module(name, HeadResBlock(ch, out, d))
            self.head_names.append(name)
            ch = out
        for j, out in enumerate(arch.up_channels):
            name = f"UpsamplingResBlock{2 ** (4 + j)}"
            self.add_module(name, UpResBlock(ch, out, d, arch.blur_kernel, arch.use_noise))
            self.up_names.append(name)
            ch = out
        self.ToRGB = ToRGB(ch, d)
        self.noise_seed = noise_seed
        self.reset_fixed_noise(noise_seed)

    # ------------------------------------------------------------------ component API
    @classmethod
    def latent_spaces(cls, params: Any = None) -> tuple[str, ...]:
        return ("structure_texture",)

    def generate(self, latent: ganedit.Latent, noise_mode: NoiseMode = "const") -> torch.Tensor:
        check_latent(latent, self.latent_spaces(), type(self).__name__)
        return self(latent.structure, latent.texture, noise_mode=noise_mode)

    # ------------------------------------------------------------------ noise
    def styled_convs(self) -> Iterator[tuple[str, StyledConv]]:
        """``(name, layer)`` of every styled conv in forward order, e.g. ``HeadResnetBlock0.conv1``."""
        for name in self.head_names + self.up_names:
            block = getattr(self, name)
            yield f"{name}.conv1", block.conv1
            yield f"{name}.conv2", block.conv2

    def noise_layers(self) -> list[str]:
        """Names of the styled convs that inject noise (keys for :meth:`set_fixed_noise`)."""
        return [n for n, m in self.styled_convs() if m.use_noise]

    def noise_shapes(self, structure_size: Sequence[int] | None = None) -> dict[str, tuple[int, int, int, int]]:
        """Noise shape ``[1, 1, h, w]`` of each noise layer for a structure code of ``structure_size``."""
        h, w = structure_size or (self.arch.structure_size, self.arch.structure_size)
        shapes = {}
        for name, m in self.styled_convs():
            if name.startswith("UpsamplingResBlock") and name.endswith("conv1"):
                h, w = h * 2, w * 2
            if m.use_noise:
                shapes[name] = (1, 1, h, w)
        return shapes

    def reset_fixed_noise(self, seed: int = 0) -> None:
        """Draw the ``'const'`` noise of every layer at the nominal resolution from ``seed``."""
        gen = torch.Generator().manual_seed(int(seed))
        self.set_fixed_noise({n: torch.randn(s, generator=gen) for n, s in self.noise_shapes().items()})

    def set_fixed_noise(self, noise: Mapping[str, torch.Tensor]) -> None:
        """Set the ``'const'`` noise per layer: keys from :meth:`noise_layers` (a trailing
        ``.noise`` or ``.fixed_noise`` is accepted); tensors ``[1 or B, 1, h, w]``."""
        layers = dict(self.styled_convs())
        for key, value in noise.items():
            name = key
            for suffix in (".noise.fixed_noise", ".fixed_noise", ".noise"):
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
                    break
            if name not in layers:
                raise KeyError(f"no noise layer {key!r}; layers: {', '.join(self.noise_layers())}")
            if value.ndim != 4 or value.shape[1] != 1:
                raise ValueError(f"fixed noise {key!r} must be [N, 1, h, w], got {tuple(value.shape)}")
            ref = self.ToRGB.bias
            layers[name].fixed_noise = value.detach().to(device=ref.device, dtype=ref.dtype).clone()

    def fixed_noise(self) -> dict[str, torch.Tensor]:
        """The current ``'const'`` noise of every noise layer."""
        return {n: m.fixed_noise for n, m in self.styled_convs() if m.fixed_noise is not None}

    # ------------------------------------------------------------------ forward
    def forward(self, structure: torch.Tensor, texture: torch.Tensor, noise_mode: NoiseMode = "const",
                noise: Mapping[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Images ``[B, 3, H, W]`` from ``structure [B, C, h, w]`` and ``texture [B|1, D]`` or a
        texture map ``[B|1, D, h', w']``; ``noise`` optionally overrides per-layer noise tensors."""
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        if structure.ndim != 4:
            raise ValueError(f"structure code must be [B, C, h, w], got {tuple(structure.shape)}")
        if texture.ndim not in (2, 4):
            raise ValueError(f"texture code must be [B, D] or [B, D, h, w], got {tuple(texture.shape)}")
        if texture.shape[1] != self.arch.global_code_ch or structure.shape[1] != self.arch.spatial_code_ch:
            raise ValueError(f"codes of {structure.shape[1]}/{texture.shape[1]} channels, generator expects "
                             f"{self.arch.spatial_code_ch}/{self.arch.global_code_ch}")
        b = structure.shape[0]
        if texture.shape[0] != b:
            if texture.shape[0] != 1:
                raise ValueError(f"batch sizes differ: structure {b}, texture {texture.shape[0]}")
            texture = texture.expand(b, *texture.shape[1:])
        structure = l2_normalize(structure)
        texture = l2_normalize(texture)
        noise = dict(noise or {})
        x = self.SpatialCodeModulation(structure, texture)
        for name in self.head_names + self.up_names:
            block_noise = (noise.get(f"{name}.conv1"), noise.get(f"{name}.conv2"))
            x = getattr(self, name)(x, texture, noise_mode, block_noise)
        return self.ToRGB(x, texture)
