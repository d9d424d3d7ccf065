"""Random crops for the co-occurrence discriminator (official ``util.apply_random_crop``).

Each crop covers a fraction ``s ~ U[min_scale, max_scale]`` of the image side, drawn separately for
x and y, at a uniform position inside the image, flipped horizontally with probability 1/2, and
is resampled bilinearly to ``size x size``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def crops_from_params(images: torch.Tensor, size: int, flip: torch.Tensor, scale: torch.Tensor,
                      offset: torch.Tensor) -> torch.Tensor:
    """Crops ``[B, T, 3, size, size]`` given per-crop ``flip`` (+-1) ``[B*T]``, ``scale`` and
    ``offset`` ``[B*T, 2]`` (columns x, y, in normalised ``[-1, 1]`` coordinates); crop ``n``
    belongs to image ``n // T``."""
    n = flip.shape[0]
    b = images.shape[0]
    if n % b:
        raise ValueError(f"{n} crops cannot be split evenly over {b} images")
    t = n // b
    lin = torch.linspace(-1.0, 1.0, size, device=images.device, dtype=images.dtype)
    gx = lin[None, None, :].expand(n, size, size) * flip.view(n, 1, 1).to(images.dtype)
    gy = lin[None, :, None].expand(n, size, size)
    grid = torch.stack([gx, gy], dim=3)
    grid = grid * scale.view(n, 1, 1, 2).to(images.dtype) + offset.view(n, 1, 1, 2).to(images.dtype)
    # One sampling grid per image, its T crops stacked along the height: grid_sample reads each image
    # once instead of from T materialised copies (every output pixel is sampled independently, so
    # the values are the same).
    crops = F.grid_sample(images, grid.view(b, t * size, size, 2), mode="bilinear", padding_mode="zeros",
                          align_corners=False)
    return crops.view(b, -1, t, size, size).transpose(1, 2)


def draw_crop_params(batch: int, num_crops: int, scale_range: Sequence[float] = (1 / 8, 1 / 4),
                     generator: torch.Generator | None = None,
                     device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(flip [N], scale [N, 2], offset [N, 2])`` for ``N = batch * num_crops`` crops, drawn in the
    official order (flip, scale, offset), so a generator seeded like the official global RNG
    reproduces its crops."""
    n = batch * num_crops
    lo, hi = float(scale_range[0]), float(scale_range[1])
    flip = torch.round(torch.rand(n, generator=generator, device=device)) * 2 - 1.0
    scale = torch.rand(n, 2, generator=generator, device=device) * (hi - lo) + lo
    offset = (torch.rand(n, 2, generator=generator, device=device) * 2 - 1) * (1 - scale)
    return flip, scale, offset


def random_crops(images: torch.Tensor, size: int, scale_range: Sequence[float] = (1 / 8, 1 / 4),
                 num_crops: int = 8, generator: torch.Generator | None = None) -> torch.Tensor:
    """``num_crops`` random crops per image: ``[B, num_crops, 3, size, size]``."""
    dev = generator.device if generator is not None else images.device
    flip, scale, offset = draw_crop_params(images.shape[0], num_crops, scale_range, generator, dev)
    return crops_from_params(images, size, flip.to(images.device), scale.to(images.device),
                             offset.to(images.device))
