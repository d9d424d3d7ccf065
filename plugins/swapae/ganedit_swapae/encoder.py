"""SwapAE encoder E: image -> (structure code, texture code).

Module names follow the official ``StyleGAN2ResnetEncoder`` (``FromRGB``, ``DownToSpatialCode``,
``ToSpatialCode``, ``DownToGlobalCode``, ``ToGlobalCode``), so official weights map one to one.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

import ganedit
from ganedit.nn import ConvLayer, EqualLinear

from ganedit_swapae.arch import EncoderArch
from ganedit_swapae.formats import SwapAEPart
from ganedit_swapae.layers import ReflectConvLayer, ReflectResBlock


def l2_normalize(v: torch.Tensor) -> torch.Tensor:
    """``v / sqrt(sum(v^2) + 1e-8)`` over dim 1 (per pixel for maps), as the official code."""
    return v * torch.rsqrt(v.pow(2).sum(1, keepdim=True) + 1e-8)


class SwapAEEncoder(SwapAEPart, ganedit.Encoder, name="swapae", part="encoder"):
    """Swapping Autoencoder encoder E: image -> structure code (spatial) + texture code (vector).

    The structure code is ``1/2^num_downsampling_sp`` of the image side, the texture code a vector;
    both are L2-normalised. Fully convolutional: any input whose sides are multiples of
    ``2^num_downsampling_sp`` works (the texture branch needs a few pixels left after its
    unpadded strided convs)."""

    def __init__(self, arch: EncoderArch):
        super().__init__()
        self.arch = arch
        ch = arch.channels
        n_sp = arch.num_downsampling_sp
        blur = arch.blur_kernel
        self.FromRGB = ConvLayer(3, ch[0], 1)
        self.DownToSpatialCode = nn.Sequential(OrderedDict(
            (f"ResBlockDownBy{2 ** i}", ReflectResBlock(ch[i], ch[i + 1], blur, reflection_pad=True))
            for i in range(n_sp)))
        self.ToSpatialCode = nn.Sequential(
            ConvLayer(ch[n_sp], ch[n_sp], 1),
            ConvLayer(ch[n_sp], arch.spatial_code_ch, 1, activate=False, bias=True),
        )
        self.DownToGlobalCode = nn.Sequential(OrderedDict(
            (f"ConvLayerDownBy{2 ** (n_sp + i)}",
             ReflectConvLayer(ch[n_sp + i], ch[n_sp + i + 1], 3, downsample=True, blur_kernel=[1], pad=0))
            for i in range(arch.num_downsampling_gl)))
        self.ToGlobalCode = nn.Sequential(EqualLinear(ch[-1], arch.global_code_ch))

    @classmethod
    def output_space(cls, params: Any = None) -> str:
        return "structure_texture"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(structure [B, C_s, H/2^n, W/2^n], texture [B, D])``, both L2-normalised."""
        size = tuple(x.shape[-2:])
        midpoint = self.DownToSpatialCode(self.FromRGB(x))
        structure = self.ToSpatialCode(midpoint)
        # The texture branch uses unpadded stride-2 3x3 convs: each needs a map of at least 3 px.
        n_gl = self.arch.num_downsampling_gl
        min_side = 2 ** (n_gl + 1) - 1
        if min(midpoint.shape[-2:]) < min_side:
            raise ValueError(f"SwapAE encoder: input {size} is too small for the texture branch "
                             f"(needs sides of at least {min_side * 2 ** self.arch.num_downsampling_sp} px)")
        g = self.DownToGlobalCode(midpoint)
        texture = self.ToGlobalCode(g.mean(dim=(2, 3)))
        return l2_normalize(structure), l2_normalize(texture)

    def encode(self, images: torch.Tensor) -> ganedit.Latent:
        structure, texture = self(images)
        return ganedit.Latent.structure_texture(structure, texture)
