"""Operations on texture codes: interpolation, spatial texture maps, region blending, masks.

Texture codes from the encoder are unit vectors; the generator re-normalises whatever it gets
(per pixel for maps), so a linear mix followed by G is a normalised lerp, as in the official
``simple_swapping`` evaluator.
"""

from __future__ import annotations

import os
from typing import Literal, Sequence

import torch
import torch.nn.functional as F

from ganedit_swapae.encoder import l2_normalize

MaskShape = Literal["left", "right", "top", "bottom", "center", "full", "empty"]


def lerp(a: torch.Tensor, b: torch.Tensor, alpha: float) -> torch.Tensor:
    """``a * (1 - alpha) + b * alpha`` (official ``util.lerp``; alpha > 1 extrapolates)."""
    return a * (1 - alpha) + b * alpha


def slerp(a: torch.Tensor, b: torch.Tensor, alpha: float) -> torch.Tensor:
    """Spherical interpolation of unit codes over dim 1 (official ``util.slerp``)."""
    a, b = l2_normalize(a), l2_normalize(b)
    d = (a * b).sum(1, keepdim=True)
    p = alpha * torch.acos(d * (1 - 1e-4))
    c = l2_normalize(b - d * a)
    return l2_normalize(a * torch.cos(p) + c * torch.sin(p))


def texture_map(texture: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """A spatially constant texture map ``[B, D, h, w]`` from codes ``[B, D]`` (maps pass through,
    resized bilinearly when their size differs)."""
    h, w = int(size[0]), int(size[1])
    if texture.ndim == 4:
        if tuple(texture.shape[-2:]) == (h, w):
            return texture
        return F.interpolate(texture, size=(h, w), mode="bilinear", align_corners=False)
    return texture[:, :, None, None].expand(-1, -1, h, w)


def resize_mask(mask: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize a soft mask ``[N, 1, H, W]`` to ``size``: area averaging when shrinking (keeps the
    covered fraction), bilinear when enlarging."""
    h, w = int(size[0]), int(size[1])
    if tuple(mask.shape[-2:]) == (h, w):
        return mask
    if mask.shape[-2] >= h and mask.shape[-1] >= w:
        return F.adaptive_avg_pool2d(mask, (h, w))
    return F.interpolate(mask, size=(h, w), mode="bilinear", align_corners=False)


def blend_texture_regions(base: torch.Tensor, regions: Sequence[tuple[torch.Tensor, torch.Tensor]],
                          size: Sequence[int]) -> torch.Tensor:
    """Texture map ``[B, D, h, w]``: ``base`` codes, replaced inside each region by its texture.

    ``regions`` holds ``(mask [1|B, 1, H, W] in [0, 1] (already scaled by strength), texture
    [1|B, D])``. Where masks overlap and sum above 1 they are rescaled to sum to 1, so the map
    stays a convex combination; outside every mask the map equals ``base``.
    """
    base_map = texture_map(base, size)
    if not regions:
        return base_map
    masks = [resize_mask(m.to(base_map.dtype), size) for m, _ in regions]
    total = torch.stack([m.expand(base_map.shape[0], -1, -1, -1) for m in masks]).sum(0)
    scale = torch.where(total > 1, 1 / total.clamp_min(1e-12), torch.ones_like(total))
    out = base_map
    for m, (_, tex) in zip(masks, regions):
        out = out + (m * scale) * (texture_map(tex.to(base_map.dtype), size) - base_map)
    return out


def shape_mask(shape: MaskShape, size: Sequence[int]) -> torch.Tensor:
    """A built-in hard mask ``[1, 1, H, W]``: half planes, the centre square, all or nothing."""
    h, w = int(size[0]), int(size[1])
    m = torch.zeros(1, 1, h, w)
    if shape == "left":
        m[..., : w // 2] = 1
    elif shape == "right":
        m[..., w // 2:] = 1
    elif shape == "top":
        m[..., : h // 2, :] = 1
    elif shape == "bottom":
        m[..., h // 2:, :] = 1
    elif shape == "center":
        m[..., h // 4: h - h // 4, w // 4: w - w // 4] = 1
    elif shape == "full":
        m[...] = 1
    elif shape != "empty":
        raise ValueError(f"unknown mask shape {shape!r}")
    return m


def load_mask(path: str | os.PathLike, resolution: int | None = None) -> torch.Tensor:
    """A mask image as ``[1, 1, H, W]`` in [0, 1] (white = 1): grey value of the RGB image, with
    the same resize/crop policy as input images when ``resolution`` is given."""
    from ganedit.io.images import load_image

    img = load_image(path, resolution)
    return ((img.mean(0, keepdim=True) + 1) / 2).clamp(0, 1)[None]
