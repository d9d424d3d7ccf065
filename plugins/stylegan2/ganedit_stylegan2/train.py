"""Task ``stylegan2_train``: train a StyleGAN2 generator and discriminator on a dataset.

The recipe is rosinality's ``train.py`` (Karras et al. 2020): non-saturating logistic loss,
lazy R1 on reals every ``d_reg_every`` D steps, lazy path-length regularization every
``g_reg_every`` G steps on a shrunk batch, style mixing, an EMA generator and Adam with the
lazy-regularization correction. Loop, checkpoints, exact resume, logging and DDP come from
:class:`ganedit.training.Trainer`. The run ends with ``OUTPUT/stylegan2.safetensors``, a native
checkpoint (``g_ema.``/``g.``/``d.``) that the ``stylegan2`` generator component loads.
``init_checkpoint`` continues from (fine-tunes) a trained checkpoint of any format the
``stylegan2`` generator loads.
"""

from __future__ import annotations

import copy
import math
import random
from pathlib import Path
from typing import Any, Mapping

import torch
from pydantic import Field, FilePath, field_validator
from torch import autograd

from ganedit.config import Slot
from ganedit.distributed import all_reduce_mean
from ganedit.losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from ganedit.io.checkpoint import load_state
from ganedit.training import TrainParams, Trainer, TrainTask, make_adam, requires_grad
from ganedit.training.state import is_trainer_checkpoint, load_trainer_checkpoint

from ganedit_stylegan2 import networks
from ganedit_stylegan2.checkpoints import load_checkpoint
from ganedit_stylegan2.networks import estimate_w_avg
from ganedit_stylegan2.native import save_stylegan2_native

#: rosinality's EMA decay: a half-life of 10k images at its reference batch of 32.
DEFAULT_EMA_DECAY = 0.5 ** (32 / (10 * 1000))
FINAL_CHECKPOINT = "stylegan2.safetensors"


def mixing_noise(batch: int, z_dim: int, prob: float, device: torch.device) -> list[torch.Tensor]:
    """One z batch, or two (style mixing) with probability ``prob``.

    Python's ``random`` decides, as in rosinality; its state is part of the training checkpoint.
    """
    if prob > 0 and random.random() < prob:
        return list(torch.randn(2, batch, z_dim, device=device).unbind(0))
    return [torch.randn(batch, z_dim, device=device)]


