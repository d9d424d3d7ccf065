"""Reconstruction losses (Laplacian pyramid, L2, L1, LPIPS) combined by weight, and the noise
regulariser of NVIDIA's projector."""

from __future__ import annotations

import importlib.util
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from ganedit.interfaces import Params
from ganedit.losses import LaplacianPyramidLoss
from ganedit.metrics import LPIPS, MetricUnavailable, lpips_weights_path

from ganedit_inversion.errors import InversionError


class ReconstructionParams(Params):
    """Weights of the reconstruction terms; any subset may be combined (a zero weight disables a term)."""

    laplacian: float = Field(1.0, ge=0, description="Laplacian-pyramid loss weight "
                             "(ganedit.losses.LaplacianPyramidLoss)")
    laplacian_levels: int = Field(5, ge=1, le=10, description="pyramid levels incl. the low-pass residual "
                                  "(capped by the image size)")
    laplacian_weights: list[float] | None = Field(None, description="per-level weights (default all 1)")
    laplacian_distance: Literal["l1", "l2"] = Field("l1", description="per-level distance")
    l2: float = Field(0.0, ge=0, description="mean squared error weight")
    l1: float = Field(0.0, ge=0, description="mean absolute error weight")
    lpips: float = Field(0.0, ge=0, description="LPIPS weight; needs the LPIPS backbone weights on disk")
    lpips_net: Literal["alex", "vgg", "squeeze"] = Field("alex", description="LPIPS backbone")

    @model_validator(mode="after")
    def _some_term(self) -> "ReconstructionParams":
        if self.laplacian + self.l2 + self.l1 + self.lpips <= 0:
            raise ValueError("at least one reconstruction loss weight (laplacian, l2, l1, lpips) must be > 0")
        if self.laplacian_weights is not None and len(self.laplacian_weights) != self.laplacian_levels:
            raise ValueError(f"laplacian_weights has {len(self.laplacian_weights)} entries for "
                             f"{self.laplacian_levels} levels")
        return self


def lpips_problem(net: str) -> str | None:
    """Why LPIPS cannot run here (missing weights or package), or None when it can."""
    path = lpips_weights_path(net)
    if not path.is_file():
        return (f"LPIPS ({net}) needs the pretrained backbone weights {path.name} at {path}; "
                f"they cannot be downloaded at run time")
    if importlib.util.find_spec("lpips") is None:
        return "LPIPS needs the 'lpips' package, which is not installed"
    return None


def reconstruction_problems(params: ReconstructionParams, where: str) -> list[str]:
    """Validation-time problems (no weights loaded): an LPIPS term that cannot run."""
    if params.lpips > 0:
        why = lpips_problem(params.lpips_net)
        if why:
            return [f"{where}.lpips={params.lpips}: {why}; set {where}.lpips to 0 or install the weights"]
    return []


class ReconstructionLoss(nn.Module):
    """Weighted sum of the selected terms, per image ``[B]``; images in [-1, 1]."""

    def __init__(self, params: ReconstructionParams):
        super().__init__()
        self.params = params
        self.laplacian = (LaplacianPyramidLoss(params.laplacian_levels, params.laplacian_weights,
                                               params.laplacian_distance) if params.laplacian > 0 else None)
        self.lpips: nn.Module | None = None
        if params.lpips > 0:
            try:
                self.lpips = LPIPS(params.lpips_net)
            except MetricUnavailable as exc:
                raise InversionError(f"reconstruction loss 'lpips' is unavailable: {exc}") from None

    def terms(self, x: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each active (weighted) term per image ``{name: [B]}``."""
        p = self.params
        out: dict[str, torch.Tensor] = {}
        if self.laplacian is not None:
            out["laplacian"] = p.laplacian * self.laplacian.per_image(x, target)
        if p.l2 > 0:
            out["l2"] = p.l2 * (x - target).pow(2).flatten(1).mean(1)
        if p.l1 > 0:
            out["l1"] = p.l1 * (x - target).abs().flatten(1).mean(1)
        if self.lpips is not None:
            out["lpips"] = p.lpips * self.lpips(x, target)
        return out

    def forward(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Total loss per image ``[B]``."""
        return sum(self.terms(x, target).values())  # type: ignore[return-value]


def noise_regularization(noises: list[torch.Tensor]) -> torch.Tensor:
    """NVIDIA projector's noise regulariser: squared auto-correlation at one-pixel shifts.

    For each map and each scale (2x2 average pooling down to 8x8): ``mean(n * roll(n, 1, W))^2 +
    mean(n * roll(n, 1, H))^2``, summed. It keeps the optimised noise maps from encoding image
    content (which would be spatially correlated).
    """
    loss = noises[0].new_zeros(())
    for n in noises:
        while True:
            loss = loss + (n * torch.roll(n, shifts=1, dims=3)).mean().square()
            loss = loss + (n * torch.roll(n, shifts=1, dims=2)).mean().square()
            if n.shape[-1] <= 8:
                break
            n = F.avg_pool2d(n, kernel_size=2)
    return loss


@torch.no_grad()
def normalize_noise_(noises: list[torch.Tensor]) -> None:
    """Renormalise each noise map to zero mean, unit variance (in place)."""
    for n in noises:
        mean = n.mean()
        std = (n - mean).pow(2).mean().sqrt()
        n.sub_(mean).div_(std.clamp_min(1e-8))
