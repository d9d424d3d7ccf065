"""Task ``swapae_train``: train a Swapping Autoencoder (Park et al., NeurIPS 2020).

The objective follows the official code (``taesungp/swapping-autoencoder-pytorch``); where the
paper and the code differ, the default is the paper's and the code's value is one switch away:

* ``lambda_gan_swap`` (weight of the generator's GAN loss on swapped images): paper 0.5,
  official code 1.0;
* everything else matches both: L1 reconstruction 1.0, GAN on reconstructions 0.5, co-occurrence
  patch GAN 1.0, R1 gamma 10 (image D) and 1 (patch D, 10 for the official mountains model)
  applied every 16 discriminator steps, Adam lr 0.002, betas (0, 0.99) with the
  lazy-regularization correction on the discriminators' optimizer, no EMA, no path-length
  regularization.

Batches: swap pairs are neighbours ``(0, 1), (2, 3), ...`` (so the per-process batch must be
even); ``mix[i] = G(structure of partner(i), texture of i)`` and its co-occurrence reference is
real image ``i``. With ``schedule: alternate`` (official) each minibatch does either a
discriminator step or a generator step (D first); ``joint`` does both on the same minibatch.

Everything else (checkpoints, exact resume, DDP under ``torchrun``, TensorBoard, the progress bar,
NaN detection) comes from :class:`ganedit.training.Trainer`. The final networks are written to
``OUTPUT/<export>`` in the native SwapAE format, loadable with
``ganedit.build('encoder'|'generator', {'type': 'swapae', 'params': {'checkpoint': PATH}})``.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, Iterator, Literal

import torch
from pydantic import Field, FilePath, model_validator

from ganedit.config import Slot
from ganedit.distributed import wrap_ddp
from ganedit.io.checkpoint import CheckpointError
from ganedit.training import TrainParams, Trainer, TrainTask, make_adam

from ganedit_swapae.arch import SwapAEOptions
from ganedit_swapae.checkpoint import PARTS, SwapAEModel, load_swapae, new_model, save_swapae
from ganedit_swapae.invariance import colour_jitter, structure_invariance_loss
from ganedit_swapae.losses import CooccurrenceCritic, gan_loss, r1_image, r1_patch, swap_pairs

NoiseMode = Literal["const", "random", "none"]


class SwapAETrainParams(TrainParams):
    """Options of ``swapae_train`` (defaults: the paper / official code, see the module doc)."""

    dataset: Slot("dataset")  # type: ignore[valid-type]
    model: SwapAEOptions = Field(default_factory=SwapAEOptions,
                                 description="architecture (official option names; unset: the official default "
                                             "or the init checkpoint's); resolution defaults to the dataset's")
    init_checkpoint: FilePath | None = Field(None, description="start from this checkpoint (native or official; "
                                         "tcp_train also takes TCP ones); parts it lacks (e.g. discriminators) "
                                         "start fresh; none: train from scratch")
    # optimisation
    lr: float = Field(0.002, gt=0, description="Adam learning rate (official 0.002)")
    betas: tuple[float, float] = Field((0.0, 0.99), description="Adam betas (official (0, 0.99))")
    schedule: Literal["alternate", "joint"] = Field(
        "alternate", description="alternate: one D or one G step per minibatch, D first (official); "
                                 "joint: a D step then a G step on every minibatch")
    random_flip: bool = Field(True, description="random horizontal flips of the training images (official default)")
    # generator objective
    lambda_l1: float = Field(1.0, ge=0, description="L1 reconstruction (official lambda_L1)")
    lambda_gan_rec: float = Field(0.5, ge=0, description="GAN loss on reconstructions (paper and code: 0.5)")
    lambda_gan_swap: float = Field(0.5, ge=0, description="GAN loss on swaps: paper 0.5, official code 1.0")
    lambda_patch: float = Field(1.0, ge=0, description="co-occurrence patch GAN, G and Dpatch (lambda_PatchGAN)")
    # structure colour invariance (ours: not in the paper or the official code; 0 reproduces them)
    lambda_structure_invariance: float = Field(
        0.0, ge=0, description="ours: L1(G(E_s(jitter(x)), E_t(x)), x), reconstruct from the structure code of "
                               "a colour-jittered copy (ganedit_swapae.invariance); 0: off (paper, official code)")
    invariance_hue: float = Field(0.5, ge=0, le=0.5, description="jitter: largest hue turn, fraction of a full turn")
    invariance_saturation: tuple[float, float] = Field((0.4, 1.6), description="jitter: saturation factor range")
    invariance_brightness: float = Field(0.2, ge=0, le=1, description="jitter: largest brightness shift ([0, 1] units)")
    rec_half_batch: bool = Field(True, description="reconstruct only the first half of the batch (official "
                                                   "memory saving); false: the whole batch")
    # discriminator objective
    d_weight_rec: float = Field(0.5, ge=0, description="weight of reconstructions as fakes in D's loss (official 0.5)")
    d_weight_swap: float = Field(0.5, ge=0, description="weight of swaps as fakes in D's loss (official 0.5)")
    r1_gamma: float = Field(10.0, ge=0, description="R1 gamma of the image D (official lambda_R1)")
    patch_r1_gamma: float = Field(1.0, ge=0, description="R1 gamma of the patch D (official 1; 10 for mountains)")
    r1_every: int = Field(16, ge=1, description="lazy R1: after every this many D steps (official R1_once_every)")
    # bookkeeping
    ema_decay: float = Field(0.0, ge=0, lt=1, description="EMA of E and G per G step (0: none, as official)")
    noise_mode: NoiseMode = Field("random", description="generator noise while training")
    grid_images: int = Field(4, ge=2, le=16, description="images in the fixed swap grid (first dataset items)")
    export: str = Field("swapae.safetensors", min_length=1, description="final model file, relative to the "
                                                                       "output folder")
    export_discriminators: bool = Field(True, description="also store D and Dpatch in the final model")

    @model_validator(mode="after")
    def _even_batch(self) -> "SwapAETrainParams":
        if self.batch_size % 2:
            raise ValueError(f"batch_size must be even (swap pairs are formed within the batch), got {self.batch_size}")
        return self


# ----------------------------------------------------------------------------- networks


def default_patch_size(resolution: int) -> int:
    """Official 128 at 256 px and above; half the image side (a power of two >= 8) below."""
    half = max(8, 2 ** int(math.floor(math.log2(max(resolution, 16) / 2))))
    return min(128, half)


def resolve_model_options(model: SwapAEOptions, resolution: int | None,
                          patch_size: bool = True) -> dict[str, Any]:
    """Explicit options, with the resolution (and, with ``patch_size``, the patch size) derived
    from the data when not given."""
    given = model.given()
    if resolution is not None:
        given.setdefault("resolution", int(resolution))
    if patch_size and "patch_size" not in given:
        given["patch_size"] = default_patch_size(int(given.get("resolution", 256)))
    return given


def trainable(module: torch.nn.Module) -> list[torch.nn.Parameter]:
    """Parameters that take part in training: noise strengths of layers without noise are left
    out (they never get a gradient, which DDP would otherwise wait for)."""
    skip = set()
    for m in module.modules():
        if getattr(m, "use_noise", True) is False and hasattr(m, "noise"):
            skip.update(id(p) for p in m.noise.parameters())
    params = []
    for p in module.parameters():
        if id(p) in skip:
            p.requires_grad_(False)
        else:
            params.append(p)
    return params


def set_requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


# ----------------------------------------------------------------------------- trainer


class SwapAETrainer(Trainer):
    """Swapping Autoencoder training on top of the shared :class:`~ganedit.training.Trainer`."""

    name = "swapae"
    params: SwapAETrainParams
    #: bf16 under ``precision: auto`` where the hardware has it: 300 steps of the shipped config follow
    #: the fp32 loss curves within the seed-to-seed distance (docs/benchmarks.md, "Throughput")
    default_precision = "bf16"

    # ------------------------------------------------------------------ build
    def build_dataset(self) -> torch.utils.data.Dataset:
        return self.context.build("dataset", self.params.dataset)

    def fresh_networks(self, options: dict[str, Any], parts: tuple[str, ...] = PARTS) -> SwapAEModel:
        """Freshly initialised networks (official initialisation)."""
        return new_model(options, parts=parts)

    def load_networks(self, path: Path, options: dict[str, Any]) -> SwapAEModel:
        """The networks stored in ``path`` (parts it lacks are None)."""
        return load_swapae(path, options, parts=PARTS, require=False)

    def build_model(self, resolution: int | None) -> SwapAEModel:
        """Networks from ``init_checkpoint`` (parts it lacks start fresh) or freshly initialised."""
        p = self.params
        if p.init_checkpoint is None:
            return self.fresh_networks(resolve_model_options(p.model, resolution))
        # The checkpoint decides its own patch size; explicit options must agree with it.
        given = resolve_model_options(p.model, resolution, patch_size=False)
        loaded = self.load_networks(Path(p.init_checkpoint), given)
        if loaded.encoder is None or loaded.generator is None:
            raise CheckpointError(f"{p.init_checkpoint}: init_checkpoint needs encoder and generator weights")
        missing = tuple(part for part in PARTS if getattr(loaded, part) is None)
        if missing:
            opts = {**loaded.options, **given}
            if "patch_discriminator" in missing and p.model.patch_size is None:
                opts["patch_size"] = default_patch_size(int(opts["resolution"]))
            fresh = self.fresh_networks(opts, parts=missing)
            for part in missing:
                setattr(loaded, part, getattr(fresh, part))
            loaded.options["patch_size"] = opts["patch_size"]
        for part in PARTS:
            getattr(loaded, part).train()
        return loaded

    def build(self) -> None:
        p = self.params
        dataset = self.build_dataset()
        per_item = int(getattr(dataset, "images_per_item", 1))
        if p.batch_size % per_item:
            raise ValueError(f"batch_size {p.batch_size} must be a multiple of the dataset's images per item "
                             f"({per_item})")
        model = self.build_model(getattr(dataset, "resolution", None))
        self.model_options = dict(model.options)
        self.use_d = (p.lambda_gan_rec > 0 or p.lambda_gan_swap > 0) and model.discriminator is not None
        self.use_patch = p.lambda_patch > 0 and model.patch_discriminator is not None

        self.E = model.encoder.train()
        self.G = model.generator.train()
        self.D = model.discriminator.train()
        self.Dpatch = model.patch_discriminator.train()
        self.g_params = trainable(self.E) + trainable(self.G)
        self.d_params = (list(self.D.parameters()) if self.use_d else []) + \
            (list(self.Dpatch.parameters()) if self.use_patch else [])
        self.E_w = self.add_module("encoder", self.E)
        self.G_w = self.add_module("generator", self.G)
        self.D_w = self.add_module("discriminator", self.D, ddp=self.use_d)
        # Dpatch is used through one callable (reference features once, several queries), so the
        # DDP wrapper goes around that callable instead of the network.
        self.add_module("patch_discriminator", self.Dpatch, ddp=False)
        self.critic = CooccurrenceCritic(self.Dpatch)
        self.critic_w = wrap_ddp(self.critic, self.dist) if self.use_patch else self.critic
        if not self.use_d:
            set_requires_grad(list(self.D.parameters()), False)
        if not self.use_patch:
            set_requires_grad(list(self.Dpatch.parameters()), False)

        reg = p.r1_every if (p.r1_gamma > 0 and self.use_d) or (p.patch_r1_gamma > 0 and self.use_patch) else 0
        self.add_optimizer("g", make_adam(self.g_params, p.lr, p.betas))
        if self.d_params:
            self.add_optimizer("d", make_adam(self.d_params, p.lr, p.betas, reg_every=reg))
        self.r1_due = reg > 0
        if p.ema_decay > 0:
            self.add_ema("encoder_ema", "encoder", p.ema_decay, auto=False)
            self.add_ema("generator_ema", "generator", p.ema_decay, auto=False)

        self.set_data(dataset, batch_size=p.batch_size // per_item)
        n = max(2, p.grid_images // per_item)
        self.grid_real = self.prepare_batch(torch.stack([dataset[i % len(dataset)] for i in range(n)]),
                                            augment=False)[:p.grid_images].to(self.device)
        self.d_steps = 0
        self.g_steps = 0
        self.latest: dict[str, torch.Tensor] = {}

    def _images_per_step(self) -> int:
        # The base class counts dataset items; multi-image items (cross-domain) hold several.
        return self.params.batch_size * self.dist.world_size

    # ------------------------------------------------------------------ batches
    def prepare_batch(self, batch: Any, augment: bool = True) -> torch.Tensor:
        """``[B, 3, H, W]`` images from a batch; items of several images (``[B, K, 3, H, W]``, e.g.
        one per domain) are laid out item by item, so swap pairs are formed inside an item."""
        if isinstance(batch, (list, tuple)):
            batch = batch[0]
        if isinstance(batch, dict):
            batch = batch.get("image", next(iter(batch.values())))
        x = batch.float()
        if x.ndim == 5:
            x = x.flatten(0, 1)
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"training batches must be [B, 3, H, W] images, got {tuple(x.shape)}")
        if augment and self.params.random_flip:
            flip = torch.rand(x.shape[0]) < 0.5
            x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
        return x

    # ------------------------------------------------------------------ steps
    def train_step(self, step: int, batch: Any) -> dict[str, torch.Tensor]:
        real = self.prepare_batch(batch)
        if self.params.schedule == "alternate":
            losses = self.d_step(real) if step % 2 == 0 or not self.d_params else self.g_step(real)
        else:
            losses = self.d_step(real) if self.d_params else {}
            losses.update(self.g_step(real))
        self.latest.update({k: v.detach() for k, v in losses.items()})
        # Every loss seen so far (the other step kind's from its last step), so that each log
        # line and the TensorBoard curves carry all of them whatever the step parity.
        return dict(self.latest)

    def synthesize(self, structure: torch.Tensor, texture: torch.Tensor, wrapped: bool = True) -> torch.Tensor:
        gen = self.G_w if wrapped else self.G
        return gen(structure, texture, noise_mode=self.params.noise_mode)

    def forward_fakes(self, real: torch.Tensor, wrapped: bool) -> dict[str, torch.Tensor]:
        """Codes, reconstructions (first half, or all) and swaps of ``real`` in one G call."""
        enc = self.E_w if wrapped else self.E
        structure, texture = enc(real)
        b = real.shape[0]
        nrec = b // 2 if self.params.rec_half_batch else b
        fakes = self.synthesize(torch.cat([structure[:nrec], swap_pairs(structure)]),
                                torch.cat([texture[:nrec], texture]), wrapped)
        return {"structure": structure, "texture": texture, "rec": fakes[:nrec], "mix": fakes[nrec:]}

    def d_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.params
        set_requires_grad(self.g_params, False)
        set_requires_grad(self.d_params, True)
        self.d_steps += 1
        with torch.no_grad():
            out = self.forward_fakes(real, wrapped=False)
        b, nrec = real.shape[0], out["rec"].shape[0]
        losses: dict[str, torch.Tensor] = {}
        if self.use_d:
            pred = self.D_w(torch.cat([real, out["rec"], out["mix"]]))
            losses["D_real"] = gan_loss(pred[:b], True)
            losses["D_rec"] = gan_loss(pred[b:b + nrec], False) * p.d_weight_rec
            losses["D_mix"] = gan_loss(pred[b + nrec:], False) * p.d_weight_swap
        if self.use_patch:
            agg = self.Dpatch.sampling.use_aggregation
            ref, target, mix = (self.critic.sample_crops(x) for x in (real, real, out["mix"]))
            pred_real, pred_mix = self.critic_w(ref, [target, mix], aggregate=agg)
            losses["PatchD_real"] = gan_loss(pred_real, True) * p.lambda_patch
            losses["PatchD_mix"] = gan_loss(pred_mix, False) * p.lambda_patch
        self.optimize("d", sum(losses.values()))
        if self.r1_due and self.d_steps % p.r1_every == 0:
            with self.regularizer():  # float32, eager (double backward)
                penalty = real.new_zeros(())
                if self.use_d and p.r1_gamma > 0:
                    penalty = penalty + r1_image(self.D_w, real, p.r1_gamma)
                if self.use_patch and p.patch_r1_gamma > 0:
                    penalty = penalty + r1_patch(self.critic_w, self.critic, real, p.patch_r1_gamma,
                                                 self.Dpatch.sampling.use_aggregation)
            self.optimize("d", penalty * p.r1_every)
            losses["D_R1"] = penalty
        return losses

    def generator_losses(self, real: torch.Tensor, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The SwapAE generator objective (weighted terms, official names)."""
        p = self.params
        losses: dict[str, torch.Tensor] = {}
        rec, mix = out["rec"], out["mix"]
        if p.lambda_l1 > 0:
            losses["G_L1"] = (rec - real[:rec.shape[0]]).abs().mean() * p.lambda_l1
        if self.use_d:
            # D's parameters are frozen here, so the plain module suffices (no DDP reduction).
            pred = self.D(torch.cat([rec, mix]))
            if p.lambda_gan_rec > 0:
                losses["G_GAN_rec"] = gan_loss(pred[:rec.shape[0]], True) * p.lambda_gan_rec
            if p.lambda_gan_swap > 0:
                losses["G_GAN_mix"] = gan_loss(pred[rec.shape[0]:], True) * p.lambda_gan_swap
        if self.use_patch:
            (pred_mix,) = self.critic(self.critic.sample_crops(real), [self.critic.sample_crops(mix)],
                                      aggregate=self.Dpatch.sampling.use_aggregation, detach_reference=True)
            losses["G_mix"] = gan_loss(pred_mix, True) * p.lambda_patch
        if p.lambda_structure_invariance > 0:
            losses["G_inv"] = self.invariance_loss(real, out) * p.lambda_structure_invariance
        return losses

    def invariance_loss(self, real: torch.Tensor, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """The structure colour-invariance term on the reconstructed images (``ganedit_swapae.invariance``)."""
        p = self.params
        n = out["rec"].shape[0]
        return structure_invariance_loss(
            self.E, lambda c, t: self.synthesize(c, t, wrapped=False), real[:n], out["texture"][:n],
            lambda x: colour_jitter(x, p.invariance_hue, p.invariance_saturation, p.invariance_brightness))

    def g_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        set_requires_grad(self.d_params, False)
        set_requires_grad(self.g_params, True)
        self.g_steps += 1
        out = self.forward_fakes(real, wrapped=True)
        losses = self.generator_losses(real, out)
        self.optimize("g", sum(losses.values()))
        if self.params.ema_decay > 0:
            self.update_ema("encoder_ema")
            self.update_ema("generator_ema")
        return losses

    # ------------------------------------------------------------------ outputs
    def inference_networks(self) -> tuple[torch.nn.Module, torch.nn.Module]:
        """``(E, G)`` for grids and export: the EMA copies when kept."""
        if self.params.ema_decay > 0:
            return self.ema_modules["encoder_ema"], self.ema_modules["generator_ema"]
        return self.E, self.G

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[tuple[torch.nn.Module, torch.nn.Module]]:
        """:meth:`inference_networks` in eval mode for the block (their modes restored after)."""
        enc, gen = self.inference_networks()
        was = enc.training, gen.training
        enc.eval()
        gen.eval()
        try:
            yield enc, gen
        finally:
            enc.train(was[0])
            gen.train(was[1])

    def sample_images(self) -> dict[str, torch.Tensor]:
        """The fixed swap grid: top row texture references, left column structure inputs, cell
        (i, j) = G(structure_i, texture_j) with fixed noise; the diagonal is the reconstruction."""
        with self.evaluating() as (enc, gen):
            real = self.grid_real
            structure, texture = enc(real)
            n = real.shape[0]
            rows = [torch.cat([torch.ones_like(real[:1]), real])]
            for i in range(n):
                swaps = gen(structure[i:i + 1].expand(n, -1, -1, -1), texture, noise_mode="const")
                rows.append(torch.cat([real[i:i + 1], swaps]))
        return {"swap_grid": torch.cat(rows)}

    def extra_state(self) -> dict[str, Any]:
        return {"d_steps": self.d_steps, "g_steps": self.g_steps,
                "latest": {k: v.detach().cpu() for k, v in self.latest.items()}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.d_steps = int(state.get("d_steps", 0))
        self.g_steps = int(state.get("g_steps", 0))
        self.latest = {k: v.to(self.device) for k, v in dict(state.get("latest", {})).items()}

    def export_path(self) -> Path:
        return self.context.path(self.params.export)

    def export_model(self, path: Path) -> None:
        """Write the final networks natively (``ganedit_swapae.checkpoint.save_swapae``)."""
        enc, gen = self.inference_networks()
        model = SwapAEModel(encoder=enc, generator=gen, options=dict(self.model_options),
                            meta={"format": "ganedit.swapae_train", "steps": self.step})
        if self.params.export_discriminators:
            model.discriminator = self.D if self.use_d else None
            model.patch_discriminator = self.Dpatch if self.use_patch else None
        save_swapae(path, model, extra={"trainer": type(self).__name__, "steps": self.step})

    def finalize(self) -> dict[str, Any]:
        path = self.export_path()
        self.export_model(path)
        return {"model": str(path)}


class SwapAETrainTask(TrainTask, name="swapae_train"):
    """Train a Swapping Autoencoder on an image folder or the procedural dataset (paper objective,
    official training details; checkpoints, exact resume, TensorBoard, DDP under torchrun)."""

    Params = SwapAETrainParams
    trainer_class = SwapAETrainer

    @classmethod
    def check_params(cls, params: SwapAETrainParams) -> list[str]:
        # init_checkpoint is checked when the run starts (a config may name a model still to be trained).
        problems = []
        if params.lambda_l1 == params.lambda_gan_rec == params.lambda_gan_swap == params.lambda_patch == 0:
            problems.append("every generator loss weight is 0: nothing to train")
        return problems


__all__ = [
    "SwapAETrainParams",
    "SwapAETrainTask",
    "SwapAETrainer",
    "default_patch_size",
    "resolve_model_options",
]
