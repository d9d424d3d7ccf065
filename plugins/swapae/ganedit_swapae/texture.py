"""Operations on texture codes: interpolation, spatial texture maps, region blending, masks.

Texture codes from the encoder are unit vectors; the generator re-normalises whatever it gets
(per pixel for maps), so a linear mix followed by G is a normalised lerp, as in the official
``simple_swapping`` evaluator.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Sequence

import torch
import torch.nn.functional as F
from pydantic import Field

from ganedit import Params

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


class MaskedRegion(Params):
    """An image region for region editors: a mask image or a built-in shape (neither: the whole
    image), a blend strength and an invert switch. Editors add what fills the region."""

    mask: Path | None = Field(None, description="mask image (grey value in [0, 1]; white = the region)")
    shape: MaskShape | None = Field(None, description="built-in mask instead of a file")
    strength: float = Field(1.0, ge=0.0, le=1.0, description="blend weight inside the mask")
    invert: bool = Field(False, description="the region is outside the mask instead")

    @property
    def is_global(self) -> bool:
        """No mask and no shape: the whole image."""
        return self.mask is None and self.shape is None

    def mask_at(self, size: tuple[int, int]) -> torch.Tensor:
        """``[1, 1, H, W]`` in [0, 1] at the output ``size``, strength applied (a square mask file
        is cropped/resized exactly like the input images were)."""
        if self.mask is not None:
            m = load_mask(self.mask, size[0] if size[0] == size[1] else None)
            if tuple(m.shape[-2:]) != tuple(size):
                m = F.interpolate(m, size=size, mode="bilinear", align_corners=False, antialias=True)
        elif self.shape is not None:
            m = shape_mask(self.shape, size)
        else:
            m = torch.ones(1, 1, *size)
        if self.invert:
            m = 1 - m
        return m.clamp(0, 1) * self.strength

