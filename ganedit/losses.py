"""Shared losses: Laplacian pyramid reconstruction loss (kornia), GAN losses, R1 penalty."""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import autograd, nn


class LaplacianPyramidLoss(nn.Module):
    """Weighted L1 (or L2) distance between Laplacian pyramids of two image batches.

    The pyramid is kornia's Burt-Adelson pyramid (Gaussian 5x5 down/up-sampling, reflect border):
    ``levels`` band-pass levels, the last one being the low-pass residual. Each level contributes
    its per-pixel mean distance times its weight (default all 1, so coarse and fine bands count
    alike, as GLO's 2^(2j)-weighted sum of per-level *sums* does).
    """

    def __init__(self, levels: int = 5, weights: Sequence[float] | None = None, distance: str = "l1"):
        super().__init__()
        if levels < 1:
            raise ValueError(f"levels must be >= 1, got {levels}")
        if weights is not None and len(weights) != levels:
            raise ValueError(f"got {len(weights)} level weights for {levels} levels")
        if distance not in ("l1", "l2"):
            raise ValueError(f"distance must be 'l1' or 'l2', got {distance!r}")
        self.levels = levels
        self.weights = list(weights) if weights is not None else [1.0] * levels
        self.distance = distance
        self._cached: tuple[torch.Tensor, int, list[torch.Tensor]] | None = None

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        from kornia.geometry.transform import build_laplacian_pyramid

        # Never ask for more levels than the image can hold (each level halves the size).
        max_levels = max(1, min(self.levels, int(torch.log2(torch.tensor(min(x.shape[-2:]))).item()) - 1))
        return build_laplacian_pyramid(x, max_levels, border_type="reflect", align_corners=False)

    def target_pyramid(self, y: torch.Tensor) -> list[torch.Tensor]:
        """The pyramid of a target that needs no gradient, kept while the same unchanged tensor comes
        back (an inversion compares every step with one target: its pyramid is built once)."""
        if y.requires_grad:
            return self.pyramid(y)
        c = self._cached
        if c is not None and c[0] is y and c[1] == y._version:
            return c[2]
        pyr = self.pyramid(y)
        self._cached = (y, y._version, pyr)
        return pyr

    def per_image(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Loss per image ``[B]``."""
        if x.shape != y.shape:
            raise ValueError(f"LaplacianPyramidLoss: shapes differ {tuple(x.shape)} vs {tuple(y.shape)}")
        total = x.new_zeros(x.shape[0])
        for w, a, b in zip(self.weights, self.pyramid(x), self.target_pyramid(y)):
            d = (a - b).abs() if self.distance == "l1" else (a - b).pow(2)
            total = total + w * d.flatten(1).mean(1)
        return total

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_image(x, y).mean()


def d_logistic_loss(real_pred: torch.Tensor, fake_pred: torch.Tensor) -> torch.Tensor:
    """Discriminator logistic loss: softplus(-D(x)) + softplus(D(G(z))) (in float32, also for
    half-precision logits from autocast)."""
    return F.softplus(-real_pred.float()).mean() + F.softplus(fake_pred.float()).mean()


def g_nonsaturating_loss(fake_pred: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss: softplus(-D(G(z))) (in float32)."""
    return F.softplus(-fake_pred.float()).mean()


def r1_penalty(real_pred: torch.Tensor, real_img: torch.Tensor) -> torch.Tensor:
    """R1 gradient penalty ``E ||grad_x D(x)||^2`` (``real_img`` must require grad)."""
    (grad,) = autograd.grad(outputs=real_pred.float().sum(), inputs=real_img, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(1).mean()