def path_length_penalty(fake: torch.Tensor, latents: torch.Tensor, mean_path_length: torch.Tensor,
                        decay: float = 0.01) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Path-length regularizer: ``(penalty, updated running mean a, per-sample lengths)``.

    ``|J_w^T y|`` for ``y ~ N(0, I)/sqrt(H W)``, averaged over the ws of each sample; the penalty
    is ``mean((length - a')^2)`` with the already-updated ``a' = a + decay (mean(length) - a)``
    (gradient flows through ``a'``, as in rosinality).
    """
    y = torch.randn_like(fake) / math.sqrt(fake.shape[2] * fake.shape[3])
    (grad,) = autograd.grad(outputs=(fake * y).sum(), inputs=latents, create_graph=True)
    lengths = torch.sqrt(grad.pow(2).sum(2).mean(1))
    path_mean = mean_path_length + decay * (lengths.mean() - mean_path_length)
    penalty = (lengths - path_mean).pow(2).mean()
    return penalty, path_mean.detach(), lengths


class StyleGAN2TrainParams(TrainParams):
    """Options of ``stylegan2_train`` (defaults: rosinality train.py)."""

    dataset: Slot("dataset") = Field(description="training images, e.g. {type: procedural, params: "
                                                 "{resolution: 64}} or {type: image_folder, ...}; "
                                                 "its resolution sets the network's")
    style_dim: int = Field(512, ge=1, le=4096, description="W (and Z) dimension")
    n_mlp: int = Field(8, ge=1, le=16, description="mapping-network depth")
    lr_mlp: float = Field(0.01, gt=0, le=1, description="mapping-network learning-rate multiplier")
    channel_multiplier: int = Field(2, ge=1, le=8, description="width multiplier of the standard table")
    channels: dict[int, int] | None = Field(None, description="explicit widths {resolution: channels} "
                                            "for 4..resolution (overrides the standard table)")
    lr: float = Field(0.002, gt=0, description="Adam learning rate (before the lazy correction)")
    r1: float = Field(10.0, ge=0, description="R1 weight gamma (0: off)")
    d_reg_every: int = Field(16, ge=1, description="lazy R1 interval in D steps")
    path_regularize: float = Field(2.0, ge=0, description="path-length weight (0: off)")
    path_batch_shrink: int = Field(2, ge=1, description="path-length batch = batch_size // this")
    g_reg_every: int = Field(4, ge=1, description="lazy path-length interval in G steps")
    mixing: float = Field(0.9, ge=0, le=1, description="style-mixing probability")
    ema_decay: float = Field(DEFAULT_EMA_DECAY, ge=0, lt=1, description="EMA decay of g_ema per step")
    n_sample: int = Field(16, ge=1, le=256, description="fixed-z samples in each image grid")
    mbstd_group_size: int = Field(4, ge=1, description="discriminator minibatch-stddev group size")
    init_checkpoint: FilePath | None = Field(
        None, description="start from this trained checkpoint (any format the stylegan2 generator loads): g "
                          "from its training generator, or from its g_ema when it has none (the bundled models "
                          "keep only g_ema), g_ema from its g_ema, d from its discriminator (required); fresh "
                          "Adam state; the architecture fields must match it; a run resuming from its own "
                          "checkpoint ignores it")

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: dict[int, int] | None) -> dict[int, int] | None:
        for res, width in (v or {}).items():
            if res < 4 or res & (res - 1) or width < 1:
                raise ValueError(f"channels must map powers of two >= 4 to positive widths, got {res}: {width}")
        return v


def _arch_problems(params: StyleGAN2TrainParams, resolution: int) -> list[str]:
    try:
        networks.resolve_channels(resolution, params.channel_multiplier, params.channels)
    except ValueError as exc:
        return [str(exc)]
    return []


def make_networks(resolution: int, p: Mapping[str, Any]) -> tuple[networks.Generator, networks.Discriminator]:
    """G and D of the architecture ``stylegan2_train``'s settings ``p`` name (a params dump), at
    ``resolution``: what a run builds and what a snapshot of it is exported into."""
    g = networks.Generator(resolution, style_dim=p["style_dim"], n_mlp=p["n_mlp"],
                           channel_multiplier=p["channel_multiplier"], lr_mlp=p["lr_mlp"], channels=p["channels"])
    d = networks.Discriminator(resolution, channel_multiplier=p["channel_multiplier"], channels=p["channels"],
                               mbstd_group_size=p["mbstd_group_size"])
    return g, d


def export_native(path: str | Path, g_ema: networks.Generator, g: networks.Generator, d: networks.Discriminator,
                  metadata: Mapping[str, Any]) -> None:
    """A run's native file: copies of g_ema and g with their truncation centre estimated, and d."""
    nets = {}
    for role, net in (("g_ema", g_ema), ("g", g)):
        net = copy.deepcopy(net).eval()
        net.w_avg.copy_(estimate_w_avg(net))
        nets[role] = net
    save_stylegan2_native(path, g_ema=nets["g_ema"], g=nets["g"], d=d, metadata=metadata)


class StyleGAN2Trainer(Trainer):
    """rosinality's StyleGAN2 training loop on :class:`ganedit.training.Trainer`."""

    name = "stylegan2"
    params: StyleGAN2TrainParams
    #: bf16 under ``precision: auto`` where it is fast (``ganedit.accel.resolve_precision``): over 200
    #: steps of the shipped config bf16 moves the loss curves about as much as a change of seed (R1,
    #: which runs in fp32 like the path length, is the one noisy exception: docs/benchmarks.md,
    #: "bf16 against fp32 (StyleGAN2)")
    default_precision = "bf16"

    def build(self) -> None:
        p = self.params
        dataset, res, _ = self.image_dataset(p.dataset, "stylegan2_train", channels=3)
        problems = _arch_problems(p, res)
        if problems:
            raise ValueError(f"stylegan2_train: {problems[0]}")
        g, d = make_networks(res, p.model_dump())
        self.G = self.add_module("g", g)
        self.D = self.add_module("d", d)
        self.add_ema("g_ema", "g", p.ema_decay)
        if p.init_checkpoint is not None:
            self._load_init(Path(p.init_checkpoint))
        self.add_optimizer("g", make_adam(g.parameters(), p.lr, (0.0, 0.99), p.g_reg_every))
        self.add_optimizer("d", make_adam(d.parameters(), p.lr, (0.0, 0.99), p.d_reg_every))
        self.set_data(dataset)
        self.resolution = res
        self.mean_path_length = torch.zeros((), device=self.device)
        gen = torch.Generator().manual_seed(self.context.seed)
        self.sample_z = torch.randn(p.n_sample, g.z_dim, generator=gen).to(self.device)

    def _load_init(self, path: Path) -> None:
        """g, g_ema and d from ``path`` (g from g_ema when the file has no training generator)."""
        ckpt = load_checkpoint(path)
        g_ema, d = ckpt.generator("ema"), ckpt.discriminator()
        g = ckpt.g if ckpt.g is not None else g_ema
        for what, mine, theirs in (("generator", self.G, g_ema), ("discriminator", self.D, d)):
            if mine.arch != theirs.arch:
                raise ValueError(f"init_checkpoint {path}: its {what} architecture {theirs.arch.model_dump()} "
                                 f"differs from this run's {mine.arch.model_dump()}; set style_dim, n_mlp, "
                                 "lr_mlp, channel_multiplier, channels and mbstd_group_size as it was trained")
        self.G.load_state_dict(g.state_dict())
        self.ema_modules["g_ema"].load_state_dict(g_ema.state_dict())
        self.D.load_state_dict(d.state_dict())
        self._say(f"stylegan2_train: networks from {path}" + ("" if ckpt.g is not None else
                                                               " (g from its g_ema: the file has no g)"))

    def train_step(self, step: int, real: torch.Tensor) -> dict[str, torch.Tensor]:
        p = self.params
        g, d = self.modules["g"], self.modules["d"]
        batch, z_dim = real.shape[0], g.z_dim
        losses: dict[str, torch.Tensor] = {}

        # Discriminator: logistic loss on reals vs. mixed-style fakes.
        requires_grad(g, False)
        requires_grad(d, True)
        fake, _ = self.G(mixing_noise(batch, z_dim, p.mixing, self.device))
        fake_pred = self.D(fake)
        real_pred = self.D(real)
        d_loss = d_logistic_loss(real_pred, fake_pred)
        self.optimize("d", d_loss)
        losses.update(d=d_loss, real_score=real_pred.mean(), fake_score=fake_pred.mean())

        if p.r1 > 0 and self.due(step, p.d_reg_every):
            with self.regularizer():  # float32, eager (double backward)
                real = real.detach().requires_grad_(True)
                real_pred = self.D(real)
                r1 = r1_penalty(real_pred, real)
            # 0 * pred: the R1 graph skips D's last bias, and DDP wants a gradient for every parameter.
            self.optimize("d", p.r1 / 2 * r1 * p.d_reg_every + 0 * real_pred[0, 0])
            losses["r1"] = r1

        # Generator: non-saturating loss.
        requires_grad(g, True)
        requires_grad(d, False)
        fake, _ = self.G(mixing_noise(batch, z_dim, p.mixing, self.device))
        g_loss = g_nonsaturating_loss(self.D(fake))
        self.optimize("g", g_loss)
        losses["g"] = g_loss

        if p.path_regularize > 0 and self.due(step, p.g_reg_every):
            path_batch = max(1, batch // p.path_batch_shrink)
            with self.regularizer():  # float32, eager (double backward)
                fake, latents = self.G(mixing_noise(path_batch, z_dim, p.mixing, self.device), return_latents=True)
                penalty, new_mean, lengths = path_length_penalty(fake, latents, self.mean_path_length)
            weighted = p.path_regularize * p.g_reg_every * penalty + 0 * fake[0, 0, 0, 0]
            self.optimize("g", weighted)
            # One running mean for all processes (rosinality keeps one per GPU), so checkpoints
            # written by rank 0 hold the state every rank continues from.
            self.mean_path_length = all_reduce_mean(new_mean.clone(), self.dist)
            losses.update(path=penalty, path_length=lengths.mean())
        return losses

    def sample_images(self) -> dict[str, torch.Tensor]:
        g_ema = self.ema_modules["g_ema"]
        images, _ = g_ema([self.sample_z], randomize_noise=False)
        return {"fixed_z": images}

    def extra_state(self) -> dict[str, Any]:
        return {"mean_path_length": self.mean_path_length.detach().cpu()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.mean_path_length = state["mean_path_length"].to(self.device)

    def finalize(self) -> dict[str, Any]:
        """The native checkpoint: g_ema (truncation centre estimated), g and d."""
        path = self.context.path(FINAL_CHECKPOINT)
        meta = {
            "source": "ganedit stylegan2_train",
            "steps": self.step,
            "images_seen": self.step * self._images_per_step(),
            "training": self.params.model_dump(mode="json"),
        }
        export_native(path, self.ema_modules["g_ema"], self.modules["g"], self.modules["d"], meta)
        return {"final_checkpoint": str(path), "resolution": self.resolution}


class StyleGAN2Train(TrainTask, name="stylegan2_train"):
    """Train StyleGAN2 (G, D, EMA G) on a dataset: logistic loss, lazy R1 and path length, exact resume."""

    Params = StyleGAN2TrainParams
    trainer_class = StyleGAN2Trainer

    @classmethod
    def check_params(cls, params: StyleGAN2TrainParams) -> list[str]:
        b = params.batch_size
        group = min(b, params.mbstd_group_size)
        if b % group:
            return [f"batch_size {b} must be divisible by the minibatch-stddev group "
                    f"min(batch_size, mbstd_group_size) = {group}"]
        return []

    @classmethod
    def check_compatibility(cls, params: StyleGAN2TrainParams, registry: Any) -> list[tuple[str, str]]:
        res = cls.dataset_resolution(params)
        if res is None:
            return []
        if res not in networks.RESOLUTIONS:
            return [("dataset.params.resolution",
                     f"StyleGAN2 needs a power-of-two resolution in 8..1024, got {res}")]
        return [("channels", msg) for msg in _arch_problems(params, res)]


# --------------------------------------------------------------------------- exporting a snapshot
TRAINER_NAME = StyleGAN2Trainer.__name__


def sniff_train_checkpoint(path: str | Path) -> bool:
    """Cheap test for a ``stylegan2_train`` checkpoint (``checkpoints/*.pt``), unpickling nothing."""
    return is_trainer_checkpoint(path, TRAINER_NAME)


def convert_train_checkpoint(src: str | Path, dst: str | Path) -> None:
    """``ganedit convert`` hook: a ``stylegan2_train`` snapshot (``last.pt`` or ``step-N.pt``) -> the
    native file the run writes at its end, so an interrupted run or any step becomes a model."""
    state = load_trainer_checkpoint(src, TRAINER_NAME)
    p = state["params"]
    rgb = {k.split(".")[1] for k in state["modules"]["g"] if k.startswith("to_rgbs.")}
    resolution = 2 ** (len(rgb) + 2)  # one to_rgb per resolution above 4 px
    with torch.random.fork_rng(devices=[]):  # building initialises weights: leave the caller's RNG alone
        g_ema, d = make_networks(resolution, p)
        g, _ = make_networks(resolution, p)
    loaded = {"g_ema": g_ema, "g": g, "d": d}
    for role, sd in (("g_ema", state["ema"]["g_ema"]), ("g", state["modules"]["g"]), ("d", state["modules"]["d"])):
        load_state(loaded[role], sd, src, f"network {role!r}", arch=f"the {resolution} px architecture of its settings")
    meta = {"source": "ganedit stylegan2_train", "converted_from": Path(src).name, "steps": int(state["step"]),
            "images_seen": int(state["step"]) * int(p["batch_size"]) * int(state.get("world_size", 1)),
            "training": p}
    export_native(dst, loaded["g_ema"], loaded["g"], loaded["d"], meta)
