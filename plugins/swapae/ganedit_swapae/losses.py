"""SwapAE-specific loss pieces: swap pairing, the GAN loss, R1 penalties and the co-occurrence critic.

They follow the official ``SwappingAutoencoderModel`` (``swap``, ``loss.gan_loss``,
``compute_patch_discriminator_losses``, ``compute_generator_losses``, ``compute_R1_loss``):
reference crops of a real image (their features averaged over the image's crops when aggregation
is on) are paired with crops of another draw from the same real image (real pairs) or with crops
of the hybrid image that took its texture (fake pairs).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ganedit_swapae.discriminator import SwapAEPatchDiscriminator


def swap_pairs(x: torch.Tensor) -> torch.Tensor:
    """Exchange samples within consecutive pairs (0<->1, 2<->3, ...), the official ``swap`` (not a
    roll). ``G(swap_pairs(structure), texture)`` gives hybrid ``i`` the texture of image ``i`` and
    the structure of its partner."""
    b = x.shape[0]
    if b % 2:
        raise ValueError(f"swap pairing needs an even batch, got {b}")
    return x.view(b // 2, 2, *x.shape[1:]).flip(1).reshape(x.shape)


def gan_loss(pred: torch.Tensor, real: bool) -> torch.Tensor:
    """Logistic GAN loss: ``softplus(-pred)`` for targets classified real, ``softplus(pred)`` for
    fakes; the mean per sample, then over the batch (official ``gan_loss`` + batch mean)."""
    pred = pred.float()  # half-precision logits (autocast) meet the loss in float32
    out = F.softplus(-pred if real else pred)
    return out.reshape(out.shape[0], -1).mean(1).mean()


class CooccurrenceCritic(nn.Module):
    """The co-occurrence patch discriminator used as one callable, so that a DDP wrapper reduces
    its gradients once per step: reference features are extracted once and scored against several
    sets of query crops in a single trunk pass."""

    def __init__(self, dpatch: SwapAEPatchDiscriminator):
        super().__init__()
        self.dpatch = dpatch

    def sample_crops(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Random crops ``[B, T, 3, P, P]`` with the patch discriminator's sampling settings."""
        return self.dpatch.sample_crops(images, generator)

    def forward(self, reference_crops: torch.Tensor, queries: Sequence[torch.Tensor], aggregate: bool = True,
                detach_reference: bool = False) -> tuple[torch.Tensor, ...]:
        """Logits ``[B*T, 1]`` for each query crop set ``[B, T, 3, P, P]`` against (the mean of)
        the reference crops of the same image."""
        ref = self.dpatch.extract_features(reference_crops, aggregate=aggregate)
        if detach_reference:
            ref = ref.detach()
        n = len(queries)
        feats = self.dpatch.extract_features(torch.cat(list(queries)))
        preds = self.dpatch.discriminate_features(ref.repeat(n, *([1] * (ref.ndim - 1))), feats)
        return tuple(preds.chunk(n))


def r1_image(discriminator: nn.Module, real: torch.Tensor, gamma: float) -> torch.Tensor:
    """R1 of the image D: ``0.5 * gamma * |grad_x D(x)|^2`` per sample, averaged (official).

    ``0 * D(x)`` is added so that every D parameter is in the graph (DDP needs that)."""
    x = real.detach().requires_grad_(True)
    pred = discriminator(x)
    (grad,) = torch.autograd.grad(pred.sum(), x, create_graph=True)
    return (0.5 * gamma) * grad.pow(2).flatten(1).sum(1).mean() + 0 * pred.sum()


def r1_patch(critic: nn.Module, base: CooccurrenceCritic, real: torch.Tensor, gamma: float,
             aggregate: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
    """R1 of the patch D w.r.t. both the reference and the target crops of real images:
    ``0.25 * gamma * (|grad_ref|^2 + |grad_target|^2)`` per sample, averaged (official).

    ``critic`` is the callable (possibly a DDP wrapper of ``base``), ``base`` draws the crops."""
    ref = base.sample_crops(real.detach(), generator).detach().requires_grad_(True)
    target = base.sample_crops(real.detach(), generator).detach().requires_grad_(True)
    (pred,) = critic(ref, [target], aggregate=aggregate)
    g_ref, g_target = torch.autograd.grad(pred.sum(), [ref, target], create_graph=True)
    penalty = g_ref.pow(2).flatten(1).sum(1) + g_target.pow(2).flatten(1).sum(1)
    return (0.25 * gamma) * penalty.mean() + 0 * pred.sum()


__all__ = ["CooccurrenceCritic", "gan_loss", "r1_image", "r1_patch", "swap_pairs"]
