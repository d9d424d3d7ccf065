"""TCP's two losses on top of the SwapAE objective, and the region style map they rely on.

* Code consistency: ``L_CC = L1(C_g, C_A) + lambda * L1(S_g, S_B)`` where ``(C_g, S_g) = E(I_g)``
  re-encodes the stylized image ``I_g = G(C_A, S_B)``.
* Content alignment: ``L_CA = L1(I_h * M, I_g * M) + L1(I_h * (1 - M), I_A * (1 - M))`` where
  ``I_h = G(C_A, S_map)`` carries B's style inside the mask ``M`` and A's outside.

"L1" is the mean absolute difference over all elements (so the weights compare with SwapAE's L1
reconstruction term); codes are the encoder's L2-normalised ones.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ganedit_swapae.texture import blend_texture_regions


def code_consistency_loss(content_g: torch.Tensor, style_g: torch.Tensor, content_target: torch.Tensor,
                          style_target: torch.Tensor, style_weight: float = 1.0) -> torch.Tensor:
    """``L_CC``: zero exactly when the re-encoded codes equal the targets."""
    return (content_g - content_target).abs().mean() + style_weight * (style_g - style_target).abs().mean()


def content_alignment_loss(hybrid: torch.Tensor, stylized: torch.Tensor, background: torch.Tensor,
                           mask: torch.Tensor) -> torch.Tensor:
    """``L_CA``: zero exactly when ``hybrid`` equals ``mask * stylized + (1 - mask) * background``
    on a hard mask (with a soft mask: when it matches both targets where their weights overlap)."""
    return (mask * (hybrid - stylized)).abs().mean() + ((1 - mask) * (hybrid - background)).abs().mean()


def region_style_map(style_a: torch.Tensor, style_b: torch.Tensor, mask: torch.Tensor,
                     size: Sequence[int]) -> torch.Tensor:
    """Style map ``[B, D, h, w]``: ``M * S_B + (1 - M) * S_A`` with ``M`` area-resized to ``size``."""
    return blend_texture_regions(style_a, [(mask, style_b)], size)


def default_map_size(image_size: Sequence[int], structure_size: Sequence[int],
                     side: int | None = None) -> tuple[int, int]:
    """Style-map size: ``side`` on the shorter axis, by default a quarter of the image (at least
    the content code's size), the same rule as the SwapAE region editors."""
    h, w = int(image_size[0]), int(image_size[1])
    if side is None:
        return max(int(structure_size[0]), h // 4), max(int(structure_size[1]), w // 4)
    return (side, max(1, round(side * w / h))) if h <= w else (max(1, round(side * h / w)), side)


@torch.no_grad()
def consistency_metrics(encoder: torch.nn.Module, generator: torch.nn.Module, content: torch.Tensor,
                        style: torch.Tensor, mask: torch.Tensor, style_weight: float = 1.0,
                        map_size: int | None = None, noise_mode: str = "const") -> dict[str, float]:
    """Unweighted ``L_CC`` and ``L_CA`` of a model on given content/style images and masks
    (background target: the content image), with fixed noise: a deterministic yardstick."""
    c_a, s_a = encoder(content)
    _, s_b = encoder(style)
    stylized = generator(c_a, s_b, noise_mode=noise_mode)
    c_g, s_g = encoder(stylized)
    size = default_map_size(content.shape[-2:], c_a.shape[-2:], map_size)
    hybrid = generator(c_a, region_style_map(s_a, s_b, mask.to(content), size), noise_mode=noise_mode)
    return {
        "cc": float(code_consistency_loss(c_g, s_g, c_a, s_b, style_weight)),
        "ca": float(content_alignment_loss(hybrid, stylized, content, mask.to(content))),
    }


__all__ = ["code_consistency_loss", "consistency_metrics", "content_alignment_loss", "default_map_size",
           "region_style_map"]
