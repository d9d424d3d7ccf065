"""PTI: Pivotal Tuning Inversion (Roich et al., ACM TOG 2022).

Defaults follow the released code (``danielroich/PTI`` ``configs/hyperparameters.py``): a W pivot
from 450 projector steps (peak lr 0.01, 600 w samples), then up to 350 Adam steps (lr 3e-4) on the
synthesis weights with MSE + LPIPS. Differences, all configurable: LPIPS weights are usually not on
this machine, so the defaults use MSE + Laplacian pyramid (set ``losses.lpips: 1`` and the pivot's
``losses.lpips`` when the weights exist); the early stop is PSNR >= 40 dB instead of LPIPS <= 0.06
(``stop: {metric: lpips, threshold: 0.06}`` reproduces the paper). The locality regulariser is off
by default, as in the released code; when on, every ``interval`` steps it renders
``w_r = w_p + alpha (w_z - w_p) / ||w_z - w_p||`` (``w_z`` a random code mapped with truncation
``psi``, the norm over the whole ``[num_ws, w_dim]`` code) with the tuned and the frozen original
generator (no noise) and adds ``l2 * MSE + lpips * LPIPS`` between them.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from ganedit.config import Slot
from ganedit.interfaces import Generator, Params
from ganedit.metrics import LPIPS, MetricUnavailable

from ganedit_inversion.common import StopRule, randn
from ganedit_inversion.errors import InversionError
from ganedit_inversion.losses import ReconstructionParams, lpips_problem
from ganedit_inversion.tuning import GeneratorTuningInverter, TuningParams, optimization_spec


class LocalityParams(Params):
    """PTI's locality ("space") regulariser."""

    enabled: bool = Field(False, description="add the regulariser (released PTI: off)")
    alpha: float = Field(30.0, gt=0, description="distance of the regularisation code from the pivot "
                         "(PTI: 30 for 512-d FFHQ codes; scale with sqrt(num_ws * w_dim))")
    truncation_psi: float = Field(0.5, ge=0, le=1, description="truncation of the random codes")
    samples: int = Field(1, ge=1, le=64, description="random codes per regularisation step")
    interval: int = Field(1, ge=1, description="regularise every this many steps")
    l2: float = Field(0.1, ge=0, description="MSE weight between tuned and original renders")
    lpips: float = Field(0.0, ge=0, description="LPIPS weight (PTI: 0.1; needs the LPIPS weights)")


def _pti_pivot():
    return optimization_spec(space="w", steps=450, lr=0.01, w_avg_samples=600, optimize_noise=True,
                             keep_noise=False)


class PTIInverter(GeneratorTuningInverter, name="pti"):
    """Pivotal tuning: pivot from a nested inverter, then tune the synthesis weights on it."""


    class Params(TuningParams):
        initial: Slot("inverter") = Field(default_factory=_pti_pivot,
                                          description="pivot inverter (PTI: W projector, 450 steps)")
        steps: int = Field(350, ge=0, le=100000, description="maximum tuning steps (PTI: 350)")
        lr: float = Field(3e-4, gt=0, description="Adam learning rate (PTI: 3e-4)")
        losses: ReconstructionParams = Field(
            default_factory=lambda: ReconstructionParams(laplacian=1.0, l2=1.0),
            description="reconstruction losses (PTI: l2 1 + lpips 1)")
        stop: StopRule = Field(default_factory=lambda: StopRule(metric="psnr", threshold=40.0),
                               description="early stop (PTI: lpips <= 0.06)")
        locality: LocalityParams = Field(default_factory=LocalityParams, description="locality regulariser")

    @classmethod
    def check_params(cls, params: "PTIInverter.Params") -> list[str]:
        problems = super().check_params(params)
        if params.locality.enabled and params.locality.lpips > 0:
            why = lpips_problem("alex")
            if why:
                problems.append(f"locality.lpips={params.locality.lpips}: {why}; set it to 0")
        return problems

    def setup(self, original: Generator, tuned: Generator, target: torch.Tensor, pivot: torch.Tensor,
              rng: torch.Generator, discriminator: Any) -> dict[str, Any]:
        loc = self.params.locality
        lpips = None
        if loc.enabled and loc.lpips > 0:
            try:
                lpips = LPIPS("alex").to(target.device)
            except MetricUnavailable as exc:
                raise InversionError(f"pti locality.lpips is unavailable: {exc}") from None
        return {"original": original, "tuned": tuned, "pivot": pivot, "rng": rng, "lpips": lpips}

    def step_loss(self, state: dict[str, Any], recon: torch.Tensor, target: torch.Tensor,
                  step: int) -> tuple[torch.Tensor, dict[str, float]]:
        loss = self.loss(recon, target).sum()
        scalars: dict[str, float] = {"reconstruction": float(loss.detach())}
        loc = self.params.locality
        if loc.enabled and step % loc.interval == 0:
            reg = self.locality_loss(state)
            loss = loss + reg
            scalars["locality"] = float(reg.detach())
        return loss, scalars

    def locality_loss(self, state: dict[str, Any]) -> torch.Tensor:
        loc = self.params.locality
        original, tuned, pivot = state["original"], state["tuned"], state["pivot"]
        z = randn((loc.samples, original.z_dim), state["rng"], pivot)
        with torch.no_grad():
            w_z = original.mapping(z, loc.truncation_psi, None)
            direction = w_z - pivot[:1]
            norm = direction.flatten(1).norm(dim=1).clamp_min(1e-8).reshape(-1, 1, 1)
            w_r = pivot[:1] + loc.alpha * direction / norm
            reference = original.synthesis(w_r, noise_mode="none")
        render = tuned.synthesis(w_r, noise_mode="none")
        reg = loc.l2 * (render - reference).pow(2).mean()
        if state["lpips"] is not None:
            reg = reg + loc.lpips * state["lpips"](render, reference).mean()
        return reg
