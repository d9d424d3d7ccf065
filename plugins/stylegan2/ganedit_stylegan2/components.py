"""The registered StyleGAN2 components: generator ``stylegan2`` and discriminator ``stylegan2``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal, Sequence

import torch
from pydantic import Field, FilePath, field_validator

import ganedit
from ganedit.interfaces import NoiseMode, check_latent
from ganedit.latent import Latent, LatentError

from ganedit_stylegan2 import networks
from ganedit_stylegan2.checkpoints import load_checkpoint
from ganedit_stylegan2.native import save_stylegan2_native
from ganedit_stylegan2.networks import estimate_w_avg

_RES_DOC = "output resolution, a power of two in 8..1024 (ignored when a checkpoint is given)"


def _power_of_two(v: int) -> int:
    if v not in networks.RESOLUTIONS:
        raise ValueError(f"must be a power of two in 8..1024, got {v}")
    return v


def _check_channels(v: dict[int, int] | None) -> dict[int, int] | None:
    if v is None:
        return v
    for res, width in v.items():
        if res < 4 or res > 1024 or res & (res - 1):
            raise ValueError(f"channels keys must be resolutions 4..1024 (powers of two), got {res}")
        if width < 1:
            raise ValueError(f"channel width for {res} must be positive, got {width}")
    return v


def _channels_problems(resolution: int, channels: dict[int, int] | None) -> list[str]:
    if channels is None:
        return []
    missing = [r for r in (2**i for i in range(2, resolution.bit_length())) if r not in channels]
    return [f"channels misses resolutions {missing} (needs every power of two 4..{resolution})"] if missing else []


class _CheckpointFields(ganedit.Params):
    checkpoint: FilePath | None = Field(
        None, description="checkpoint file (rosinality .pt, NVIDIA .pkl or ganedit native "
                          ".safetensors); None = random init from the architecture fields and `seed`")
    format: Literal["auto", "rosinality", "nvidia", "native"] = Field(
        "auto", description="checkpoint format; 'auto' sniffs the file")
    resolution: int = Field(256, ge=8, le=1024, description=_RES_DOC)
    channel_multiplier: int = Field(2, ge=1, le=8, description="width multiplier of the standard channel "
                                    "table (2 = config-F); ignored with a checkpoint or `channels`")
    channels: dict[int, int] | None = Field(
        None, description="explicit widths {resolution: channels} for 4..resolution (overrides the "
                          "standard table); ignored with a checkpoint")
    conv_clamp: float | None = Field(None, gt=0, description="clamp activations to +-conv_clamp as NVIDIA "
                                     "does (None = off); ignored with a checkpoint")
    seed: int = Field(0, ge=0, description="seed of the random initialisation (no checkpoint)")

    _resolution = field_validator("resolution")(_power_of_two)
    _channels = field_validator("channels")(_check_channels)

    def random_network(self, build: Callable[[], Any]) -> tuple[Any, str]:
        """``(build(), source)`` with torch's RNG seeded from ``seed`` (the caller's RNG untouched)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            return build(), f"random init (seed {self.seed})"


