"""The IR / IR-SE residual backbone (ArcFace's ResNet-IR, Deng et al. 2019) that pSp, e4e and ReStyle
put under their style heads.

Module and parameter names follow the official encoders (``input_layer.{0,1,2}``,
``body.{i}.shortcut_layer``, ``body.{i}.res_layer.{0..5}``, ``res_layer.5.fc1/fc2`` for the SE
gate), so their ``encoder.*`` state dicts load without renames. Widths are arguments: the official
code hard-codes 64/128/256/512, small test checkpoints use others, and the loader reads them from
the tensor shapes.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

#: Residual units per stage of the IR-50 backbone (the only depth the official encoders build).
IR50_UNITS: tuple[int, ...] = (3, 4, 14, 3)
#: Official stage widths (IR-SE-50 as trained for ArcFace).
OFFICIAL_WIDTHS: tuple[int, ...] = (64, 128, 256, 512)
#: Squeeze-excitation reduction of the official units (hidden width = channels // 16).
SE_REDUCTION = 16


class SEModule(nn.Module):
    """Squeeze-excitation gate: ``x * sigmoid(fc2(relu(fc1(mean_hw(x)))))`` (1x1 convs, no bias)."""

    def __init__(self, channels: int, hidden: int):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, kernel_size=1, padding=0, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, kernel_size=1, padding=0, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))
        return x * gate


class BottleneckIR(nn.Module):
    """One IR unit: ``BN -> conv3x3 -> PReLU -> conv3x3(stride) -> BN [-> SE]`` plus a shortcut.

    The shortcut is a strided identity (``MaxPool2d(1, stride)``: every ``stride``-th pixel) when
    the width does not change, else a strided 1x1 conv + BN.
    """

    def __init__(self, in_channel: int, depth: int, stride: int, se: bool = True):
        super().__init__()
        if in_channel == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(in_channel, depth, (1, 1), stride, bias=False),
                                                nn.BatchNorm2d(depth))
        layers: list[nn.Module] = [
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, (3, 3), (1, 1), 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, (3, 3), stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if se:
            layers.append(SEModule(depth, max(depth // SE_REDUCTION, 1)))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def input_layer(input_nc: int, width: int) -> nn.Sequential:
    """The stem: conv3x3 (no bias) -> BN -> PReLU at full resolution."""
    return nn.Sequential(nn.Conv2d(input_nc, width, (3, 3), 1, 1, bias=False), nn.BatchNorm2d(width),
                         nn.PReLU(width))


def ir_body(stem_width: int, widths: Sequence[int] = OFFICIAL_WIDTHS, units: Sequence[int] = IR50_UNITS,
            se: bool = True) -> nn.Sequential:
    """The residual units of all stages in one ``Sequential`` (``body.0 .. body.23`` for IR-50); the
    first unit of each stage halves the resolution."""
    modules: list[nn.Module] = []
    in_channel = stem_width
    for depth, count in zip(widths, units):
        for i in range(count):
            modules.append(BottleneckIR(in_channel, depth, 2 if i == 0 else 1, se=se))
            in_channel = depth
    return nn.Sequential(*modules)


def stage_ends(units: Sequence[int] = IR50_UNITS) -> list[int]:
    """Index of the last unit of each stage (``[2, 6, 20, 23]`` for IR-50)."""
    ends, total = [], 0
    for count in units:
        total += count
        ends.append(total - 1)
    return ends
