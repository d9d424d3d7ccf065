"""ganedit components of StyleALAE: generator (F + G), encoder (E) and image discriminator (D o E).

All three load the same files: an official ALAE ``.pth`` (EMA ``_s`` networks by default,
``which: live`` for the others) or a native ``.safetensors`` written by ``ganedit convert`` or by
:meth:`ALAEModel.save_native`; with ``checkpoint: null`` they are randomly initialised from the
architecture fields and ``seed``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, FilePath

import ganedit
from ganedit.interfaces import NoiseMode, check_latent
from ganedit.io.checkpoint import CheckpointError
from ganedit.latent import Latent, LatentError
from ganedit_stylealae.arch import ALAEArch, ArchitectureError
from ganedit_stylealae.encoder_net import BlockStatistics
from ganedit_stylealae.model import ALAEModel

#: Architecture used for random initialisation when a field is left unset.
RANDOM_DEFAULTS = {"resolution": 32, "latent_size": 128, "start_channels": 32, "max_channels": 128,
                   "mapping_layers": 8, "channels": 3}


class ALAEParams(ganedit.Params):
    """Parameters shared by the StyleALAE components."""

    checkpoint: FilePath | None = Field(None, description="official ALAE .pth or native .safetensors; "
                                                          "null = random init from the architecture fields and seed")
    which: Literal["ema", "live"] = Field("ema", description="EMA ('_s') networks, as every official "
                                                            "inference script, or the live ones")
    official_config: FilePath | None = Field(None, description="official yacs YAML to take the architecture "
                                                               "from (default: inferred from tensor shapes)")
    lod: int | None = Field(None, ge=0, description="level of detail (resolution 4 * 2**lod); null = final")
    blend: float = Field(1.0, gt=0.0, le=1.0, description="fade-in factor of the newest LOD (1 = none)")
    resolution: int | None = Field(None, ge=4, description="architecture: final resolution 2**(LAYER_COUNT+1); "
                                                            "null = the checkpoint's (random init: 32)")
    latent_size: int | None = Field(None, ge=1, description="architecture: z = w size (random init: 128)")
    start_channels: int | None = Field(None, ge=1, description="architecture: START_CHANNEL_COUNT (random init: 32)")
    max_channels: int | None = Field(None, ge=1, description="architecture: MAX_CHANNEL_COUNT (random init: 128)")
    mapping_layers: int | None = Field(None, ge=1, description="architecture: depth of F (random init: 8)")
    channels: int | None = Field(None, ge=1, description="architecture: image channels (random init: 3)")
    d_activation: Literal["none", "lrelu"] | None = Field(
        None, description="latent D: 'none' = official (no activations between layers), 'lrelu' for new "
                          "models; null = the checkpoint's (random init: 'none')")
    seed: int = Field(0, ge=0, description="seed of the random initialisation (checkpoint: null)")


def _arch_fields(params: ALAEParams) -> dict[str, Any]:
    return {k: getattr(params, k) for k in RANDOM_DEFAULTS if getattr(params, k) is not None}


def check_alae_params(params: ALAEParams) -> list[str]:
    problems = []
    if params.resolution is not None:
        r = params.resolution
        if r & (r - 1):
            problems.append(f"resolution must be a power of two, got {r}")
        elif params.lod is not None and 4 * 2**params.lod > r:
            problems.append(f"lod {params.lod} (resolution {4 * 2**params.lod}) exceeds resolution {r}")
    if params.blend != 1.0 and params.lod == 0:
        problems.append("blend < 1 (fade-in) needs lod >= 1")
    if params.checkpoint is None and params.official_config is not None:
        problems.append("official_config needs a checkpoint")
    return problems


def load_model(params: ALAEParams, parts: tuple[str, ...]) -> ALAEModel:
    """Build the networks ``parts`` from a checkpoint or at random, honouring the architecture fields."""
    fields = _arch_fields(params)
    if params.checkpoint is None:
        spec = {**RANDOM_DEFAULTS, **fields}
        try:
            arch = ALAEArch.from_resolution(spec.pop("resolution"), d_activation=params.d_activation or "none",
                                            **spec)
        except ArchitectureError as exc:
            raise ValueError(str(exc)) from None
        model = ALAEModel.random(arch, params.seed, parts)
    else:
        model = ALAEModel.from_checkpoint(params.checkpoint, parts, which=params.which,
                                          official_config=params.official_config)
        arch = model.arch
        have = {"resolution": arch.resolution, **{k: getattr(arch, k) for k in RANDOM_DEFAULTS if k != "resolution"}}
        wrong = [f"{k}={v} (checkpoint has {have[k]})" for k, v in fields.items() if have[k] != v]
        if wrong:
            raise CheckpointError(f"{params.checkpoint}: parameters disagree with the checkpoint: {', '.join(wrong)}")
        if params.d_activation not in (None, arch.d_activation) and "mapping_d" in parts:
            raise CheckpointError(f"{params.checkpoint}: d_activation={params.d_activation!r}, but the "
                                  f"checkpoint's latent D was trained with {arch.d_activation!r}")
    model.arch.check_lod(params.lod)
    return model.eval()


def _fit_resolution(images: torch.Tensor, resolution: int, who: str) -> torch.Tensor:
    """Official preprocessing: box-downscale larger images (integer factor, else adaptive pooling)."""
    if images.ndim != 4:
        raise ValueError(f"{who} expects images [B, C, H, W], got {tuple(images.shape)}")
    h, w = images.shape[-2:]
    if (h, w) == (resolution, resolution):
        return images
    if h < resolution or w < resolution:
        raise ValueError(f"{who} works at {resolution}x{resolution}; got smaller images {h}x{w} "
                         "(upscaling is not done implicitly)")
    if h == w and h % resolution == 0:
        return F.avg_pool2d(images, h // resolution)
    return F.adaptive_avg_pool2d(images, resolution)


class ALAEPart:
    """Mixin of the StyleALAE components (first base): the shared params and their checks, and the
    networks (:attr:`parts`) a component takes from an :class:`ALAEModel` at a level of detail."""

    parts: ClassVar[tuple[str, ...]] = ()
    Params: ClassVar[type[ALAEParams]] = ALAEParams

    @classmethod
    def check_params(cls, params: ALAEParams) -> list[str]:
        return check_alae_params(params)

    @classmethod
    def from_params(cls, params: ALAEParams, context: Any = None) -> Any:
        return cls(load_model(params, cls.parts), params.lod, params.blend)

    def take(self, model: ALAEModel, lod: int | None, blend: float) -> None:
        """Keep ``model``'s networks :attr:`parts`, its architecture and the level of detail."""
        if any(getattr(model, part) is None for part in self.parts):
            raise ValueError(f"{type(self).__name__} needs a model with {' and '.join(self.parts)}")
        self.arch = model.arch
        for part in self.parts:
            setattr(self, part, getattr(model, part))
        self.lod = model.arch.check_lod(lod)
        self.blend = float(blend)
        self.img_resolution = ALAEArch.lod_resolution(self.lod)
        self.which = model.which


