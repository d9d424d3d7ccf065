"""Generator tuning around a fixed pivot latent: the loop PTI and Near-Perfect inversion share.

Stage 1 runs a nested inverter on the ORIGINAL generator to get the pivot ``ws`` (its optimised
noise maps, if any, are discarded, as PTI does: tuning renders the pivot with the generator's own
constant noise and absorbs the difference). Stage 2 tunes a copy of the generator (the original is
never modified) with Adam; every step renders ``G_theta(pivot)``, checks the stop rule on it (before
the update, so the returned generator is exactly the one that met it), then adds the method's
losses and steps. A NaN/inf image, loss or parameter stops the image with :class:`TuningDiverged`.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from pydantic import Field

from ganedit.accel import Adam, fast_adam_options
from ganedit.config import Slot
from ganedit.context import builder
from ganedit.interfaces import Generator, InversionResult, Inverter, Params
from ganedit.latent import Latent
from ganedit.metrics import psnr

from ganedit_inversion.common import StopCheck, StopRule, make_rng, run_initial
from ganedit_inversion.errors import InversionError, TuningDiverged
from ganedit_inversion.generator_ops import (
    device_of,
    fit_targets,
    clone_noise,
    frozen_copy,
    has_noise_maps,
    parameters_at,
    require_style_api,
    select_parameters,
    synthesize,
    with_noise,
    TuneSelection,
    ws_of,
)
from ganedit_inversion.losses import (
    ReconstructionLoss,
    ReconstructionParams,
    noise_regularization,
    reconstruction_problems,
)
from ganedit_inversion.monitor import Monitor, as_monitor


def optimization_spec(**params: Any) -> dict[str, Any]:
    """A default nested ``optimization`` inverter spec (validated with the Params it defaults)."""
    return {"type": "optimization", "params": params}


class TuningParams(Params):
    """Fields common to generator-tuning inverters (subclasses change the defaults)."""

    initial: Slot("inverter") = Field(default_factory=lambda: optimization_spec(space="w+"),
                                      description="inverter giving the pivot latent (run on the original G)")
    steps: int = Field(350, ge=0, le=100000, description="maximum tuning steps")
    lr: float = Field(3e-4, gt=0, description="Adam learning rate of the generator weights")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas of the generator")
    losses: ReconstructionParams = Field(default_factory=ReconstructionParams,
                                         description="reconstruction loss weights")
    stop: StopRule = Field(default_factory=StopRule, description="early stop (epsilon) rule")
    tune: TuneSelection | list[str] = Field(
        "synthesis", description="parameters to tune: 'synthesis' (all but the mapping network), 'fine' (the "
                                 "synthesis layers of the two finest resolutions, found by running the "
                                 "generator), 'auto' (with fitted noise maps the layers at their resolutions, "
                                 "else 'synthesis'), "
                                 "'all', or a list of parameter-name prefixes")
    tune_noise: bool = Field(False, description="also fit per-image noise maps (the image's own, returned "
                             "with the latent; the generator's constant buffers are left alone)")
    noise_lr: float = Field(0.05, gt=0, description="Adam learning rate of the noise maps")
    noise_strength_lr: float | None = Field(None, ge=0, description="with tune_noise: learning rate of the "
                                            "noise-injection strengths (parameters named '*noise*'); None = lr, "
                                            "0 = keep the generator's strengths")
    noise_layers: int | None = Field(None, ge=1, description="with tune_noise: fit only this many of the finest "
                                     "noise maps (StyleGAN2 has two per resolution: 4 = the two finest "
                                     "resolutions); None = all")
    noise_regularize: float = Field(0.0, ge=0, description="with tune_noise: weight of NVIDIA's noise "
                                    "auto-correlation regulariser on the fitted maps")
    weight_regularize: float = Field(0.0, ge=0, description="weight of ||theta - theta_0||^2 (summed over the "
                                     "tuned weights): keeps the tweak small")
    seed: int | None = Field(None, ge=0, description="seed of random draws (None: from the run seed)")


class GeneratorTuningInverter(Inverter, abc.ABC):
    """Base class: pivot from a nested inverter, then tune a generator copy with method losses
    (messages name the method by the subclass's registered ``name``)."""

    def __init__(self, params: TuningParams, initial: Inverter):
        super().__init__(params)
        self.initial = initial
        self.loss = ReconstructionLoss(params.losses)
        self.stop = StopCheck(params.stop)

    @classmethod
    def from_params(cls, params: TuningParams, context: Any = None) -> "GeneratorTuningInverter":
        return cls(params, builder(context).build("inverter", params.initial))

    @classmethod
    def check_params(cls, params: TuningParams) -> list[str]:
        problems = reconstruction_problems(params.losses, "losses")
        if params.stop.metric == "lpips":
            from ganedit_inversion.losses import lpips_problem

            why = lpips_problem("alex")
            if why:
                problems.append(f"stop.metric='lpips': {why}; use 'psnr' or 'mae'")
        return problems

    @classmethod
    def output_space(cls, params: TuningParams | None = None) -> str:
        if params is None or params.initial.entry is None:
            return "w+"
        space = params.initial.cls.output_space(params.initial.params)
        return "w" if space == "z" else space

    @classmethod
    def required_generator_spaces(cls, params: TuningParams | None = None) -> tuple[str, ...]:
        if params is None or params.initial.entry is None:
            return ("w+",)
        return tuple(params.initial.cls.required_generator_spaces(params.initial.params))

    # ------------------------------------------------------------------ method hooks
    def check_generator(self, generator: Generator, discriminator: Any = None) -> None:
        """Raise a clear error when ``generator`` lacks something the method needs."""
        require_style_api(generator, f"{self.name} inverter")
        check = getattr(self.initial, "check_generator", None)
        if callable(check):  # e.g. an encoder trained for another generator
            check(generator, discriminator)

    def setup(self, original: Generator, tuned: Generator, target: torch.Tensor, pivot: torch.Tensor,
              rng: torch.Generator, discriminator: Any) -> dict[str, Any]:
        """Method state for :meth:`step_loss` (frozen copies, discriminator, optimisers...)."""
        return {}

    @abc.abstractmethod
    def step_loss(self, state: dict[str, Any], recon: torch.Tensor, target: torch.Tensor,
                  step: int) -> tuple[torch.Tensor, dict[str, float]]:
        """The generator loss of one step (reconstruction + method terms) and scalars to log."""

    # ------------------------------------------------------------------ the loop
    @torch.enable_grad()
    def invert(self, generator: Generator, images: torch.Tensor, *, discriminator: Any = None,
               callback: Any = None, start: InversionResult | None = None) -> InversionResult:
        """Stage 1 (the nested inverter) and stage 2 (the tweak). ``start``: the nested inverter's
        result for these images when it was computed beforehand (the ``invert`` task runs it on
        ``batch_size`` images at once); None runs it here."""
        p = self.params
        self.check_generator(generator, discriminator)
        monitor: Monitor = as_monitor(callback)
        target = fit_targets(images, generator, f"{self.name} inverter")
        dev = device_of(generator)
        self.loss.to(dev)
        rng = make_rng(p.seed)

        if start is None:
            pivot, init = run_initial(self.initial, generator, target, monitor, discriminator)
        else:
            init = start
            pivot = ws_of(generator, start.latent, f"{self.name} inverter: start latent").detach().to(dev)
            if pivot.shape[0] != target.shape[0]:
                raise InversionError(f"{self.name} inverter: a start latent of {pivot.shape[0]} images for "
                                     f"{target.shape[0]} images")
        with torch.no_grad():
            initial_images = with_noise(init.generator, init.noise).generate(init.latent).detach()
        space = "w" if init.latent.space == "z" else init.latent.space

        tuned = frozen_copy(generator)
        # Tuned noise maps are this image's state, kept next to the latent (result.noise): the tuned
        # generator's constant buffers stay the original's, so its random samples and every other
        # image are rendered as before. Start from the maps the nested inverter fitted, if any.
        noises = clone_noise(init.noise if init.noise is not None else generator.noise_buffers()) \
            if p.tune_noise and has_noise_maps(generator) else []
        fitted = noises if p.noise_layers is None else noises[-p.noise_layers:]
        if p.tune == "auto":  # the layers at the resolutions of the fitted maps, which carry the detail
            selected = parameters_at(tuned, {int(m.shape[-1]) for m in fitted}) if fitted else \
                select_parameters(tuned, "synthesis")
        else:
            selected = select_parameters(tuned, p.tune)
        # A noise map shows in the image only through its injection strength, which may need to learn
        # faster than the other weights (noise_strength_lr; 0 keeps the generator's strengths).
        own_rate = bool(fitted) and p.noise_strength_lr is not None
        strengths = [prm for name, prm in selected if own_rate and "noise" in name.lower()]
        trainable = [prm for name, prm in selected if not (own_rate and "noise" in name.lower())]
        if strengths and p.noise_strength_lr == 0:
            strengths = []
        for prm in trainable + strengths:
            prm.requires_grad_(True)
        groups = [{"params": trainable, "lr": p.lr}]
        if strengths:
            groups.append({"params": strengths, "lr": p.noise_strength_lr})
        if fitted:
            for n in fitted:
                n.requires_grad_(True)
            groups.append({"params": fitted, "lr": p.noise_lr})
        anchors = [prm.detach().clone() for prm in trainable + strengths] if p.weight_regularize > 0 else []
        opt = Adam(groups, lr=p.lr, betas=p.betas, **fast_adam_options())
        state = self.setup(generator, tuned, target, pivot, rng, discriminator)
        state["noise"] = noises or None  # the image's maps, as the method's terms render the pivot

        history: dict[str, list[float]] = {"loss": [], "psnr": []}
        steps_done, stopped, stop_value = 0, False, None
        recon = None
        for step in monitor.steps(p.steps, self.name):
            recon = synthesize(tuned, pivot, "const", noises or None)
            if not torch.isfinite(recon).all():
                raise TuningDiverged(f"{self.name} inverter", step, "the reconstruction")
            stop_value = self.stop.value(recon.detach(), target)
            value = float(psnr(recon.detach(), target).mean())
            history["psnr"].append(value)
            if self.stop.met(stop_value):
                stopped = True
                monitor.log(step, {"psnr": value})
                break
            loss, scalars = self.step_loss(state, recon, target, step)
            if fitted and p.noise_regularize > 0:
                reg = noise_regularization(fitted)
                loss = loss + p.noise_regularize * reg
                scalars["noise_reg"] = float(reg.detach())
            if anchors:
                reg = sum((prm - a).pow(2).sum() for prm, a in zip(trainable + strengths, anchors))
                loss = loss + p.weight_regularize * reg
                scalars["weight_reg"] = float(reg.detach())
            if not torch.isfinite(loss):
                raise TuningDiverged(f"{self.name} inverter", step, "the loss")
            if loss.requires_grad:  # a step may have no generator term (near_perfect's 1_p gate)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            steps_done = step + 1
            history["loss"].append(float(loss.detach()))
            monitor.log(step, {"loss": float(loss.detach()), "psnr": value, **scalars})
            monitor.hook(self.name, step, {"generator": tuned, "loss": loss, **state})

        tuned.requires_grad_(False)
        for n in noises:
            n.requires_grad_(False)
        tuned.eval()
        if not stopped:
            with torch.no_grad():
                recon = synthesize(tuned, pivot, "const", noises or None)
            if not torch.isfinite(recon).all():
                raise TuningDiverged(f"{self.name} inverter", steps_done, "the reconstruction")
            stop_value = self.stop.value(recon, target)
            history["psnr"].append(float(psnr(recon, target).mean()))
        metrics = {"steps": steps_done, "stopped_early": stopped,
                   "initial_steps": int(init.metrics.get("steps", 0))}
        if stop_value is not None:
            metrics[f"stop_{p.stop.metric}"] = stop_value
        return InversionResult(latent=Latent(space, {"ws": pivot}), generator=tuned, metrics=metrics,
                               history=history, initial_latent=init.latent, initial_images=initial_images,
                               tuned=True, noise=[n.detach() for n in noises] or None)