class StyleGAN2Generator(ganedit.Generator, name="stylegan2"):
    """StyleGAN2 config-F generator (mapping + skip synthesis) from a rosinality, NVIDIA or native
    checkpoint, or randomly initialised."""

    latent_space_names: ClassVar[tuple[str, ...]] = ("z", "w", "w+")

    class Params(_CheckpointFields):
        which: Literal["ema", "train"] = Field(
            "ema", description="'ema' = the EMA generator (g_ema, G_ema), 'train' = the training generator")
        style_dim: int = Field(512, ge=1, le=4096, description="W dimension (ignored with a checkpoint)")
        z_dim: int | None = Field(None, ge=1, le=4096,
                                  description="Z dimension, default style_dim (ignored with a checkpoint)")
        n_mlp: int = Field(8, ge=1, le=16, description="mapping-network depth (ignored with a checkpoint)")
        lr_mlp: float = Field(0.01, gt=0, le=1, description="mapping-network lr multiplier "
                              "(ignored with a checkpoint)")

    def __init__(self, net: networks.Generator, discriminator: networks.Discriminator | None = None,
                 source: str = "random init"):
        super().__init__()
        self.net = net.eval()
        self.z_dim = net.z_dim
        self.w_dim = net.style_dim
        self.num_ws = net.n_latent
        self.img_resolution = net.size
        self.source = source
        # Kept out of the module tree so G.parameters()/state_dict() stay the generator's own.
        self.__dict__["_discriminator"] = (StyleGAN2Discriminator(discriminator, source)
                                           if discriminator is not None else None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_params(cls, params: "StyleGAN2Generator.Params", context: Any = None) -> "StyleGAN2Generator":
        if params.checkpoint is None:
            net, source = params.random_network(lambda: networks.Generator(
                params.resolution, style_dim=params.style_dim, n_mlp=params.n_mlp,
                channel_multiplier=params.channel_multiplier, lr_mlp=params.lr_mlp,
                channels=params.channels, conv_clamp=params.conv_clamp, z_dim=params.z_dim))
            net.w_avg.copy_(estimate_w_avg(net))
            return cls(net, source=source)
        ckpt = load_checkpoint(params.checkpoint, params.format)
        net = ckpt.generator(params.which)
        return cls(net, ckpt.d, source=f"{ckpt.format}:{Path(params.checkpoint).name}[{params.which}]")

    @classmethod
    def check_params(cls, params: "StyleGAN2Generator.Params") -> list[str]:
        return _channels_problems(params.resolution, params.channels)

    @classmethod
    def latent_spaces(cls, params: Any = None) -> tuple[str, ...]:
        return cls.latent_space_names

    # ------------------------------------------------------------------ StyleGAN API
    @property
    def device(self) -> torch.device:
        return self.net.w_avg.device

    @property
    def w_avg(self) -> torch.Tensor:
        """The truncation centre ``[w_dim]``."""
        return self.net.w_avg

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """``z [B, z_dim] -> ws [B, num_ws, w_dim]``, truncated toward ``w_avg`` on layers
        ``< truncation_cutoff`` (all layers when None): ``w_avg + psi * (w - w_avg)``."""
        w = self.net.mapping(z)
        ws = w.unsqueeze(1).repeat(1, self.num_ws, 1)
        return self.net.truncate(ws, truncation_psi, truncation_cutoff)

    def synthesis(self, ws: torch.Tensor, noise_mode: NoiseMode = "const",
                  noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """Images ``[B, 3, R, R]`` from ``ws [B, num_ws, w_dim]``.

        ``noise_mode``: ``const`` = the stored noise buffers, ``random`` = fresh N(0,1) per sample,
        ``none`` = no noise; an explicit per-layer ``noise`` list overrides (e.g. optimised copies
        of :meth:`noise_buffers`).
        """
        return self.net.synthesis(ws, noise=noise, noise_mode=noise_mode)

    def generate(self, latent: Latent, noise_mode: NoiseMode = "const",
                 noise: Sequence[torch.Tensor | None] | None = None) -> torch.Tensor:
        """Images from a latent in ``z`` (mapped, no truncation), ``w`` or ``w+``."""
        check_latent(latent, self.latent_spaces(), "stylegan2 generator")
        if latent.space == "z":
            ws = self.mapping(latent.z)
        else:
            ws = latent.ws
            if ws.shape[1:] != (self.num_ws, self.w_dim):
                raise LatentError(f"stylegan2 generator expects ws [B, {self.num_ws}, {self.w_dim}], "
                                  f"got {tuple(ws.shape)}")
        return self.synthesis(ws, noise_mode=noise_mode, noise=noise)

    def forward(self, latent: Latent, noise_mode: NoiseMode = "const") -> torch.Tensor:
        return self.generate(latent, noise_mode)

    def sample_z(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard-normal ``z [batch, z_dim]`` (drawn on the torch.Generator's device, then moved)."""
        dev = generator.device if generator is not None else torch.device("cpu")
        return torch.randn(batch, self.z_dim, generator=generator, device=dev).to(self.device)

    @torch.no_grad()
    def sample_latent(self, batch: int, generator: torch.Generator | None = None,
                      truncation_psi: float = 1.0) -> Latent:
        """Random W latents ``mapping(z)`` (optionally truncated toward ``w_avg``)."""
        return Latent.w(self.mapping(self.sample_z(batch, generator), truncation_psi))

    def noise_buffers(self) -> list[torch.Tensor]:
        """The stored noise maps ``[1, 1, r, r]`` in layer order (``noises.noise_0..``)."""
        return self.net.noise_buffers()

    def style_mix(self, ws_a: torch.Tensor, ws_b: torch.Tensor, inject_index: int) -> torch.Tensor:
        """W+ codes taking layers ``< inject_index`` from ``ws_a`` and the rest from ``ws_b``."""
        if not 0 <= inject_index <= self.num_ws:
            raise ValueError(f"inject_index must be in 0..{self.num_ws}, got {inject_index}")
        return torch.cat([ws_a[:, :inject_index], ws_b[:, inject_index:]], 1)

    def discriminator(self) -> "StyleGAN2Discriminator | None":
        d = self.__dict__.get("_discriminator")
        if d is not None and d.net.final_linear[1].weight.device != self.device:
            d.to(self.device)
        return d

    def save(self, path: str | os.PathLike) -> None:
        """Write this generator (as ``g_ema``) and its discriminator to a native checkpoint."""
        d = self.__dict__.get("_discriminator")
        save_stylegan2_native(path, g_ema=self.net, d=d.net if d is not None else None,
                              metadata={"source": self.source})

    def extra_repr(self) -> str:
        return f"resolution={self.img_resolution}, w_dim={self.w_dim}, num_ws={self.num_ws}, source={self.source!r}"


class StyleGAN2Discriminator(ganedit.Discriminator, name="stylegan2"):
    """StyleGAN2 residual discriminator with minibatch stddev (raw logits ``[B, 1]``)."""

    class Params(_CheckpointFields):
        mbstd_group_size: int | None = Field(4, ge=1, description="minibatch-stddev group size "
                                             "(None = whole batch); ignored with a checkpoint")
        mbstd_num_channels: int = Field(1, ge=1, description="minibatch-stddev feature channels; "
                                        "ignored with a checkpoint")

    def __init__(self, net: networks.Discriminator, source: str = "random init"):
        super().__init__()
        self.net = net.eval()
        self.img_resolution = net.size
        self.source = source

    @classmethod
    def from_params(cls, params: "StyleGAN2Discriminator.Params", context: Any = None) -> "StyleGAN2Discriminator":
        if params.checkpoint is None:
            return cls(*params.random_network(lambda: networks.Discriminator(
                params.resolution, channel_multiplier=params.channel_multiplier, channels=params.channels,
                mbstd_group_size=params.mbstd_group_size, mbstd_num_channels=params.mbstd_num_channels,
                conv_clamp=params.conv_clamp)))
        ckpt = load_checkpoint(params.checkpoint, params.format)
        return cls(ckpt.discriminator(), source=f"{ckpt.format}:{Path(params.checkpoint).name}[d]")

    @classmethod
    def check_params(cls, params: "StyleGAN2Discriminator.Params") -> list[str]:
        return _channels_problems(params.resolution, params.channels)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)

    def extra_repr(self) -> str:
        return f"resolution={self.img_resolution}, source={self.source!r}"
