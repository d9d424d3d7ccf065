"""StyleGAN2 (config-F) generator and residual discriminator in pure PyTorch.

Built from the shared :mod:`ganedit.nn` blocks. Module and parameter names follow rosinality's
``stylegan2-pytorch`` (``style.{1..n_mlp}``, ``input.input``, ``conv1``, ``to_rgb1``, ``convs.i``,
``to_rgbs.i``, ``noises.noise_i``; D ``convs.*``, ``final_conv``, ``final_linear``), so its state
dicts load with no renames. Two additions serve NVIDIA stylegan2-ada networks:

* ``conv_clamp``: clamp every synthesis layer / ToRGB output (G) and every activated conv (D)
  to ``[-conv_clamp, conv_clamp]`` after bias and activation, as NVIDIA's ``bias_act`` does
  (``None`` = off, rosinality behaviour);
* a ``w_avg`` buffer ``[w_dim]`` in the generator (the truncation centre), and configurable
  minibatch-stddev ``mbstd_group_size`` / ``mbstd_num_channels`` in the discriminator.

The constructor is the architecture (as in diffusers): each network records its keywords as a typed
:class:`GeneratorArch` / :class:`DiscriminatorArch` in ``net.arch``; native files store
``arch.model_dump()`` and loaders of other formats produce one, and ``Generator.from_arch(arch)``
rebuilds the network. Keyword names are a stable API.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Mapping, Sequence

import torch
from pydantic import BaseModel, ConfigDict
from torch import nn

from ganedit.nn import (
    ConstantInput,
    ConvLayer,
    EqualLinear,
    FusedLeakyReLU,
    ModulatedConv2d,
    NoiseInjection,
    PixelNorm,
    ResBlock,
    Upsample,
    minibatch_stddev,
)

NoiseMode = Literal["const", "random", "none"]

#: Resolutions a network may have (the synthesis starts from a 4x4 constant).
RESOLUTIONS: tuple[int, ...] = tuple(2**i for i in range(3, 11))


def channel_table(channel_multiplier: int = 2) -> dict[int, int]:
    """The standard StyleGAN2 width per resolution (config-F uses ``channel_multiplier=2``)."""
    cm = channel_multiplier
    return {4: 512, 8: 512, 16: 512, 32: 512, 64: 256 * cm, 128: 128 * cm, 256: 64 * cm,
            512: 32 * cm, 1024: 16 * cm}


def resolve_channels(size: int, channel_multiplier: int = 2,
                     channels: Mapping[int | str, int] | None = None) -> dict[int, int]:
    """Widths ``{res: width}`` for every resolution 4..size (explicit ``channels`` win)."""
    if size not in RESOLUTIONS:
        raise ValueError(f"StyleGAN2 resolution must be a power of two in 8..1024, got {size}")
    if channels is None:
        table = channel_table(channel_multiplier)
    else:
        table = {int(k): int(v) for k, v in channels.items()}
    needed = [2**i for i in range(2, int(math.log2(size)) + 1)]
    missing = [r for r in needed if r not in table]
    if missing:
        raise ValueError(f"channels table misses resolutions {missing} (needs 4..{size})")
    bad = {r: table[r] for r in needed if table[r] <= 0}
    if bad:
        raise ValueError(f"channel widths must be positive, got {bad}")
    return {r: table[r] for r in needed}


#: Mean-w estimate used when a checkpoint stores no average: 4096 z from this fixed seed.
W_AVG_SAMPLES = 4096
W_AVG_SEED = 0


class GeneratorArch(BaseModel):
    """The architecture of a :class:`Generator`: its constructor keywords (``channels`` resolved)."""

    model_config = ConfigDict(extra="forbid")

    size: int
    style_dim: int = 512
    z_dim: int | None = None
    n_mlp: int = 8
    lr_mlp: float = 0.01
    channel_multiplier: int = 2
    blur_kernel: list[float] = [1.0, 3.0, 3.0, 1.0]
    channels: dict[int, int] | None = None
    conv_clamp: float | None = None


class DiscriminatorArch(BaseModel):
    """The architecture of a :class:`Discriminator`: its constructor keywords (``channels`` resolved)."""

    model_config = ConfigDict(extra="forbid")

    size: int
    channel_multiplier: int = 2
    blur_kernel: list[float] = [1.0, 3.0, 3.0, 1.0]
    channels: dict[int, int] | None = None
    mbstd_group_size: int | None = 4
    mbstd_num_channels: int = 1
    conv_clamp: float | None = None


class Clamp(nn.Module):
    """Clamp activations to ``[-bound, bound]`` (NVIDIA's ``conv_clamp``); no parameters."""

    def __init__(self, bound: float):
        super().__init__()
        self.bound = float(bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(-self.bound, self.bound)

    def extra_repr(self) -> str:
        return f"bound={self.bound}"


class StyledConv(nn.Module):
    """Modulated conv -> noise -> bias + lrelu*sqrt(2) [-> clamp] (rosinality keys ``conv``, ``noise``,
    ``activate``)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1),
                 demodulate: bool = True, conv_clamp: float | None = None):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim,
                                    demodulate=demodulate, upsample=upsample, blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)
        self.clamp = Clamp(conv_clamp) if conv_clamp is not None else None

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``noise`` ``[1 or B, 1, H, W]``; ``None`` adds no noise (the caller decides the source)."""
        out = self.conv(x, style)
        if noise is not None:
            out = self.noise(out, noise)
        out = self.activate(out)
        if self.clamp is not None:
            out = self.clamp(out)
        return out


class ToRGB(nn.Module):
    """1x1 modulated conv without demodulation + bias; adds the upsampled previous image (skip G)."""

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), conv_clamp: float | None = None):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.clamp = Clamp(conv_clamp) if conv_clamp is not None else None

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if self.clamp is not None:
            # NVIDIA clamps the ToRGB output before the skip sum.
            out = self.clamp(out)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class Generator(nn.Module):
    """StyleGAN2 generator: mapping network + skip-architecture synthesis network.

    ``size`` is the output resolution, ``style_dim`` the W width, ``z_dim`` the Z width (defaults to
    ``style_dim``, as in rosinality). ``n_latent = 2*log2(size) - 2`` ws feed ``num_layers =
    2*log2(size) - 3`` styled convs and ``log2(size) - 1`` ToRGBs; each ToRGB shares its w with the
    next block's first conv.
    """

    def __init__(self, size: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: int = 2,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), lr_mlp: float = 0.01,
                 channels: Mapping[int | str, int] | None = None, conv_clamp: float | None = None,
                 z_dim: int | None = None):
        super().__init__()
        self.size = int(size)
        self.style_dim = int(style_dim)
        self.z_dim = int(z_dim) if z_dim is not None else self.style_dim
        self.n_mlp = int(n_mlp)
        self.lr_mlp = float(lr_mlp)
        self.channel_multiplier = int(channel_multiplier)
        self.blur_kernel = [float(k) for k in blur_kernel]
        self.conv_clamp = float(conv_clamp) if conv_clamp is not None else None
        self.channels = resolve_channels(self.size, self.channel_multiplier, channels)
        self._explicit_channels = channels is not None
        if self.n_mlp < 1:
            raise ValueError(f"n_mlp must be >= 1, got {n_mlp}")

        layers: list[nn.Module] = [PixelNorm()]
        for i in range(self.n_mlp):
            in_dim = self.z_dim if i == 0 else self.style_dim
            layers.append(EqualLinear(in_dim, self.style_dim, lr_mul=self.lr_mlp, activation="fused_lrelu"))
        self.style = nn.Sequential(*layers)

        ch = self.channels
        self.input = ConstantInput(ch[4])
        self.conv1 = StyledConv(ch[4], ch[4], 3, self.style_dim, blur_kernel=blur_kernel,
                                conv_clamp=self.conv_clamp)
        self.to_rgb1 = ToRGB(ch[4], self.style_dim, upsample=False, conv_clamp=self.conv_clamp)

        self.log_size = int(math.log2(self.size))
        self.num_layers = (self.log_size - 2) * 2 + 1
        self.n_latent = self.log_size * 2 - 2

        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        for layer_idx in range(self.num_layers):
            res = 2 ** ((layer_idx + 5) // 2)
            self.noises.register_buffer(f"noise_{layer_idx}", torch.randn(1, 1, res, res))
        in_channel = ch[4]
        for i in range(3, self.log_size + 1):
            out_channel = ch[2**i]
            self.convs.append(StyledConv(in_channel, out_channel, 3, self.style_dim, upsample=True,
                                         blur_kernel=blur_kernel, conv_clamp=self.conv_clamp))
            self.convs.append(StyledConv(out_channel, out_channel, 3, self.style_dim,
                                         blur_kernel=blur_kernel, conv_clamp=self.conv_clamp))
            self.to_rgbs.append(ToRGB(out_channel, self.style_dim, blur_kernel=blur_kernel,
                                      conv_clamp=self.conv_clamp))
            in_channel = out_channel

        # Truncation centre (NVIDIA keeps it in the network; rosinality stores ``latent_avg`` beside it).
        self.register_buffer("w_avg", torch.zeros(self.style_dim))

        self.arch = GeneratorArch(size=self.size, style_dim=self.style_dim, z_dim=self.z_dim, n_mlp=self.n_mlp,
                                  lr_mlp=self.lr_mlp, channel_multiplier=self.channel_multiplier,
                                  blur_kernel=self.blur_kernel, channels=self.channels, conv_clamp=self.conv_clamp)

    @classmethod
    def from_arch(cls, arch: GeneratorArch | Mapping[str, Any]) -> "Generator":
        """The network of a stored architecture (a :class:`GeneratorArch` or its dump)."""
        return cls(**GeneratorArch.model_validate(arch).model_dump())

    @property
    def num_ws(self) -> int:
        return self.n_latent

    # ------------------------------------------------------------------ mapping
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """``z [B, z_dim] -> w [B, style_dim]`` (PixelNorm + n_mlp lrelu EqualLinears)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must be [B, {self.z_dim}], got {tuple(z.shape)}")
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n_latent: int = 4096, generator: torch.Generator | None = None) -> torch.Tensor:
        """Mean of ``mapping(z)`` over ``n_latent`` standard-normal z, shape ``[style_dim]``."""
        z = torch.randn(n_latent, self.z_dim, generator=generator).to(self.w_avg.device)
        return self.mapping(z).mean(0)

    def truncate(self, ws: torch.Tensor, psi: float = 1.0, cutoff: int | None = None,
                 center: torch.Tensor | None = None) -> torch.Tensor:
        """``center + psi * (ws - center)`` on layers ``< cutoff`` (all when ``None``).

        ``ws`` is ``[B, n_latent, D]`` or ``[B, D]``; ``center`` defaults to the ``w_avg`` buffer.
        """
        if psi == 1.0:
            return ws
        c = (self.w_avg if center is None else center).reshape(-1).to(ws)
        if ws.ndim == 2 or cutoff is None:
            return c + psi * (ws - c)
        out = ws.clone()
        out[:, :cutoff] = c + psi * (ws[:, :cutoff] - c)
        return out

    # ------------------------------------------------------------------ noise
    def noise_buffers(self) -> list[torch.Tensor]:
        """The stored per-layer noise maps ``[1, 1, r, r]`` in layer order (the tensors themselves)."""
        return [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]

    def noise_shapes(self) -> list[tuple[int, int, int, int]]:
        return [tuple(b.shape) for b in self.noise_buffers()]  # type: ignore[misc]

    def make_noise(self, batch: int = 1, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """Fresh N(0,1) noise maps ``[batch, 1, r, r]`` for every layer."""
        dev = self.w_avg.device
        return [torch.randn(batch, 1, s[2], s[3], generator=generator).to(dev) for s in self.noise_shapes()]

    def _layer_noise(self, noise: Sequence[torch.Tensor | None] | None, noise_mode: NoiseMode,
                     batch: int, ref: torch.Tensor) -> list[torch.Tensor | None]:
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        if noise is not None and len(noise) != self.num_layers:
            raise ValueError(f"expected {self.num_layers} noise maps, got {len(noise)}")
        out: list[torch.Tensor | None] = []
        for i, buf in enumerate(self.noise_buffers()):
            given = noise[i] if noise is not None else None
            if given is not None:
                if given.shape[-2:] != buf.shape[-2:]:
                    raise ValueError(f"noise {i} must be [*, 1, {buf.shape[-2]}, {buf.shape[-1]}], "
                                     f"got {tuple(given.shape)}")
                out.append(given.to(ref))
            elif noise_mode == "const":
                out.append(buf.to(ref))
            elif noise_mode == "random":
                out.append(torch.randn(batch, 1, buf.shape[-2], buf.shape[-1], device=ref.device,
                                       dtype=ref.dtype))
            else:
                out.append(None)
        return out

    # ------------------------------------------------------------------ synthesis
    def synthesis(self, ws: torch.Tensor, noise: Sequence[torch.Tensor | None] | None = None,
                  noise_mode: NoiseMode = "const") -> torch.Tensor:
        """Images ``[B, 3, size, size]`` (raw, unclamped) from ``ws [B, n_latent, style_dim]``.

        ``noise_mode``: ``const`` uses the stored buffers, ``random`` fresh N(0,1) per sample,
        ``none`` no noise. An explicit ``noise`` list (per layer, ``None`` entries follow
        ``noise_mode``) overrides.
        """
        if ws.ndim != 3 or ws.shape[1] != self.n_latent or ws.shape[2] != self.style_dim:
            raise ValueError(f"ws must be [B, {self.n_latent}, {self.style_dim}], got {tuple(ws.shape)}")
        batch = ws.shape[0]
        noises = self._layer_noise(noise, noise_mode, batch, ws)
        out = self.input(batch).to(ws.dtype)
        out = self.conv1(out, ws[:, 0], noises[0])
        skip = self.to_rgb1(out, ws[:, 1])
        i = 1
        for j, to_rgb in enumerate(self.to_rgbs):
            out = self.convs[2 * j](out, ws[:, i], noises[2 * j + 1])
            out = self.convs[2 * j + 1](out, ws[:, i + 1], noises[2 * j + 2])
            skip = to_rgb(out, ws[:, i + 2], skip)
            i += 2
        return skip

    # ------------------------------------------------------------------ rosinality-style forward
    def styles_to_ws(self, styles: Sequence[torch.Tensor], inject_index: int | None = None,
                     truncation: float = 1.0, truncation_latent: torch.Tensor | None = None,
                     input_is_latent: bool = False) -> torch.Tensor:
        """rosinality's latent assembly: map, truncate every style (all layers), broadcast / mix.

        One style: ``[B, D]`` is repeated ``n_latent`` times, ``[B, n_latent, D]`` is used as is.
        Two styles: layers ``< inject_index`` take the first, the rest the second (a missing
        ``inject_index`` is drawn from torch's global RNG in ``[1, n_latent - 1]``).
        """
        if isinstance(styles, torch.Tensor):
            styles = [styles]
        if not input_is_latent:
            styles = [self.mapping(s) for s in styles]
        if truncation < 1:
            center = self.w_avg if truncation_latent is None else truncation_latent
            styles = [self.truncate(s, truncation, None, center) for s in styles]
        if len(styles) < 2:
            s = styles[0]
            return s if s.ndim == 3 else s.unsqueeze(1).repeat(1, self.n_latent, 1)
        if inject_index is None:
            inject_index = int(torch.randint(1, self.n_latent, ()).item())
        first = styles[0].unsqueeze(1).repeat(1, inject_index, 1)
        second = styles[1].unsqueeze(1).repeat(1, self.n_latent - inject_index, 1)
        return torch.cat([first, second], 1)

    def forward(self, styles: Sequence[torch.Tensor], return_latents: bool = False,
                inject_index: int | None = None, truncation: float = 1.0,
                truncation_latent: torch.Tensor | None = None, input_is_latent: bool = False,
                noise: Sequence[torch.Tensor | None] | None = None,
                randomize_noise: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """rosinality-compatible call: ``(image, latent or None)`` (used by training code)."""
        ws = self.styles_to_ws(styles, inject_index, truncation, truncation_latent, input_is_latent)
        image = self.synthesis(ws, noise=noise, noise_mode="random" if randomize_noise else "const")
        return image, (ws if return_latents else None)


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator with minibatch stddev; raw logits ``[B, 1]``.

    ``mbstd_group_size`` (``None`` = the whole batch) and ``mbstd_num_channels`` configure the
    minibatch-stddev layer (rosinality: 4 and 1). Groups are strided: sample ``b`` shares
    statistics with ``b mod (B / G)``.
    """

    def __init__(self, size: int, channel_multiplier: int = 2, blur_kernel: Sequence[float] = (1, 3, 3, 1),
                 channels: Mapping[int | str, int] | None = None, mbstd_group_size: int | None = 4,
                 mbstd_num_channels: int = 1, conv_clamp: float | None = None):
        super().__init__()
        self.size = int(size)
        self.channel_multiplier = int(channel_multiplier)
        self.blur_kernel = [float(k) for k in blur_kernel]
        self.channels = resolve_channels(self.size, self.channel_multiplier, channels)
        self.mbstd_group_size = int(mbstd_group_size) if mbstd_group_size is not None else None
        self.mbstd_num_channels = int(mbstd_num_channels)
        self.conv_clamp = float(conv_clamp) if conv_clamp is not None else None
        if self.mbstd_group_size is not None and self.mbstd_group_size < 1:
            raise ValueError(f"mbstd_group_size must be >= 1 or None, got {mbstd_group_size}")
        if self.mbstd_num_channels < 1:
            raise ValueError(f"mbstd_num_channels must be >= 1, got {mbstd_num_channels}")
        ch = self.channels
        log_size = int(math.log2(self.size))

        convs: list[nn.Module] = [self._clamped(ConvLayer(3, ch[self.size], 1))]
        in_channel = ch[self.size]
        for i in range(log_size, 2, -1):
            out_channel = ch[2 ** (i - 1)]
            block = ResBlock(in_channel, out_channel, blur_kernel)
            # NVIDIA clamps conv0 and conv1 (not the skip); its sqrt(1/2) gain commutes with the clamp.
            self._clamped(block.conv1)
            self._clamped(block.conv2)
            convs.append(block)
            in_channel = out_channel
        self.convs = nn.Sequential(*convs)
        if ch[4] % self.mbstd_num_channels:
            raise ValueError(f"4x4 width {ch[4]} is not divisible by mbstd_num_channels {self.mbstd_num_channels}")
        self.final_conv = self._clamped(ConvLayer(in_channel + self.mbstd_num_channels, ch[4], 3))
        self.final_linear = nn.Sequential(
            EqualLinear(ch[4] * 4 * 4, ch[4], activation="fused_lrelu"),
            EqualLinear(ch[4], 1),
        )
        self.arch = DiscriminatorArch(size=self.size, channel_multiplier=self.channel_multiplier,
                                      blur_kernel=self.blur_kernel, channels=self.channels,
                                      mbstd_group_size=self.mbstd_group_size,
                                      mbstd_num_channels=self.mbstd_num_channels, conv_clamp=self.conv_clamp)

    def _clamped(self, layer: nn.Sequential) -> nn.Sequential:
        # Appending a parameter-free module keeps the state-dict keys of the Sequential unchanged.
        if self.conv_clamp is not None:
            layer.append(Clamp(self.conv_clamp))
        return layer

    @classmethod
    def from_arch(cls, arch: DiscriminatorArch | Mapping[str, Any]) -> "Discriminator":
        """The network of a stored architecture (a :class:`DiscriminatorArch` or its dump)."""
        return cls(**DiscriminatorArch.model_validate(arch).model_dump())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[-2:] != (self.size, self.size):
            raise ValueError(f"discriminator expects [B, 3, {self.size}, {self.size}], got {tuple(images.shape)}")
        out = self.convs(images)
        b = out.shape[0]
        group = b if self.mbstd_group_size is None else self.mbstd_group_size
        out = minibatch_stddev(out, group_size=group, num_features=self.mbstd_num_channels)
        out = self.final_conv(out)
        out = out.reshape(b, -1)
        return self.final_linear(out)


@torch.no_grad()
def estimate_w_avg(net: Generator, samples: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED) -> torch.Tensor:
    """Mean of ``net.mapping(z)`` over ``samples`` z from ``torch.Generator().manual_seed(seed)``."""
    gen = torch.Generator().manual_seed(seed)
    return net.mean_latent(samples, generator=gen)
