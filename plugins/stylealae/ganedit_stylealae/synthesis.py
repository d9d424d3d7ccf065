"""The StyleALAE generator G: StyleGAN-v1 blocks with progressive growing (official ``GeneratorDefault``).

Noise modes of :meth:`ALAEDecoder.forward`:

* ``'random'``: a fresh single-channel N(0, 1) image per noise site, drawn in the official order
  (two per block, block by block) and shapes: block 0's first draw is ``[1, 1, 4, 4]`` shared by
  the batch (its input is the un-batched learned constant), every later draw ``[B, 1, H, W]``.
  With ``generator=None`` the draws use the global CPU RNG like the official code, so
  ``torch.manual_seed(s)`` before a call reproduces an official ``noise=True`` call seeded the same
  way. Explicit ``noise`` tensors (same order) may be given instead.
* ``'const'``: the official deterministic ``noise=False`` path, which is **not** zero noise: each
  noise site adds the bump of :func:`~ganedit_stylealae.layers.deterministic_noise`.
* ``'none'``: nothing is added at the noise sites (not an official mode; the bump is skipped too).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganedit_stylealae.arch import ALAEArch
from ganedit_stylealae.layers import (
    GainConv2d,
    GainLinear,
    ToRGB,
    adain,
    binomial_blur,
    deterministic_noise,
    instance_norm,
    lrelu,
    upscale2d,
)

NOISE_MODES = ("const", "random", "none")


class NoiseSource:
    """Hands out the noise images of one synthesis call, in draw order.

    Explicit ``noise`` tensors take precedence over ``mode`` (they are injected as random noise).
    """

    def __init__(self, mode: str, noise: Sequence[torch.Tensor] | None = None,
                 generator: torch.Generator | None = None):
        if mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {mode!r}")
        self.mode = mode
        self.noise = list(noise) if noise is not None else None
        self.generator = generator
        self.index = 0

    def apply(self, x: torch.Tensor, weight: torch.Tensor, block_index: int) -> torch.Tensor:
        if self.noise is not None:
            if self.index >= len(self.noise):
                raise ValueError(f"explicit noise has {len(self.noise)} tensors; more noise sites need it")
            n = self.noise[self.index].to(x.device, x.dtype)
            self.index += 1
            return torch.addcmul(x, weight, n)
        if self.mode == "const":
            return deterministic_noise(x, block_index)
        if self.mode == "none":
            return x
        shape = (x.shape[0], 1, x.shape[2], x.shape[3])
        if self.generator is None:
            n = torch.randn(shape)  # global CPU RNG, as the official code
        else:
            n = torch.randn(shape, generator=self.generator, device=self.generator.device)
        self.index += 1
        return torch.addcmul(x, weight, n.to(x.device, x.dtype))


class DecodeBlock(nn.Module):
    """[upsample + conv + blur] -> noise -> bias -> lrelu -> IN -> AdaIN -> conv -> noise -> bias
    -> lrelu -> IN -> AdaIN. Block 0 has no first conv (its input is the learned constant)."""

    def __init__(self, inputs: int, outputs: int, latent_size: int, has_first_conv: bool,
                 fused_scale: bool, layer: int):
        super().__init__()
        self.has_first_conv = has_first_conv
        self.fused_scale = fused_scale
        self.layer = layer
        if has_first_conv:
            self.conv_1 = GainConv2d(inputs, outputs, 3, bias=False, resample="up" if fused_scale else None)
        self.blur = binomial_blur()
        self.noise_weight_1 = nn.Parameter(torch.zeros(1, outputs, 1, 1))
        self.bias_1 = nn.Parameter(torch.zeros(1, outputs, 1, 1))
        self.style_1 = GainLinear(latent_size, 2 * outputs, gain=1.0)
        self.conv_2 = GainConv2d(outputs, outputs, 3, bias=False)
        self.noise_weight_2 = nn.Parameter(torch.zeros(1, outputs, 1, 1))
        self.bias_2 = nn.Parameter(torch.zeros(1, outputs, 1, 1))
        self.style_2 = GainLinear(latent_size, 2 * outputs, gain=1.0)

    def forward(self, x: torch.Tensor, w1: torch.Tensor, w2: torch.Tensor, noise: NoiseSource) -> torch.Tensor:
        if self.has_first_conv:
            if not self.fused_scale:
                x = upscale2d(x)
            x = self.blur(self.conv_1(x))
        x = noise.apply(x, self.noise_weight_1, self.layer)
        x = instance_norm(lrelu(x + self.bias_1), eps=1e-8)
        x = adain(x, self.style_1(w1))
        x = self.conv_2(x)
        x = noise.apply(x, self.noise_weight_2, self.layer)
        x = instance_norm(lrelu(x + self.bias_2), eps=1e-8)
        return adain(x, self.style_2(w2))


class ALAEDecoder(nn.Module):
    """G: learned constant (ones) and ``layer_count`` blocks from 4x4; one ToRGB per LOD.

    Style slot ``2k`` drives the AdaIN after block k's first conv, slot ``2k + 1`` the second one.
    """

    def __init__(self, arch: ALAEArch):
        super().__init__()
        self.arch = arch
        c0 = arch.decoder_channels(0)
        self.const = nn.Parameter(torch.ones(1, c0, 4, 4))
        blocks, to_rgb = [], []
        inputs = c0
        for k in range(arch.layer_count):
            outputs = arch.decoder_channels(k)
            blocks.append(DecodeBlock(inputs, outputs, arch.latent_size, k != 0, arch.decoder_fused(k), k))
            to_rgb.append(ToRGB(outputs, arch.channels))
            inputs = outputs
        self.decode_block = nn.ModuleList(blocks)
        self.to_rgb = nn.ModuleList(to_rgb)

    def forward(self, styles: torch.Tensor, lod: int | None = None, blend: float = 1.0,
                noise_mode: str = "const", noise: Sequence[torch.Tensor] | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """Images at LOD ``lod`` (resolution ``4 * 2**lod``) from styles ``[B, num_ws, latent]``.

        ``blend < 1`` fades in block ``lod``: the previous LOD's RGB, nearest-upsampled, is lerped
        with the new one (official ``decode2``).
        """
        lod = self.arch.check_lod(lod)
        if styles.ndim != 3 or styles.shape[1] < 2 * (lod + 1) or styles.shape[2] != self.arch.latent_size:
            raise ValueError(f"styles must be [B, >= {2 * (lod + 1)}, {self.arch.latent_size}], "
                             f"got {tuple(styles.shape)}")
        if blend != 1 and lod == 0:
            raise ValueError("fade-in (blend < 1) needs lod >= 1")
        src = NoiseSource(noise_mode, noise, generator)
        x = self.const
        last = lod if blend == 1 else lod - 1
        for k in range(last + 1):
            x = self.decode_block[k](x, styles[:, 2 * k], styles[:, 2 * k + 1], src)
        if blend == 1:
            return self.to_rgb[lod](x)
        x_prev = self.to_rgb[lod - 1](x)
        x = self.decode_block[lod](x, styles[:, 2 * lod], styles[:, 2 * lod + 1], src)
        x = self.to_rgb[lod](x)
        x_prev = F.interpolate(x_prev, size=self.arch.lod_resolution(lod))
        return torch.lerp(x_prev, x, blend)
