"""Style encoders of pSp, e4e and ReStyle: a residual backbone plus "map2style" heads.

Every official encoder class has a counterpart here, with the official module names (so the
``encoder.*`` state dicts load as they are) and widths as arguments:

=================================================  =============================================
official class (repo)                              here
=================================================  =============================================
``GradualStyleEncoder`` (pSp, e4e, ReStyle)        :class:`FPNStyleEncoder` (``progressive=False``)
``Encoder4Editing`` (e4e)                          :class:`FPNStyleEncoder` (``progressive=True``)
``ResNetGradualStyleEncoder`` (ReStyle)            :class:`FPNStyleEncoder` (``backbone='resnet34'``)
``BackboneEncoder`` (ReStyle-pSp)                  :class:`BackboneStyleEncoder`
``ProgressiveBackboneEncoder`` (ReStyle-e4e)       :class:`BackboneStyleEncoder` (``progressive=True``)
``ResNet[Progressive]BackboneEncoder`` (ReStyle)   :class:`BackboneStyleEncoder` (``backbone='resnet34'``)
``BackboneEncoderUsingLastLayerIntoW`` (pSp, e4e)  :class:`WEncoder`
``BackboneEncoderUsingLastLayerIntoWPlus`` (pSp)   :class:`WPlusEncoder`
=================================================  =============================================

"Progressive" is e4e's parameterisation: style 0 is a base code ``w0`` repeated on every layer and
style ``i >= 1`` is ``w0 + delta_i`` (all deltas on: the official ``ProgressiveStage.Inference``).
pSp predicts every style independently.
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganedit.nn import EqualLinear

from ganedit_encoders.irse import IR50_UNITS, OFFICIAL_WIDTHS, input_layer, ir_body, stage_ends

Backbone = Literal["ir_se50", "ir50", "resnet34"]

#: Blocks per stage of the ResNet-34 backbone (torchvision ``layer1..4``, flattened into ``body``).
RESNET34_UNITS: tuple[int, ...] = (3, 4, 6, 3)
#: pSp/e4e style groups: styles ``< COARSE`` read the 16x16 map, ``< MIDDLE`` 32x32, the rest 64x64.
COARSE, MIDDLE = 3, 7


class GradualStyleBlock(nn.Module):
    """map2style: ``log2(spatial)`` stride-2 3x3 convs with LeakyReLU(0.01) down to 1x1, then an
    equalised linear layer (``convs.*``, ``linear``)."""

    def __init__(self, in_c: int, out_c: int, spatial: int):
        super().__init__()
        self.out_c = out_c
        self.spatial = spatial
        modules: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            modules += [nn.Conv2d(in_c if i == 0 else out_c, out_c, kernel_size=3, stride=2, padding=1),
                        nn.LeakyReLU()]
        self.convs = nn.Sequential(*modules)
        self.linear = EqualLinear(out_c, out_c, lr_mul=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.convs(x)
        if x.shape[-2:] != (1, 1):
            raise ValueError(f"map2style expects a {self.spatial}x{self.spatial} feature map (a 256x256 "
                             f"encoder input), got one that pools to {tuple(x.shape[-2:])}")
        return self.linear(x.flatten(1))


def upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FPN merge: ``x`` resized to ``y``'s size (bilinear, ``align_corners=True``) plus ``y``."""
    return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=True) + y


def progressive(raw: torch.Tensor) -> torch.Tensor:
    """e4e codes from per-style outputs ``[N, n, S]``: ``w0`` on every style plus ``delta_i`` for i >= 1."""
    return torch.cat([raw[:, :1], raw[:, :1] + raw[:, 1:]], 1)


class BasicBlock(nn.Module):
    """ResNet basic block as torchvision writes it (names ``conv1, bn1, conv2, bn2, downsample``):
    ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""

    def __init__(self, in_channel: int, depth: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channel, depth, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(depth)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(depth, depth, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(depth)
        self.downsample = None
        if stride != 1 or in_channel != depth:
            self.downsample = nn.Sequential(nn.Conv2d(in_channel, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


def resnet34_body(stem_width: int, widths: Sequence[int] = OFFICIAL_WIDTHS) -> nn.Sequential:
    """ResNet-34's ``layer1..layer4`` basic blocks, flattened (``body.0 .. body.15``, the official
    ``RESNET_MAPPING`` of torchvision's names)."""
    blocks: list[nn.Module] = []
    in_channel = stem_width
    for stage, (depth, count) in enumerate(zip(widths, RESNET34_UNITS)):
        for i in range(count):
            blocks.append(BasicBlock(in_channel, depth, 2 if (i == 0 and stage > 0) else 1))
            in_channel = depth
    return nn.Sequential(*blocks)


