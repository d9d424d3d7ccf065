"""The StyleALAE encoder E (official ``EncoderDefault``): w is a sum of mapped instance statistics.

Every block takes, twice, the per-channel mean and std of its (pre-normalisation) activations,
maps each with a learned affine layer C (``style_1``/``style_2``) to the latent size and then
instance-normalises. ``w = sum_i C_i [mu(y_i); sigma(y_i)]`` over all blocks, mirroring G's AdaIN.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ganedit_stylealae.arch import ALAEArch
from ganedit_stylealae.layers import (
    FromRGB,
    GainConv2d,
    GainLinear,
    binomial_blur,
    instance_norm,
    instance_stats,
    lrelu,
)


@dataclass
class BlockStatistics:
    """What one encoder block contributes: its two statistics vectors and their mapped terms."""

    stats_1: torch.Tensor  # [B, 2 * C_in]
    stats_2: torch.Tensor  # [B, 2 * C_out]
    term: torch.Tensor     # [B, latent] = style_1(stats_1) + style_2(stats_2), times the blend for a fading block


class EncodeBlock(nn.Module):
    """conv -> bias -> lrelu -> [stats] -> IN -> blur -> down-conv -> bias -> lrelu -> [stats] -> IN."""

    def __init__(self, inputs: int, outputs: int, latent_size: int, fused_scale: bool):
        super().__init__()
        self.fused_scale = fused_scale
        self.conv_1 = GainConv2d(inputs, inputs, 3, bias=False)
        self.bias_1 = nn.Parameter(torch.zeros(1, inputs, 1, 1))
        self.blur = binomial_blur()
        self.conv_2 = GainConv2d(inputs, outputs, 3, bias=False, resample="down" if fused_scale else None)
        self.bias_2 = nn.Parameter(torch.zeros(1, outputs, 1, 1))
        self.style_1 = GainLinear(2 * inputs, latent_size)
        self.style_2 = GainLinear(2 * outputs, latent_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(features, stats_1, stats_2)``; the encoder maps the statistics with ``style_1/2``."""
        x = lrelu(self.conv_1(x) + self.bias_1)
        stats_1 = instance_stats(x)
        x = instance_norm(x, eps=1e-5)
        x = self.conv_2(self.blur(x))
        if not self.fused_scale:
            x = F.avg_pool2d(x, 2, 2)
        x = lrelu(x + self.bias_2)
        stats_2 = instance_stats(x)
        return instance_norm(x, eps=1e-5), stats_1, stats_2

    def term(self, stats_1: torch.Tensor, stats_2: torch.Tensor) -> torch.Tensor:
        """This block's contribution ``C [stats]`` to w."""
        return self.style_1(stats_1) + self.style_2(stats_2)


class ALAEEncoderNet(nn.Module):
    """E: FromRGB at the input LOD (plus the official second leaky ReLU), then the blocks down to 2x2."""

    def __init__(self, arch: ALAEArch):
        super().__init__()
        self.arch = arch
        self.from_rgb = nn.ModuleList()
        self.encode_block = nn.ModuleList()
        for i in range(arch.layer_count):
            cin, cout = arch.encoder_channels(i)
            self.from_rgb.append(FromRGB(arch.channels, cin))
            self.encode_block.append(EncodeBlock(cin, cout, arch.latent_size, arch.encoder_fused(i)))

    def _entry(self, x: torch.Tensor, index: int) -> torch.Tensor:
        # The official encoder applies leaky ReLU twice (inside FromRGB and again here); weights
        # were trained that way, so the double activation is kept.
        return lrelu(self.from_rgb[index](x))

    def statistics(self, x: torch.Tensor, lod: int | None = None, blend: float = 1.0) -> list[BlockStatistics]:
        """Per-block statistics and terms for images at LOD ``lod`` (resolution ``4 * 2**lod``).

        With ``blend < 1`` (official ``encode2``) the newest block sees FromRGB of the full image
        and its terms are scaled by ``blend``; its output is lerped with FromRGB of the 2x2
        average-pooled image before the remaining blocks.
        """
        lod = self.arch.check_lod(lod)
        res = self.arch.lod_resolution(lod)
        if x.ndim != 4 or x.shape[1] != self.arch.channels or x.shape[2:] != (res, res):
            raise ValueError(f"encoder at lod {lod} expects [B, {self.arch.channels}, {res}, {res}] images, "
                             f"got {tuple(x.shape)}")
        if blend != 1 and lod == 0:
            raise ValueError("fade-in (blend < 1) needs lod >= 1")
        first = self.arch.layer_count - lod - 1
        out: list[BlockStatistics] = []
        h = self._entry(x, first)
        if blend != 1:
            block = self.encode_block[first]
            h, s1, s2 = block(h)
            out.append(BlockStatistics(s1, s2, block.style_1(s1) * blend + block.style_2(s2) * blend))
            h_prev = self._entry(F.avg_pool2d(x, 2, 2), first + 1)
            h = torch.lerp(h_prev, h, blend)
            first += 1
        for i in range(first, self.arch.layer_count):
            block = self.encode_block[i]
            h, s1, s2 = block(h)
            out.append(BlockStatistics(s1, s2, block.term(s1, s2)))
        return out

    def forward(self, x: torch.Tensor, lod: int | None = None, blend: float = 1.0) -> torch.Tensor:
        """w ``[B, latent]``: the sum of every active block's mapped statistics."""
        w = x.new_zeros(x.shape[0], self.arch.latent_size)
        for block_stats in self.statistics(x, lod, blend):
            w = w + block_stats.term
        return w
