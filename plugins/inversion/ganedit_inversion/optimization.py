"""Latent optimisation in W or W+ (NVIDIA stylegan2-ada ``projector.py`` schedule).

Per step ``t = step / steps``: Adam's learning rate is ``lr * min(1, t / lr_rampup) *
(0.5 - 0.5 cos(pi * min(1, (1 - t) / lr_rampdown)))``; Gaussian noise of std ``w_std *
latent_noise * max(0, 1 - t / latent_noise_ramp)^2`` is added to the latent before synthesis
(``w_std`` is the spread of mapped samples). Optionally the generator's per-layer noise maps are
optimised too (re-initialised N(0, 1), NVIDIA's auto-correlation regulariser, renormalised after
every step). Unlike NVIDIA's projector, which discards them, the optimised noise maps are returned
as the image's own maps (``keep_noise``: ``InversionResult.noise``, one ``[B, 1, r, r]`` tensor per
layer), so the saved reconstruction is the optimised one; the generator itself is not changed.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from pydantic import Field

from ganedit.accel import Adam
from ganedit.config import Slot
from ganedit.context import builder
from ganedit.interfaces import Generator, InversionResult, Inverter, Params
from ganedit.latent import Latent
from ganedit.metrics import psnr
from ganedit.training.optim import frozen

from ganedit_inversion.common import make_rng, randn, run_initial
from ganedit_inversion.errors import TuningDiverged
from ganedit_inversion.generator_ops import (
    device_of,
    fit_targets,
    has_noise_maps,
    require_style_api,
    synthesize,
    w_statistics,
    with_noise,
)
from ganedit_inversion.losses import (
    ReconstructionLoss,
    ReconstructionParams,
    noise_regularization,
    normalize_noise_,
    reconstruction_problems,
)
from ganedit_inversion.monitor import as_monitor


def learning_rate(step: int, steps: int, lr: float, rampup: float, rampdown: float) -> float:
    """NVIDIA projector schedule: linear warm-up, cosine ramp-down over the last ``rampdown``."""
    t = step / steps
    ramp = min(1.0, (1.0 - t) / rampdown) if rampdown > 0 else 1.0
    ramp = 0.5 - 0.5 * math.cos(ramp * math.pi)
    ramp = ramp * (min(1.0, t / rampup) if rampup > 0 else 1.0)
    return lr * ramp


def latent_noise_scale(step: int, steps: int, w_std: float, factor: float, ramp: float) -> float:
    """Std of the noise added to the latent: decays quadratically to 0 at ``ramp`` of the run."""
    if ramp <= 0:
        return 0.0
    return w_std * factor * max(0.0, 1.0 - (step / steps) / ramp) ** 2


class OptimizationInverter(Inverter, name="optimization"):
    """Optimise a W or W+ latent (and optionally the noise maps) to reproduce the target."""

    class Params(Params):
        space: Literal["w", "w+"] = Field("w+", description="'w': one code broadcast to all layers; "
                                          "'w+': one code per layer")
        steps: int = Field(1000, ge=1, le=100000, description="optimisation steps (NVIDIA: 1000)")
        lr: float = Field(0.1, gt=0, description="peak Adam learning rate (NVIDIA: 0.1)")
        lr_rampup: float = Field(0.05, ge=0, le=1, description="linear warm-up, fraction of the steps")
        lr_rampdown: float = Field(0.25, ge=0, le=1, description="cosine ramp-down, fraction of the steps")
        betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas")
        latent_noise: float = Field(0.05, ge=0, description="initial latent-noise std in units of w_std")
        latent_noise_ramp: float = Field(0.75, ge=0, le=1, description="latent noise reaches 0 at this "
                                         "fraction of the steps")
        w_avg_samples: int = Field(10000, ge=2, le=1_000_000, description="mapped samples for the start "
                                   "point w_avg and the spread w_std")
        w_avg_seed: int = Field(123, ge=0, description="seed of those samples (NVIDIA: 123)")
        optimize_noise: bool = Field(True, description="also optimise the per-layer noise maps (when the "
                                     "generator has them)")
        noise_regularize: float = Field(1e5, ge=0, description="weight of the noise auto-correlation "
                                        "regulariser")
        keep_noise: bool = Field(True, description="return the optimised noise maps with the latent "
                                 "(result.noise; else they are discarded, as NVIDIA's projector does)")
        losses: ReconstructionParams = Field(default_factory=ReconstructionParams,
                                             description="reconstruction loss weights")
        initial: Slot("inverter") | None = Field(None, description="start from this inverter's latent "
                                                 "(e.g. an encoder) instead of w_avg")
        seed: int | None = Field(None, ge=0, description="seed of the noise draws (None: from the run seed)")

    def __init__(self, params: "OptimizationInverter.Params", initial: Inverter | None = None):
        super().__init__(params)
        self.initial = initial
        self.loss = ReconstructionLoss(params.losses)

    @classmethod
    def from_params(cls, params: "OptimizationInverter.Params", context: Any = None) -> "OptimizationInverter":
        initial = builder(context).build("inverter", params.initial) if params.initial is not None else None
        return cls(params, initial)

    @classmethod
    def check_params(cls, params: "OptimizationInverter.Params") -> list[str]:
        return reconstruction_problems(params.losses, "losses")

    @classmethod
    def output_space(cls, params: "OptimizationInverter.Params | None" = None) -> str:
        return params.space if params is not None else "w+"

    @classmethod
    def required_generator_spaces(cls, params: Any = None) -> tuple[str, ...]:
        return (cls.output_space(params),)

    def independent_images(self) -> bool:
        # Per-image reconstruction losses summed, Adam elementwise, a shared schedule: each image's
        # latent gets the gradient and update it would get alone (the latent noise draws differ).
        return self.initial is None or self.initial.independent_images()

    # ------------------------------------------------------------------ inversion
    @torch.enable_grad()
    def invert(self, generator: Generator, images: torch.Tensor, *, discriminator: Any = None,
               callback: Any = None) -> InversionResult:
        # Only the latent (and noise maps) are optimised: with the generator's parameters frozen the
        # backward pass skips every weight gradient (and leaves no .grad on the caller's generator).
        with frozen(generator):
            return self._invert(generator, images, discriminator, callback)

    def _invert(self, generator: Generator, images: torch.Tensor, discriminator: Any,
                callback: Any) -> InversionResult:
        p = self.params
        require_style_api(generator, "optimization inverter")
        monitor = as_monitor(callback)
        target = fit_targets(images, generator, "optimization inverter")
        batch, dev = target.shape[0], device_of(generator)
        rng = make_rng(p.seed)
        self.loss.to(dev)

        w_avg, w_std = w_statistics(generator, p.w_avg_samples, p.w_avg_seed)
        initial_images = None
        if self.initial is not None:
            start_ws, init_result = run_initial(self.initial, generator, target, monitor, discriminator)
            with torch.no_grad():
                initial_images = with_noise(init_result.generator, init_result.noise).generate(
                    init_result.latent).detach()
            start = start_ws if p.space == "w+" else start_ws.mean(1, keepdim=True)
        else:
            start = w_avg.to(dev).reshape(1, 1, -1).repeat(batch, generator.num_ws if p.space == "w+" else 1, 1)
        w_opt = start.detach().clone().float().requires_grad_(True)

        use_noise = p.optimize_noise and has_noise_maps(generator)
        noises: list[torch.Tensor] = []
        if use_noise:
            noises = [randn((batch, 1, *buf.shape[-2:]), rng, w_opt).requires_grad_(True)
                      for buf in generator.noise_buffers()]
        opt = Adam([w_opt] + noises, lr=p.lr, betas=p.betas)

        def render(w: torch.Tensor) -> torch.Tensor:
            ws = w if p.space == "w+" else w.expand(-1, generator.num_ws, -1)
            return synthesize(generator, ws, "const", noises if use_noise else None)

        if initial_images is None:
            with torch.no_grad():
                initial_images = synthesize(generator, w_opt.expand(-1, generator.num_ws, -1)
                                            if p.space == "w" else w_opt, "const").detach()

        history: dict[str, list[float]] = {"loss": [], "psnr": []}
        for step in monitor.steps(p.steps, "optimize"):
            lr = learning_rate(step, p.steps, p.lr, p.lr_rampup, p.lr_rampdown)
            for group in opt.param_groups:
                group["lr"] = lr
            sigma = latent_noise_scale(step, p.steps, w_std, p.latent_noise, p.latent_noise_ramp)
            w_noisy = w_opt + randn(tuple(w_opt.shape), rng, w_opt) * sigma if sigma > 0 else w_opt
            synth = render(w_noisy)
            rec = self.loss(synth, target)
            loss = rec.sum()
            reg = noise_regularization(noises) if use_noise and p.noise_regularize > 0 else None
            if reg is not None:
                loss = loss + p.noise_regularize * reg
            if not torch.isfinite(loss):
                raise TuningDiverged("optimization inverter", step, "the loss")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if use_noise:
                normalize_noise_(noises)
            with torch.no_grad():
                value = float(psnr(synth.detach(), target).mean())
            history["loss"].append(float(loss.detach()))
            history["psnr"].append(value)
            scalars = {"loss": float(loss.detach()), "psnr": value, "lr": lr}
            if reg is not None:
                scalars["noise_reg"] = float(reg.detach())
            monitor.log(step, scalars)
            monitor.hook("optimization", step, {"latent": w_opt, "loss": loss})

        w_final = w_opt.detach()
        ws = w_final if p.space == "w+" else w_final.expand(-1, generator.num_ws, -1).contiguous()
        if not torch.isfinite(ws).all():
            raise TuningDiverged("optimization inverter", p.steps, "the latent")
        latent = Latent(p.space, {"ws": ws.to(dev)})
        kept = [n.detach() for n in noises] if use_noise and p.keep_noise else None
        metrics = {"steps": p.steps, "loss_final": history["loss"][-1]}
        return InversionResult(latent=latent, generator=generator, metrics=metrics, history=history,
                               initial_images=initial_images, noise=kept)
