"""Pieces shared by the inverters: seeding, nested inverters, stopping rules."""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field

from ganedit.interfaces import Generator, InversionResult, Inverter, Params
from ganedit.metrics import MetricUnavailable, LPIPS
from ganedit.metrics import mae as mae_metric
from ganedit.metrics import psnr as psnr_metric

from ganedit_inversion.errors import InversionError
from ganedit_inversion.generator_ops import ws_of
from ganedit_inversion.monitor import Monitor


def make_rng(seed: int | None) -> torch.Generator:
    """A CPU generator: fixed by ``seed``, or drawn from torch's global RNG (which the task seeds
    per image from the run seed) when ``seed`` is None."""
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    return torch.Generator().manual_seed(int(seed))


def randn(shape: tuple[int, ...], rng: torch.Generator, like: torch.Tensor) -> torch.Tensor:
    """Seeded N(0, 1) drawn on the CPU (identical on every device), moved next to ``like``."""
    return torch.randn(*shape, generator=rng).to(device=like.device, dtype=like.dtype)


def run_initial(inverter: Inverter, generator: Generator, images: torch.Tensor, monitor: Monitor,
                discriminator: Any = None) -> tuple[torch.Tensor, InversionResult]:
    """Run a nested inverter on the ORIGINAL generator; returns its pivot ``ws`` (detached) and result."""
    result = inverter.invert(generator, images, discriminator=discriminator, callback=monitor.child("initial"))
    ws = ws_of(generator, result.latent, f"nested inverter {type(inverter).__name__}").detach()
    return ws, result


class StopRule(Params):
    """Early stop: as soon as the current reconstruction meets ``threshold`` in ``metric``.

    ``psnr`` (dB, stop when >=), ``mae`` (mean absolute error on [-1, 1] images, stop when <=),
    ``lpips`` (stop when <=; needs the LPIPS weights), ``none`` (run every step).
    """

    metric: Literal["psnr", "mae", "lpips", "none"] = Field("psnr", description="stopping metric")
    threshold: float = Field(40.0, description="epsilon: PSNR dB to reach, or MAE/LPIPS to go below")


class StopCheck:
    """Evaluates a :class:`StopRule` on the current reconstruction."""

    def __init__(self, rule: StopRule):
        self.rule = rule
        self.lpips = None
        if rule.metric == "lpips":
            try:
                self.lpips = LPIPS("alex")
            except MetricUnavailable as exc:
                raise InversionError(f"stop.metric='lpips' is unavailable: {exc}") from None

    @torch.no_grad()
    def value(self, x: torch.Tensor, target: torch.Tensor) -> float | None:
        metric = self.rule.metric
        if metric == "psnr":
            return float(psnr_metric(x, target).min())
        if metric == "mae":
            return float(mae_metric(x, target).max())
        if metric == "lpips":
            return float(self.lpips(x, target).max())  # type: ignore[misc]
        return None

    def met(self, value: float | None) -> bool:
        if value is None:
            return False
        if self.rule.metric == "psnr":
            return value >= self.rule.threshold
        return value <= self.rule.threshold