class _Backbone(nn.Module):
    """Stem + body with the official module names, and what every head shares: ``n_styles`` codes
    of width ``style_dim``; ``progressive`` = e4e's ``w0 + delta_i`` parameterisation."""

    def __init__(self, n_styles: int, style_dim: int, input_nc: int, stem_width: int, widths: Sequence[int],
                 backbone: Backbone, progressive: bool = False):
        super().__init__()
        self.n_styles = int(n_styles)
        self.style_dim = int(style_dim)
        self.progressive = progressive
        self.backbone = backbone
        self.input_nc = input_nc
        self.widths = tuple(int(w) for w in widths)
        if backbone == "resnet34":
            self.units = RESNET34_UNITS
            # ReStyle's ResNet-34 stem: 7x7 stride-2 conv, BN, PReLU, no max-pool (top-level names).
            self.conv1 = nn.Conv2d(input_nc, stem_width, kernel_size=7, stride=2, padding=3, bias=False)
            self.bn1 = nn.BatchNorm2d(stem_width)
            self.relu = nn.PReLU(stem_width)
            self.body = resnet34_body(stem_width, widths)
        elif backbone in ("ir_se50", "ir50"):
            self.units = IR50_UNITS
            self.input_layer = input_layer(input_nc, stem_width)
            self.body = ir_body(stem_width, widths, IR50_UNITS, se=backbone == "ir_se50")
        else:
            raise ValueError(f"unknown backbone {backbone!r}; expected ir_se50, ir50 or resnet34")

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.input_nc:
            raise ValueError(f"encoder expects {self.input_nc} input channels, got {x.shape[1]}")
        if self.backbone == "resnet34":
            return self.relu(self.bn1(self.conv1(x)))
        return self.input_layer(x)

    def features(self, x: torch.Tensor, taps: Sequence[int]) -> list[torch.Tensor]:
        """Outputs of the body units at indices ``taps`` (ascending)."""
        x = self.stem(x)
        out = []
        last = max(taps)
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in taps:
                out.append(x)
            if i == last:
                break
        return out

    def top(self, x: torch.Tensor) -> torch.Tensor:
        """The final feature map (16x16 for a 256 input)."""
        return self.features(x, [len(self.body) - 1])[0]


class FPNStyleEncoder(_Backbone):
    """pSp's GradualStyleEncoder / e4e's Encoder4Editing: styles from a 3-level feature pyramid.

    ``c1, c2, c3`` are the ends of stages 2-4 (64, 32, 16 px for a 256 input); ``p2 = up(c3) +
    latlayer1(c2)``, ``p1 = up(p2) + latlayer2(c1)``. Styles 0-2 read ``c3``, 3-6 ``p2``, 7+ ``p1``.
    """

    def __init__(self, n_styles: int, style_dim: int = 512, input_nc: int = 3, stem_width: int = 64,
                 widths: Sequence[int] = OFFICIAL_WIDTHS, progressive: bool = False,
                 backbone: Backbone = "ir_se50"):
        super().__init__(n_styles, style_dim, input_nc, stem_width, widths, backbone, progressive)
        top = self.widths[3]
        self.styles = nn.ModuleList(
            GradualStyleBlock(top, style_dim, 16 if i < COARSE else 32 if i < MIDDLE else 64)
            for i in range(self.n_styles))
        self.latlayer1 = nn.Conv2d(self.widths[2], top, kernel_size=1, stride=1, padding=0)
        self.latlayer2 = nn.Conv2d(self.widths[1], top, kernel_size=1, stride=1, padding=0)
        ends = stage_ends(self.units)
        self.taps = (ends[1], ends[2], ends[3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.features(x, self.taps)
        outs = [self.styles[j](c3) for j in range(min(COARSE, self.n_styles))]
        if self.n_styles > COARSE:
            p2 = upsample_add(c3, self.latlayer1(c2))
            outs += [self.styles[j](p2) for j in range(COARSE, min(MIDDLE, self.n_styles))]
            if self.n_styles > MIDDLE:
                p1 = upsample_add(p2, self.latlayer2(c1))
                outs += [self.styles[j](p1) for j in range(MIDDLE, self.n_styles)]
        raw = torch.stack(outs, dim=1)
        return progressive(raw) if self.progressive else raw


class BackboneStyleEncoder(_Backbone):
    """ReStyle's BackboneEncoder (progressive: ProgressiveBackboneEncoder): every style from the
    final 16x16 map."""

    def __init__(self, n_styles: int, style_dim: int = 512, input_nc: int = 6, stem_width: int = 64,
                 widths: Sequence[int] = OFFICIAL_WIDTHS, progressive: bool = False,
                 backbone: Backbone = "ir_se50"):
        super().__init__(n_styles, style_dim, input_nc, stem_width, widths, backbone, progressive)
        self.styles = nn.ModuleList(GradualStyleBlock(self.widths[3], style_dim, 16) for _ in range(self.n_styles))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top = self.top(x)
        raw = torch.stack([style(top) for style in self.styles], dim=1)
        return progressive(raw) if self.progressive else raw


class WEncoder(_Backbone):
    """pSp's BackboneEncoderUsingLastLayerIntoW (e4e: SingleStyleCodeEncoder): one W code
    ``[N, S]`` from the globally pooled final map."""

    def __init__(self, n_styles: int, style_dim: int = 512, input_nc: int = 3, stem_width: int = 64,
                 widths: Sequence[int] = OFFICIAL_WIDTHS, backbone: Backbone = "ir_se50"):
        super().__init__(n_styles, style_dim, input_nc, stem_width, widths, backbone)
        self.output_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.linear = EqualLinear(self.widths[3], style_dim, lr_mul=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.output_pool(self.top(x)).flatten(1))


class WPlusEncoder(_Backbone):
    """pSp's BackboneEncoderUsingLastLayerIntoWPlus: BN, 7x7 adaptive pool, linear, then one
    equalised linear layer to all ``n_styles`` codes."""

    def __init__(self, n_styles: int, style_dim: int = 512, input_nc: int = 3, stem_width: int = 64,
                 widths: Sequence[int] = OFFICIAL_WIDTHS, backbone: Backbone = "ir_se50"):
        super().__init__(n_styles, style_dim, input_nc, stem_width, widths, backbone)
        top = self.widths[3]
        self.output_layer_2 = nn.Sequential(nn.BatchNorm2d(top), nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(),
                                            nn.Linear(top * 7 * 7, style_dim))
        self.linear = EqualLinear(style_dim, style_dim * self.n_styles, lr_mul=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.output_layer_2(self.top(x))).view(-1, self.n_styles, self.style_dim)
