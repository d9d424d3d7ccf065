"""Structure colour-invariance term (ours; not in the paper or the official code).

The Swapping Autoencoder's objective never says that colour belongs to the texture code: with a
short schedule the structure code carries part of the palette, and a swap ``G(C_A, S_B)`` keeps
some of A's colours (measured in docs/models.md). This self-supervised term reconstructs an image
from the structure code of a colour-jittered copy and the image's own texture code::

    L_inv = L1(G(E_s(jitter(x)), E_t(x)), x)

It is zero for an encoder whose structure code ignores colour (and a generator that reconstructs),
and it pushes colour out of the structure code otherwise. ``jitter`` rotates the hue, scales the
saturation and shifts the brightness of each image by random amounts (kornia's colour ops).
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from kornia.enhance import adjust_brightness, adjust_hue, adjust_saturation


def colour_jitter(images: torch.Tensor, hue: float = 0.5, saturation: Sequence[float] = (0.4, 1.6),
                  brightness: float = 0.2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of ``images`` ``[B, 3, H, W]`` in [-1, 1] with its hue turned by up to ``hue`` of a
    full turn either way, its saturation scaled by a factor in ``saturation`` and ``brightness``
    added (in [0, 1] units, either way); one draw per image."""
    b = images.shape[0]
    dev = generator.device if generator is not None else images.device
    draws = torch.rand(3, b, generator=generator, device=dev).to(images.device, images.dtype)
    x = (images + 1) / 2
    if hue > 0:
        x = adjust_hue(x, (draws[0] * 2 - 1) * hue * 2 * math.pi)
    lo, hi = float(saturation[0]), float(saturation[1])
    if (lo, hi) != (1.0, 1.0):
        x = adjust_saturation(x, lo + draws[1] * (hi - lo))
    if brightness > 0:
        x = adjust_brightness(x, (draws[2] * 2 - 1) * brightness)
    return x.clamp(0, 1) * 2 - 1


def structure_invariance_loss(encoder: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                              generator: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                              images: torch.Tensor, texture: torch.Tensor,
                              jitter: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``L1(G(E_s(jitter(x)), E_t(x)), x)``: ``texture`` is ``E_t(images)`` (computed once by the
    caller), ``generator(structure, texture)`` decodes."""
    structure, _ = encoder(jitter(images))
    return (generator(structure, texture) - images).abs().mean()


__all__ = ["colour_jitter", "structure_invariance_loss"]
