"""SwapAE discriminators: the image D and the co-occurrence patch discriminator Dpatch.

Both are built from the shared :class:`~ganedit.nn.ConvLayer` / :class:`~ganedit.nn.ResBlock`;
block names follow the official code (``convs.0``, ``convs.3`` ... / ``convs.128x128``,
``final_conv``, ``final_linear``, ``pairlinear``).
"""

from __future__ import annotations

import math
from collections import OrderedDict

import torch
from torch import nn

import ganedit
from ganedit.nn import ConvLayer, EqualLinear, ResBlock

from ganedit_swapae.arch import DiscriminatorArch, PatchDiscriminatorArch, PatchSampling
from ganedit_swapae.crops import random_crops
from ganedit_swapae.formats import SwapAEPart


def d_block_name(in_res: int) -> str:
    """Official name of the image-D residual block whose input has side ``in_res``."""
    i = int(math.log2(in_res))
    return str(9 - i) if i <= 8 else f"{in_res}x{in_res}"


def patch_block_name(in_res: int) -> str:
    """Official name of the Dpatch residual block whose input has side ``in_res``."""
    i = int(math.log2(in_res))
    return str(7 - i) if i <= 6 else f"{in_res}x{in_res}"


class SwapAEDiscriminator(SwapAEPart, ganedit.Discriminator, name="swapae", part="discriminator"):
    """SwapAE image discriminator (StyleGAN2 residual D without minibatch stddev).

    ``forward(images [B, 3, R, R]) -> logits [B, 1]`` at the crop size ``R`` it was built for."""

    def __init__(self, arch: DiscriminatorArch):
        super().__init__()
        self.arch = arch
        size = arch.nominal
        blur = arch.blur_kernel
        convs: list[tuple[str, nn.Module]] = [("0", ConvLayer(3, arch.width(size), 1))]
        ch = arch.width(size)
        res = size
        while res > 4:
            out = arch.width(res // 2)
            convs.append((d_block_name(res), ResBlock(ch, out, blur)))
            ch, res = out, res // 2
        self.convs = nn.Sequential(OrderedDict(convs))
        c4 = arch.width(4)
        self.final_conv = ConvLayer(ch, c4, 3)
        self.final_linear = nn.Sequential(
            EqualLinear(c4 * arch.final_side ** 2, c4, activation="fused_lrelu"),
            EqualLinear(c4, 1),
        )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The final feature map ``[B, C4, s, s]`` before the linear head."""
        return self.final_conv(self.convs(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        feat = self.features(images)
        expect = self.arch.final_side
        if feat.shape[-1] != expect or feat.shape[-2] != expect:
            raise ValueError(f"SwapAE discriminator built for {self.arch.resolution} px crops got "
                             f"{tuple(images.shape[-2:])} images")
        return self.final_linear(feat.flatten(1))


class SwapAEPatchDiscriminator(SwapAEPart, ganedit.Discriminator, name="swapae_patch", part="patch_discriminator"):
    """SwapAE co-occurrence patch discriminator: do query crops share the reference crops' texture?

    ``extract_features(crops [B, T, 3, P, P], aggregate)`` -> ``[B*T, max_nc, 2, 2]`` (with
    ``aggregate`` each crop's feature is replaced by the mean over the ``T`` crops of its image);
    ``discriminate_features(ref, query)`` -> ``[N, 1]`` logits; ``forward(reference_crops,
    query_crops)`` combines both with the configured aggregation.
    """

    def __init__(self, arch: PatchDiscriminatorArch, sampling: PatchSampling | None = None):
        super().__init__()
        self.arch = arch
        self.sampling = sampling or PatchSampling()
        size = arch.patch_size
        blur = arch.blur_kernel
        ch = arch.width(size)
        convs: list[tuple[str, nn.Module]] = [("0", ConvLayer(3, ch, 3))]
        res = size
        while res > 4:
            out = arch.width(res // 2)
            convs.append((patch_block_name(res), ResBlock(ch, out, blur)))
            ch, res = out, res // 2
        convs.append(("5", ResBlock(ch, arch.max_nc * 2, downsample=False)))
        convs.append(("6", ConvLayer(arch.max_nc * 2, arch.max_nc, 3, padding="valid")))
        self.convs = nn.Sequential(OrderedDict(convs))
        dims = [2 * arch.feature_dim, *arch.pair_channels]
        layers = [EqualLinear(a, b, activation="fused_lrelu") for a, b in zip(dims[:-1], dims[1:])]
        layers.append(EqualLinear(dims[-1], 1))
        self.pairlinear = nn.Sequential(*layers)

    def sample_crops(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Random crops ``[B, T, 3, P, P]`` of ``images`` with this model's sampling settings."""
        s = self.sampling
        return random_crops(images, self.arch.patch_size, (s.min_scale, s.max_scale), s.num_crops, generator)

    def extract_features(self, crops: torch.Tensor, aggregate: bool = False) -> torch.Tensor:
        if crops.ndim == 4:
            crops = crops[:, None]
        if crops.ndim != 5:
            raise ValueError(f"crops must be [B, T, 3, P, P], got {tuple(crops.shape)}")
        b, t = crops.shape[:2]
        feat = self.convs(crops.flatten(0, 1))
        feat = feat.view(b, t, *feat.shape[1:])
        if aggregate:
            feat = feat.mean(1, keepdim=True).expand(-1, t, -1, -1, -1)
        return feat.flatten(0, 1)

    def discriminate_features(self, reference: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
        return self.pairlinear(torch.cat([reference.flatten(1), query.flatten(1)], dim=1))

    def forward(self, reference_crops: torch.Tensor, query_crops: torch.Tensor,  # type: ignore[override]
                aggregate: bool | None = None) -> torch.Tensor:
        """Logits ``[B*T, 1]``: query crop ``n`` scored against (the mean of) image ``n // T``'s
        reference crops."""
        agg = self.sampling.use_aggregation if aggregate is None else aggregate
        ref = self.extract_features(reference_crops, aggregate=agg)
        return self.discriminate_features(ref, self.extract_features(query_crops))