# --------------------------------------------------------------------------- generator


class StyleALAEGenerator(ALAEPart, ganedit.Generator, name="stylealae"):
    """StyleALAE generator: mapping F (z -> w) and StyleGAN-v1 synthesis G driven by w per style slot.

    ``noise_mode``: ``'const'`` = the official deterministic ``noise=False`` path (adds a fixed
    bump per noise site, not zero), ``'random'`` = fresh noise in the official draw order from the
    global RNG (the official reconstruction/demo setting), ``'none'`` = nothing added.
    """

    parts = ("mapping_f", "decoder")

    class Params(ALAEParams):
        truncation_cutoff: int | None = Field(None, ge=1, description="sample_latent truncates slots < cutoff "
                                                                      "(official generation figures: 8)")

    def __init__(self, model: ALAEModel, lod: int | None = None, blend: float = 1.0,
                 truncation_cutoff: int | None = None, params: "StyleALAEGenerator.Params | None" = None):
        super().__init__()
        self.take(model, lod, blend)
        self.register_buffer("dlatent_avg", model.dlatent_avg.clone())
        self.truncation_cutoff = truncation_cutoff
        self.z_dim = self.w_dim = model.arch.latent_size
        self.num_ws = model.arch.num_ws
        self._params = params

    @classmethod
    def from_params(cls, params: "StyleALAEGenerator.Params", context: Any = None) -> "StyleALAEGenerator":
        model = load_model(params, cls.parts)
        return cls(model, params.lod, params.blend, params.truncation_cutoff, params=params)

    @classmethod
    def latent_spaces(cls, params: Any = None) -> tuple[str, ...]:
        return ("z", "w", "w+")

    @property
    def w_avg(self) -> torch.Tensor:
        """Mean w ``[w_dim]`` (the mean over slots of the stored running average)."""
        return self.dlatent_avg.mean(0)

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """``ws [B, num_ws, w_dim]``: F(z) broadcast to every slot, then the official truncation
        ``lerp(dlatent_avg[k], w, psi)`` for slots ``k < cutoff`` (all slots when cutoff is None)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise LatentError(f"z must be [B, {self.z_dim}], got {tuple(z.shape)}")
        ws = self.mapping_f(z)[:, None].repeat(1, self.num_ws, 1)
        if truncation_psi == 1.0:
            return ws
        slot = torch.arange(self.num_ws, device=ws.device)[None, :, None]
        cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
        coefs = torch.where(slot < cutoff, torch.full_like(slot, truncation_psi, dtype=ws.dtype),
                            torch.ones_like(slot, dtype=ws.dtype))
        return torch.lerp(self.dlatent_avg.to(ws.dtype), ws, coefs)

    def synthesis(self, ws: torch.Tensor, noise_mode: NoiseMode = "const",
                  noise: list[torch.Tensor] | None = None, generator: torch.Generator | None = None,
                  lod: int | None = None, blend: float | None = None) -> torch.Tensor:
        """Images ``[B, C, R, R]`` from per-slot styles ``[B, num_ws, w_dim]`` (a single slot is broadcast).

        ``noise`` gives the noise images explicitly (official draw order, see ``synthesis.py``);
        ``generator`` draws the random noise from a ``torch.Generator`` instead of the global RNG.
        """
        if ws.ndim != 3 or ws.shape[2] != self.w_dim or ws.shape[1] not in (1, self.num_ws):
            raise LatentError(f"ws must be [B, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}")
        if ws.shape[1] == 1:
            ws = ws.repeat(1, self.num_ws, 1)
        return self.decoder(ws, self.lod if lod is None else lod, self.blend if blend is None else blend,
                            noise_mode, noise=noise, generator=generator)

    def forward(self, ws: torch.Tensor, noise_mode: NoiseMode = "const") -> torch.Tensor:
        return self.synthesis(ws, noise_mode)

    def generate(self, latent: Latent, noise_mode: NoiseMode = "const") -> torch.Tensor:
        check_latent(latent, self.latent_spaces(), "stylealae generator")
        ws = self.mapping(latent.z) if latent.space == "z" else latent.ws
        return self.synthesis(ws, noise_mode)

    def sample_latent(self, batch: int, generator: torch.Generator | None = None,
                      truncation_psi: float = 1.0) -> Latent:
        """Random w from z ~ N(0, I); ``'w'`` without truncation, ``'w+'`` with it (per-slot centres)."""
        device = self.dlatent_avg.device
        z = torch.randn(batch, self.z_dim, generator=generator,
                        device=generator.device if generator is not None else "cpu").to(device)
        ws = self.mapping(z, truncation_psi, self.truncation_cutoff)
        return Latent("w" if truncation_psi == 1.0 else "w+", {"ws": ws})

    @torch.no_grad()
    def mean_latent(self, n: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """Monte-Carlo mean of F(z), ``[1, w_dim]``."""
        z = torch.randn(n, self.z_dim, generator=generator).to(self.dlatent_avg.device)
        return self.mapping_f(z).mean(0, keepdim=True)

    def discriminator(self) -> "StyleALAEDiscriminator | None":
        """D(E(x)) from the same checkpoint when it holds E and D (built on first use)."""
        if getattr(self, "_discriminator", None) is None and self._params is not None \
                and self._params.checkpoint is not None:
            p = self._params
            try:
                model = load_model(p, ("encoder", "mapping_d"))
            except CheckpointError:
                return None
            disc = StyleALAEDiscriminator(model, p.lod, p.blend).to(self.dlatent_avg.device)
            # Kept outside nn.Module registration so D's weights are not part of G's parameters.
            object.__setattr__(self, "_discriminator", disc)
        return getattr(self, "_discriminator", None)


# --------------------------------------------------------------------------- encoder


class StyleALAEEncoder(ALAEPart, ganedit.Encoder, name="stylealae"):
    """StyleALAE encoder E: w = sum over blocks of learned linear maps of instance statistics.

    ``encode`` returns ``Latent('w')`` with the single w broadcast to every style slot of G, as
    the official reconstruction does. Images larger than the model are box-downscaled first.
    """

    parts = ("encoder",)

    @classmethod
    def output_space(cls, params: Any = None) -> str:
        return "w"

    def __init__(self, model: ALAEModel, lod: int | None = None, blend: float = 1.0):
        super().__init__()
        self.take(model, lod, blend)
        self.num_ws = model.arch.num_ws
        self.w_dim = model.arch.latent_size

    def encode_w(self, images: torch.Tensor) -> torch.Tensor:
        """w ``[B, w_dim]``."""
        x = _fit_resolution(images, self.img_resolution, "stylealae encoder")
        return self.encoder(x, self.lod, self.blend)

    def statistics(self, images: torch.Tensor) -> list[BlockStatistics]:
        """Per-block instance statistics and their terms (w is the sum of the terms)."""
        x = _fit_resolution(images, self.img_resolution, "stylealae encoder")
        return self.encoder.statistics(x, self.lod, self.blend)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode_w(images)

    def encode(self, images: torch.Tensor) -> Latent:
        w = self.encode_w(images)
        return Latent("w", {"ws": w[:, None].repeat(1, self.num_ws, 1)})


# --------------------------------------------------------------------------- discriminator


class StyleALAEDiscriminator(ALAEPart, ganedit.Discriminator, name="stylealae"):
    """The ALAE image discriminator D(E(x)): the latent MLP D on the encoder's w; logits ``[B, 1]``.

    ALAE has no separate image discriminator: E is its trunk. ``latent_logits(w)`` scores w directly.
    """

    parts = ("encoder", "mapping_d")

    def __init__(self, model: ALAEModel, lod: int | None = None, blend: float = 1.0):
        super().__init__()
        self.take(model, lod, blend)

    def latent_logits(self, w: torch.Tensor) -> torch.Tensor:
        return self.mapping_d(w)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = _fit_resolution(images, self.img_resolution, "stylealae discriminator")
        return self.mapping_d(self.encoder(x, self.lod, self.blend))
