"""FIR resampling (upfirdn2d) with plain tensor ops: zero insertion, padding, depthwise conv."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def make_kernel(k: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Separable FIR kernel: a 1-D kernel becomes its outer product; normalized to sum 1."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(v, int):
        return v, v
    a, b = v
    return int(a), int(b)


def upfirdn2d(
    x: torch.Tensor,
    kernel: torch.Tensor,
    up: int | Sequence[int] = 1,
    down: int | Sequence[int] = 1,
    pad: Sequence[int] = (0, 0),
) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with ``kernel`` (true convolution), downsample.

    ``pad`` is ``(p0, p1)`` applied to both axes or ``(px0, px1, py0, py1)``; negative values crop.
    Output size per axis: ``(n * up + p0 + p1 - len(kernel)) // down + 1``.
    """
    up_x, up_y = _pair(up)
    down_x, down_y = _pair(down)
    if len(pad) == 2:
        px0, px1 = pad
        py0, py1 = pad
    else:
        px0, px1, py0, py1 = pad
    b, c, h, w = x.shape
    if up_x > 1 or up_y > 1:
        x = x.reshape(b, c, h, 1, w, 1)
        x = F.pad(x, [0, up_x - 1, 0, 0, 0, up_y - 1])
        x = x.reshape(b, c, h * up_y, w * up_x)
    # The part of the padding common to both sides of an axis goes into the convolution (one pass
    # less, forward and backward); only the rest, or a negative pad (a crop), needs F.pad.
    mx, my = max(0, min(px0, px1)), max(0, min(py0, py1))
    if (px0, px1, py0, py1) != (mx, mx, my, my):
        x = F.pad(x, [px0 - mx, px1 - mx, py0 - my, py1 - my])
    kh, kw = kernel.shape
    weight = torch.flip(kernel, [0, 1]).to(x.dtype)[None, None].expand(c, 1, kh, kw)
    # Keeping every down-th output is a strided convolution.
    return F.conv2d(x, weight, groups=c, padding=(my, mx), stride=(down_y, down_x))


class Blur(nn.Module):
    """FIR filter with a fixed kernel (a buffer named ``kernel``), scaled by ``upsample_factor**2``."""

    def __init__(self, kernel: Sequence[float], pad: Sequence[int], upsample_factor: int = 1):
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * (upsample_factor**2)
        self.register_buffer("kernel", k)
        self.pad = tuple(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """Zero-insertion upsampling followed by the FIR kernel (gain ``factor**2``)."""

    def __init__(self, kernel: Sequence[float], factor: int = 2):
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel) * (factor**2)
        self.register_buffer("kernel", k)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class Downsample(nn.Module):
    """FIR low-pass followed by keeping every ``factor``-th sample."""

    def __init__(self, kernel: Sequence[float], factor: int = 2):
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel)
        self.register_buffer("kernel", k)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, down=self.factor, pad=self.pad)
