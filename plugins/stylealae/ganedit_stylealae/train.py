"""Task ``alae_train``: train StyleALAE (Pidhorskyi et al., CVPR 2020) as the official ``train_alae.py`` does.

Every iteration runs the three steps of Algorithm 1 on one batch of real images x (the losses are
in :mod:`ganedit_stylealae.losses`):

1. **E and D** (optimizer ``encoder``): ``softplus(D(E(G(F(z))))) + softplus(-D(E(x)))`` plus the
   zero-centred R1 penalty ``gamma/2 * ||grad_x D(E(x))||^2`` on reals (gamma 10, every step).
2. **F and G** (optimizer ``decoder``): ``softplus(-D(E(G(F(z)))))`` with E and D frozen.
3. **Latent reciprocity** (both optimizers step): ``mean((E(G(F(z))) - F(z).detach())^2)``.
   The official code also updates **F** here (the gradient reaches F through G's input and F sits
   in the decoder optimizer) although the paper's Algorithm 1 names only E and G;
   ``reciprocity_updates_mapping: true`` (default) is the code's behaviour, ``false`` the paper's.
   D is not reached; as in the official code (PyTorch 1.x ``zero_grad`` keeps zero tensors), the
   encoder optimizer still steps D with a zero gradient, so D's Adam second moment decays twice
   per iteration (its weights do not move in this step).

Optional, ours (off by default): ``pixel_reconstruction: k`` adds ``k * mean((G(E(x)) - x)^2)`` on the
real batch to step 3 (E and G learn to reconstruct real images, not only G's own; see
docs/models.md for its measured effect). ``init_checkpoint`` starts from a trained native file.

Official details kept: Adam with betas (0, 0.99), eps 1e-8, no learning-rate decay, a learning
rate and a batch size per level of detail (LOD), optimizer state reset at every LOD switch,
style mixing (probability 0.9) in steps 1 and 2, generator noise on, random horizontal flips,
the running mean of w (``dlatent_avg``, beta 0.995, updated at every generation), and an EMA copy
of all networks (the official ``_s`` copies) with ``beta = 0.5 ** (images per iteration / 10k)``.

Progressive growing (``schedule: progressive``): LOD k (resolution ``4 * 2**k``) is trained for
``images_per_lod`` images (the official ``EPOCHS_PER_LOD`` epochs), the final LOD until the end;
the first ``transition_images`` of every LOD after the first fade the new block in with
``blend = 0.5 - 0.5 cos(pi t)``, t = images since the LOD started / ``transition_images`` (the
official ``lod_driver.py``); real images are box-downscaled to the LOD and blended the same way.
``schedule: fixed`` trains the final resolution from the start (official ``EPOCHS_PER_LOD: 0``).

Deviations, all for exact resume or clarity: the schedule counts images, not epochs (so resume
lands anywhere, and image folders of any size work); the EMA starts as a copy of the networks
(the official ``_s`` model starts from its own random initialisation); resuming keeps the
optimizer state (the official code resets it on every restart); batch sizes are per process.

Loop, checkpoints, exact resume, TensorBoard, NaN stop and the progress bar come from
:class:`ganedit.training.Trainer`. Under ``torchrun`` the networks are not wrapped in
``DistributedDataParallel``: which parameters a step reaches depends on the LOD (DDP would need
``find_unused_parameters``, which the R1 double backward does not mix with), so gradients are
averaged over processes explicitly, in one all-reduce per optimizer step. The final networks are
written with :meth:`ALAEModel.save_native` (``ema`` and ``live`` sets) to ``OUTPUT/<export>``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, FilePath, field_validator

from ganedit.config import Slot
from ganedit.distributed import all_reduce_mean
from ganedit.io.checkpoint import load_state
from ganedit.io.images import make_grid
from ganedit.training import DataStream, TrainParams, Trainer, TrainTask, make_adam
from ganedit.training.state import is_trainer_checkpoint, load_trainer_checkpoint

from ganedit_stylealae.arch import ALAEArch, ArchitectureError
from ganedit_stylealae.losses import (
    R1_GAMMA,
    STYLE_MIXING_PROB,
    encoder_discriminator_loss,
    fade_in_reals,
    generator_loss,
    pixel_reconstruction_loss,
    reciprocity_loss,
)
from ganedit_stylealae.model import ALAEModel

#: Official ``TRAIN.LEARNING_RATES`` value for every LOD up to 128 px.
DEFAULT_LR = 0.0015
#: Official EMA: a half-life of 10k images.
EMA_HALF_LIFE_IMAGES = 10_000
#: Official ``MODEL.DLATENT_AVG_BETA``.
DLATENT_AVG_BETA = 0.995
FINAL_CHECKPOINT = "stylealae.safetensors"


# --------------------------------------------------------------------------- LOD schedule


@dataclass(frozen=True)
class LODState:
    """Where iteration ``step`` sits in the schedule."""

    step: int
    lod: int
    blend: float            # fade-in factor of block ``lod`` (1: no transition)
    batch_size: int         # per process
    lr: float
    lod_start: int          # first iteration of this LOD
    images_in_lod: int      # images (all processes) seen in this LOD before this iteration


@dataclass(frozen=True)
class LODSchedule:
    """The level-of-detail schedule as a pure function of the iteration number.

    ``images_per_lod=None`` is the fixed-resolution mode. Batch sizes and learning rates are
    indexed by LOD and the last entry repeats (official ``LOD_2_BATCH_*`` / ``LEARNING_RATES``).
    Images are counted over all processes: LOD k < final lasts
    ``ceil(images_per_lod / (batch_sizes[k] * world_size))`` iterations.
    """

    final_lod: int
    images_per_lod: int | None
    transition_images: int
    batch_sizes: tuple[int, ...]
    learning_rates: tuple[float, ...]
    world_size: int = 1

    def __post_init__(self) -> None:
        if not self.batch_sizes or not self.learning_rates:
            raise ValueError("batch_sizes and learning_rates need at least one entry")
        if self.images_per_lod is not None and self.images_per_lod < 1:
            raise ValueError(f"images_per_lod must be >= 1, got {self.images_per_lod}")

    @property
    def progressive(self) -> bool:
        return self.images_per_lod is not None

    def batch_size(self, lod: int) -> int:
        return self.batch_sizes[min(lod, len(self.batch_sizes) - 1)]

    def lr(self, lod: int) -> float:
        return self.learning_rates[min(lod, len(self.learning_rates) - 1)]

    def lod_steps(self, lod: int) -> int:
        """Iterations of LOD ``lod`` (< final) in the progressive mode."""
        assert self.images_per_lod is not None
        return math.ceil(self.images_per_lod / (self.batch_size(lod) * self.world_size))

    def lod_start(self, lod: int) -> int:
        """First iteration of LOD ``lod`` (0 in the fixed mode)."""
        if not self.progressive:
            return 0
        return sum(self.lod_steps(k) for k in range(lod))

    def lod_at(self, step: int) -> int:
        if not self.progressive:
            return self.final_lod
        start = 0
        for lod in range(self.final_lod):
            start += self.lod_steps(lod)
            if step < start:
                return lod
        return self.final_lod

    def at(self, step: int) -> LODState:
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        lod = self.lod_at(step)
        bs = self.batch_size(lod)
        start = self.lod_start(lod)
        seen = (step - start) * bs * self.world_size
        blend = 1.0
        if self.progressive and lod > 0 and seen < self.transition_images:
            # Official lod_driver: sin(t pi - pi/2) / 2 + 1/2, i.e. a cosine ramp from 0 to 1.
            blend = 0.5 - 0.5 * math.cos(math.pi * seen / self.transition_images)
        return LODState(step, lod, blend, bs, self.lr(lod), start, seen)

    def images_before(self, step: int) -> int:
        """Images (all processes) consumed by iterations ``0 .. step-1``."""
        if not self.progressive:
            return step * self.batch_size(self.final_lod) * self.world_size
        total, first = 0, 0
        for lod in range(self.final_lod + 1):
            last = lod == self.final_lod
            end = step if last else min(step, first + self.lod_steps(lod))
            total += max(0, end - first) * self.batch_size(lod) * self.world_size
            if last or step <= end:
                break
            first = end
        return total

    def describe(self) -> str:
        """One line per LOD: resolution, iterations, batch size, learning rate."""
        parts = []
        for lod in range(self.final_lod + 1) if self.progressive else [self.final_lod]:
            start = self.lod_start(lod)
            span = f"{start}-{start + self.lod_steps(lod) - 1}" if self.progressive and lod < self.final_lod \
                else f"{start}-end"
            parts.append(f"lod {lod} ({ALAEArch.lod_resolution(lod)} px): steps {span}, "
                         f"batch {self.batch_size(lod)}, lr {self.lr(lod):g}")
        return "; ".join(parts)


# --------------------------------------------------------------------------- params


class ALAETrainParams(TrainParams):
    """Options of ``alae_train`` (defaults: the official code; see the module doc)."""

    dataset: Slot("dataset") = Field(description="training images, e.g. {type: procedural, params: "  # type: ignore[valid-type]
                                                 "{resolution: 32}} or {type: image_folder, ...}; their "
                                                 "resolution (a power of two) sets the model's")
    # architecture (official MODEL section)
    latent_size: int = Field(256, ge=1, le=4096, description="z = w size (LATENT_SPACE_SIZE)")
    start_channels: int = Field(64, ge=1, description="START_CHANNEL_COUNT: width of the full-resolution blocks")
    max_channels: int = Field(256, ge=1, description="MAX_CHANNEL_COUNT")
    mapping_layers: int = Field(8, ge=1, le=16, description="depth of F (MAPPING_LAYERS)")
    d_activation: Literal["none", "lrelu"] = Field(
        "none", description="latent D: 'none' = official (no activations between its layers), 'lrelu'")
    # schedule
    schedule: Literal["progressive", "fixed"] = Field(
        "progressive", description="'progressive': grow from 4 px with fade-in; 'fixed': final resolution only")
    images_per_lod: int = Field(600_000, ge=1, description="images per LOD before growing (official: "
                                                            "EPOCHS_PER_LOD x dataset size)")
    transition_images: int | None = Field(None, ge=0, description="fade-in length in images at the start "
                                                                   "of each LOD > 0 (default: images_per_lod // 2)")
    batch_sizes: list[int] | None = Field(None, description="per-process batch size per LOD, last entry "
                                                            "repeated (default: batch_size for every LOD)")
    learning_rates: list[float] = Field(default_factory=lambda: [DEFAULT_LR],
                                        description="Adam learning rate per LOD, last entry repeated")
    reset_optimizers: bool = Field(True, description="clear the Adam state at every LOD switch (official)")
    # objective
    r1_gamma: float = Field(R1_GAMMA, ge=0, description="zero-centred R1 weight on reals (0: off)")
    mixing: float = Field(STYLE_MIXING_PROB, ge=0, le=1, description="style-mixing probability (steps 1, 2)")
    reciprocity_updates_mapping: bool = Field(
        True, description="step 3 also updates F (official code); false: only E and G (paper)")
    pixel_reconstruction: float = Field(
        0.0, ge=0, description="ours: weight of an extra real-image term mean((G(E(x)) - x)^2) in step 3 "
                               "(0: the paper and the official code)")
    betas: tuple[float, float] = Field((0.0, 0.99), description="Adam betas (official: 0, 0.99)")
    random_flip: bool = Field(True, description="flip real images horizontally at random (official FLIP_IMAGES)")
    ema_half_life_images: float = Field(EMA_HALF_LIFE_IMAGES, gt=0,
                                        description="EMA of the networks: half-life in images (official 10k)")
    dlatent_avg_beta: float = Field(DLATENT_AVG_BETA, ge=0, lt=1,
                                    description="running mean of w: decay per generation")
    init_checkpoint: FilePath | None = Field(
        None, description="start from this native StyleALAE file (its live networks train, its EMA networks "
                          "seed the EMA; fresh Adam state, as the official code on every restart); the "
                          "architecture fields must match it; a run resuming from its own checkpoint ignores it")
    # outputs
    grid_images: int = Field(8, ge=1, le=64, description="real images in the reconstruction grid")
    n_sample: int = Field(8, ge=1, le=64, description="fixed-z samples in the sample grid")
    export: str = Field(FINAL_CHECKPOINT, description="file name (in the run folder) of the final model")

    @field_validator("batch_sizes")
    @classmethod
    def _batch_sizes(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(b < 1 for b in v)):
            raise ValueError(f"batch_sizes must be a non-empty list of positive integers, got {v}")
        return v

    @field_validator("learning_rates")
    @classmethod
    def _learning_rates(cls, v: list[float]) -> list[float]:
        if not v or any(not lr > 0 for lr in v):
            raise ValueError(f"learning_rates must be a non-empty list of positive numbers, got {v}")
        return v


def make_schedule(params: ALAETrainParams, resolution: int, world_size: int = 1) -> LODSchedule:
    """The LOD schedule of a run at ``resolution`` on ``world_size`` processes."""
    arch_lods = int(round(math.log2(resolution))) - 2  # final LOD
    progressive = params.schedule == "progressive"
    transition = params.images_per_lod // 2 if params.transition_images is None else params.transition_images
    return LODSchedule(final_lod=arch_lods, images_per_lod=params.images_per_lod if progressive else None,
                       transition_images=transition,
                       batch_sizes=tuple(params.batch_sizes or [params.batch_size]),
                       learning_rates=tuple(params.learning_rates), world_size=world_size)


def make_arch(params: ALAETrainParams, resolution: int, channels: int = 3) -> ALAEArch:
    return ALAEArch.from_resolution(resolution, start_channels=params.start_channels,
                                    max_channels=params.max_channels, latent_size=params.latent_size,
                                    mapping_layers=params.mapping_layers, channels=channels,
                                    d_activation=params.d_activation)


@torch.no_grad()
def reciprocity_error(model: ALAEModel, z: torch.Tensor, lod: int | None = None, blend: float = 1.0,
                      noise_seed: int = 0) -> float:
    """``mean((E(G(F(z))) - F(z))^2)`` with seeded generator noise: the quantity step 3 minimises."""
    w = model.mapping_f(z)
    styles = w[:, None].repeat(1, model.arch.num_ws, 1)
    gen = torch.Generator(device=z.device).manual_seed(noise_seed)
    images = model.decoder(styles, lod, blend, "random", generator=gen)
    return float((model.encoder(images, lod, blend) - w).pow(2).mean())


# --------------------------------------------------------------------------- data


class ScheduledStream(DataStream):
    """A :class:`DataStream` whose batch size follows the LOD schedule.

    The trainer draws a batch before calling ``train_step``, so the batch size of iteration
    ``step`` is set here, from ``batch_size_now()`` (the trainer's current iteration).
    """

    def __init__(self, *args: Any, batch_size_now: Callable[[], int], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._batch_size_now = batch_size_now

    def __next__(self) -> Any:
        self.batch_size = self._batch_size_now()
        return super().__next__()


# --------------------------------------------------------------------------- trainer


class ALAETrainer(Trainer):
    """The official three-step StyleALAE loop on :class:`ganedit.training.Trainer`."""

    name = "stylealae"
    params: ALAETrainParams

    # ------------------------------------------------------------------ build
    def build(self) -> None:
        p = self.params
        dataset, res, channels = self.image_dataset(p.dataset, "alae_train")
        try:
            arch = make_arch(p, res, channels)
        except ArchitectureError as exc:
            raise ValueError(f"alae_train: {exc}") from None
        self.arch = arch
        self.resolution = res
        self.schedule = make_schedule(p, res, self.dist.world_size)

        # Official initialisation from the run seed: the same weights on every process.
        model = ALAEModel.random(arch, seed=self.context.seed).to(self.device).train()
        self._broadcast(model)
        self.model = self.add_module("model", model, ddp=False)
        if self.accel.compile:  # the loop calls the model's parts, which the compiled wrapper does not reach
            self._say("compile: alae_train calls its model's parts (mapping, encoder, generator) directly; "
                      "torch.compile does not reach them, so they run eagerly")
        self.add_ema("model_s", "model", decay=0.0, auto=False)
        if p.init_checkpoint is not None:
            self._load_init(Path(p.init_checkpoint), arch)
        self.add_optimizer("encoder", make_adam(
            [{"params": list(model.encoder.parameters())}, {"params": list(model.mapping_d.parameters())}],
            self.schedule.lr(0), tuple(p.betas)))
        self.add_optimizer("decoder", make_adam(
            [{"params": list(model.decoder.parameters())}, {"params": list(model.mapping_f.parameters())}],
            self.schedule.lr(0), tuple(p.betas)))

        self.data = ScheduledStream(dataset, self.schedule.batch_size(0), seed=self.context.seed,
                                    rank=self.dist.rank, world_size=self.dist.world_size, shuffle=True,
                                    num_workers=p.num_workers, device=self.device,
                                    batch_size_now=lambda: self.schedule.at(self.step).batch_size)

        gen = torch.Generator().manual_seed(self.context.seed)
        self.sample_z = torch.randn(p.n_sample, arch.latent_size, generator=gen).to(self.device)
        items = [dataset[i % len(dataset)] for i in range(p.grid_images)]
        self.grid_real = torch.stack([x[0] if isinstance(x, (tuple, list)) else x for x in items]).float().to(self.device)
        self._say(f"alae_train: {res} px, {arch.num_ws} style inputs; {self.schedule.describe()}")

    def _load_init(self, path: Path, arch: ALAEArch) -> None:
        """Live networks and dlatent_avg from ``path``'s live set, the EMA copy from its EMA set."""
        for which, target in (("live", self.model), ("ema", self.ema_modules["model_s"])):
            loaded = ALAEModel.from_checkpoint(path, which=which)
            if loaded.arch != arch:
                raise ValueError(f"init_checkpoint {path}: its architecture {loaded.arch} differs from this "
                                 f"run's {arch}; set latent_size, start_channels, max_channels, "
                                 "mapping_layers and d_activation as it was trained")
            target.load_state_dict(loaded.state_dict())
        self._say(f"alae_train: networks from {path}")

    def _broadcast(self, model: torch.nn.Module) -> None:
        """Rank 0's weights everywhere (they already agree: same seed; this guards the invariant)."""
        if self.dist.distributed:
            import torch.distributed as dist

            for t in list(model.parameters()) + list(model.buffers()):
                dist.broadcast(t.data, src=0)

    def _images_per_step(self) -> int:
        return self.schedule.at(max(self.step - 1, 0)).batch_size * self.dist.world_size

    # ------------------------------------------------------------------ one iteration
    def prepare_reals(self, batch: Any, state: LODState, augment: bool = True) -> torch.Tensor:
        """Real images at the LOD's resolution, faded like the generator during a transition."""
        if isinstance(batch, (tuple, list)):
            batch = batch[0]
        x = batch.float()
        if augment and self.params.random_flip:
            flip = torch.rand(x.shape[0]) < 0.5
            x = torch.where(flip.to(x.device)[:, None, None, None], x.flip(-1), x)
        res = ALAEArch.lod_resolution(state.lod)
        if x.shape[-1] != res:
            # The official TFRecords hold every LOD pre-downscaled by repeated 2x2 box filtering.
            x = F.avg_pool2d(x, x.shape[-1] // res)
        return fade_in_reals(x, state.blend)

    def _track_w(self, z: torch.Tensor) -> None:
        """The official ``dlatent_avg`` update of one generation: lerp toward the batch mean of F(z)."""
        with torch.no_grad():
            w = self.model.mapping_f(z)
            avg = self.model.dlatent_avg
            avg.lerp_(w.mean(0, keepdim=True).expand_as(avg), 1.0 - self.params.dlatent_avg_beta)

    def _average_gradients(self, params: list[torch.Tensor]) -> None:
        """Mean gradient over processes (what DDP does), in one all-reduce; a gradient that is
        missing on every process stays missing (Adam then skips the parameter)."""
        if not self.dist.distributed:
            return
        import torch.distributed as dist

        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        present = torch.tensor([float(p.grad is not None) for p in params], device=self.device)
        flat = torch.cat([g.reshape(-1) for g in grads] + [present])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= self.dist.world_size
        reached = flat[flat.numel() - len(params):] > 0
        offset = 0
        for i, p in enumerate(params):
            n = p.numel()
            if reached[i]:
                p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n

    def _update(self, loss: torch.Tensor, names: tuple[str, ...],
                zero_fill: tuple[torch.nn.Module, ...] = ()) -> None:
        opts = [self.optimizers[n] for n in names]
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        params = [q for opt in opts for group in opt.param_groups for q in group["params"]]

        def between() -> None:
            self._average_gradients(params)
            for module in zero_fill:
                for q in module.parameters():
                    if q.grad is None:
                        q.grad = torch.zeros_like(q)

        self.accel.backward(loss, opts, between)

    def _set_lod(self, state: LODState) -> None:
        for opt in self.optimizers.values():
            for group in opt.param_groups:
                group["lr"] = state.lr
        if (self.params.reset_optimizers and state.step > 0 and state.step == state.lod_start
                and self.schedule.progressive):
            # Official lod_driver.set_epoch: fresh Adam moments for the new LOD.
            for opt in self.optimizers.values():
                opt.state.clear()

    def train_step(self, step: int, batch: Any) -> dict[str, Any]:
        p = self.params
        state = self.schedule.at(step)
        self._set_lod(state)
        lod, blend = state.lod, state.blend
        model = self.model
        x = self.prepare_reals(batch, state)
        b = x.shape[0]

        # Step 1: E and D.
        z = torch.randn(b, self.arch.latent_size, device=self.device)
        self._track_w(z)
        loss_d, logs_d = encoder_discriminator_loss(model, x, z, lod, blend, r1_gamma=p.r1_gamma,
                                                    mixing_prob=p.mixing or None)
        self._update(loss_d, ("encoder",))

        # Step 2: F and G.
        z = torch.randn(b, self.arch.latent_size, device=self.device)
        self._track_w(z)
        loss_g, _ = generator_loss(model, z, lod, blend, mixing_prob=p.mixing or None)
        self._update(loss_g, ("decoder",))

        # Step 3: latent reciprocity; both optimizers step, D with a zero gradient (official).
        z = torch.randn(b, self.arch.latent_size, device=self.device)
        self._track_w(z)
        loss_ae, _ = reciprocity_loss(model, z, lod, blend, update_mapping=p.reciprocity_updates_mapping)
        loss_pixel = pixel_reconstruction_loss(model, x, lod, blend)[0] if p.pixel_reconstruction else None
        if loss_pixel is not None:
            loss_ae = loss_ae + p.pixel_reconstruction * loss_pixel
        self._update(loss_ae, ("encoder", "decoder"), zero_fill=(model.mapping_d,))

        # One running mean of w for every process, so rank 0's checkpoint holds everyone's state.
        all_reduce_mean(model.dlatent_avg, self.dist)
        self.update_ema("model_s", decay=0.5 ** (b * self.dist.world_size / p.ema_half_life_images))
        losses: dict[str, Any] = {"d": loss_d.detach(), "g": loss_g.detach(), "reciprocity": loss_ae.detach(),
                                  "d_real": logs_d["d_real"], "d_fake": logs_d["d_fake"],
                                  "lod": float(lod), "blend": blend}
        if "r1" in logs_d:
            losses["r1"] = logs_d["r1"]
        if loss_pixel is not None:
            losses["pixel"] = loss_pixel.detach()
        return losses

    # ------------------------------------------------------------------ outputs
    def _current_state(self) -> LODState:
        return self.schedule.at(max(self.step - 1, 0))

    def sample_images(self) -> dict[str, torch.Tensor]:
        """Two grids at the current LOD (upscaled to the final resolution for display), noise from a
        fixed seed: ``reconstructions`` (rows: reals, EMA G(E(x)), live G(E(x))) and ``samples``
        (rows: EMA G(F(z)), live G(F(z)) on fixed z), as the official ``save_sample``."""
        state = self._current_state()
        lod, blend = state.lod, state.blend
        ema, live = self.ema_modules["model_s"], self.model
        was = live.training
        live.eval()
        try:
            reals = self.prepare_reals(self.grid_real, state, augment=False)
            rows, samples = [reals], []
            for net in (ema, live):
                gen = torch.Generator().manual_seed(self.context.seed)
                w = net.encoder(reals, lod, blend)
                rows.append(net.decoder(w[:, None].repeat(1, self.arch.num_ws, 1), lod, blend, "random",
                                        generator=gen))
                w = net.mapping_f(self.sample_z)
                samples.append(net.decoder(w[:, None].repeat(1, self.arch.num_ws, 1), lod, blend, "random",
                                           generator=gen))
        finally:
            live.train(was)

        def grid(images: list[torch.Tensor], ncol: int) -> torch.Tensor:
            x = torch.cat(images).float().cpu().clamp(-1, 1)
            x = F.interpolate(x, size=self.resolution, mode="nearest")
            return make_grid(x, nrow=ncol)[None]

        return {"reconstructions": grid(rows, reals.shape[0]), "samples": grid(samples, self.sample_z.shape[0])}

    def finalize(self) -> dict[str, Any]:
        """The native StyleALAE file: EMA (``ema``, loaded by default) and live networks, dlatent_avg."""
        state = self._current_state()
        path = self.context.path(self.params.export)
        meta = {
            "source": "ganedit alae_train",
            "steps": self.step,
            "images_seen": self.schedule.images_before(self.step),
            "trained_lod": state.lod,
            "trained_blend": state.blend,
            "training": self.params.model_dump(mode="json"),
        }
        self.ema_modules["model_s"].save_native(path, which="ema", live=self.model, extra=meta)
        out: dict[str, Any] = {"final_checkpoint": str(path), "resolution": self.resolution,
                               "images_seen": meta["images_seen"], "lod": state.lod, "blend": state.blend}
        if state.lod != self.arch.final_lod or state.blend != 1.0:
            out["note"] = (f"training stopped at lod {state.lod} (blend {state.blend:.3f}) before the final "
                           f"resolution; load it with lod: {state.lod}")
        return out


class ALAETrainTask(TrainTask, name="alae_train"):
    """Train StyleALAE (E, G, F, latent D): official three-step loop, progressive growing, EMA.

    Progressive growing or a fixed resolution, EMA copies, checkpoints, exact resume and DDP
    under torchrun; the final networks are saved natively for the ``stylealae`` components.
    """

    Params = ALAETrainParams
    trainer_class = ALAETrainer

    @classmethod
    def check_params(cls, params: ALAETrainParams) -> list[str]:
        problems = []
        if params.transition_images is not None and params.transition_images > params.images_per_lod:
            problems.append(f"transition_images {params.transition_images} exceeds images_per_lod "
                            f"{params.images_per_lod}")
        return problems

    @classmethod
    def check_compatibility(cls, params: ALAETrainParams, registry: Any) -> list[tuple[str, str]]:
        res = cls.dataset_resolution(params)
        if res is None:
            return []
        if res < 4 or res & (res - 1):
            return [("dataset.params.resolution", f"StyleALAE needs a power-of-two resolution >= 4, got {res}")]
        return []


__all__ = [
    "ALAETrainParams",
    "ALAETrainTask",
    "ALAETrainer",
    "LODSchedule",
    "LODState",
    "make_schedule",
    "reciprocity_error",
]


# --------------------------------------------------------------------------- exporting a snapshot
TRAINER_NAME = ALAETrainer.__name__


def sniff_train_checkpoint(path: str | Path) -> bool:
    """Cheap test for an ``alae_train`` checkpoint (``checkpoints/*.pt``): its trainer name, unpickling nothing."""
    return is_trainer_checkpoint(path, TRAINER_NAME)


def train_checkpoint_models(state: dict[str, Any], source: str | Path = "checkpoint") -> tuple[ALAEModel, ALAEModel]:
    """``(ema, live)`` networks of a loaded ``alae_train`` checkpoint (any step, not only the final one)."""
    p = state["params"]
    arch = ALAEArch.from_resolution(int(p["dataset"]["params"]["resolution"]), start_channels=p["start_channels"],
                                    max_channels=p["max_channels"], latent_size=p["latent_size"],
                                    mapping_layers=p["mapping_layers"], d_activation=p["d_activation"])
    out = []
    for what, sd in (("EMA networks", state["ema"]["model_s"]), ("live networks", state["modules"]["model"])):
        with torch.random.fork_rng(devices=[]):
            model = ALAEModel(arch)
        load_state(model, sd, source, what, arch=f"StyleALAE {arch}")
        out.append(model.eval())
    return out[0], out[1]


def convert_train_checkpoint(src: str | Path, dst: str | Path) -> None:
    """``ganedit convert`` hook: an ``alae_train`` snapshot -> the native file the run would export
    (EMA and live sets, dlatent_avg), so any step can become a model, not only the last one."""
    state = load_trainer_checkpoint(src, TRAINER_NAME)
    ema, live = train_checkpoint_models(state, src)
    ema.save_native(dst, which="ema", live=live,
                    extra={"source": "ganedit alae_train", "converted_from": Path(src).name,
                           "steps": int(state["step"]), "training": state["params"]})
