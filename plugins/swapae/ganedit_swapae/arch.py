"""Architecture descriptions of the SwapAE networks and the official option system's width rules.

Each network is built from a small dataclass that lists its widths explicitly (so that checkpoints
whose widths deviate from the rules still load), with ``from_options`` giving the official
defaults. ``to_dict``/``from_dict`` round-trip through the JSON config of native checkpoints.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from pydantic import Field

from ganedit import Params

# Official option names (``opt.txt``) for every option ganedit understands.
OFFICIAL_NAMES: dict[str, str] = {
    "resolution": "crop_size",
    "num_downsampling_sp": "netE_num_downsampling_sp",
    "num_downsampling_gl": "netE_num_downsampling_gl",
    "encoder_capacity": "netE_scale_capacity",
    "nc_steepness": "netE_nc_steepness",
    "spatial_code_ch": "spatial_code_ch",
    "global_code_ch": "global_code_ch",
    "generator_capacity": "netG_scale_capacity",
    "num_head_blocks": "netG_num_base_resnet_layers",
    "use_noise": "netG_use_noise",
    "discriminator_capacity": "netD_scale_capacity",
    "patch_capacity": "netPatchD_scale_capacity",
    "patch_max_nc": "netPatchD_max_nc",
    "patch_size": "patch_size",
    "patch_num_crops": "patch_num_crops",
    "patch_min_scale": "patch_min_scale",
    "patch_max_scale": "patch_max_scale",
    "patch_use_aggregation": "patch_use_aggregation",
    "antialias": "use_antialias",
}

#: Official defaults (``taesungp/swapping-autoencoder-pytorch``).
DEFAULTS: dict[str, Any] = {
    "resolution": 256,
    "num_downsampling_sp": 4,
    "num_downsampling_gl": 2,
    "encoder_capacity": 1.0,
    "nc_steepness": 2.0,
    "spatial_code_ch": 8,
    "global_code_ch": 2048,
    "generator_capacity": 1.0,
    "num_head_blocks": 2,
    "use_noise": True,
    "discriminator_capacity": 1.0,
    "patch_capacity": 4.0,
    "patch_max_nc": 384,
    "patch_size": 128,
    "patch_num_crops": 8,
    "patch_min_scale": 1 / 8,
    "patch_max_scale": 1 / 4,
    "patch_use_aggregation": True,
    "antialias": True,
    "noise_seed": 0,
    # Not official options: the official D hard-codes 512 channels at 8x8 and 4x4 and the official
    # Dpatch its pair classifier at 2048/2048/1024; these make small CPU models possible.
    "discriminator_max_channels": 512,
    "patch_pair_channels": [2048, 2048, 1024],
}


class SwapAEOptions(Params):
    """SwapAE options (official names in :data:`OFFICIAL_NAMES`). ``None`` means: take it from the
    checkpoint (its ``opt.txt``, stored config or tensor shapes), else the official default."""

    resolution: int | None = Field(None, ge=8, description="training crop size (crop_size); sets the image D")
    num_downsampling_sp: int | None = Field(None, ge=1, description="encoder downsamplings to the structure "
                                                                    "code = generator upsamplings")
    num_downsampling_gl: int | None = Field(None, ge=0, description="further unpadded strided convs to the "
                                                                    "texture code")
    encoder_capacity: float | None = Field(None, gt=0, description="encoder width multiplier (netE_scale_capacity)")
    nc_steepness: float | None = Field(None, gt=1, description="encoder width growth per downsampling")
    spatial_code_ch: int | None = Field(None, ge=1, description="structure code channels")
    global_code_ch: int | None = Field(None, ge=1, description="texture code size (also caps encoder widths)")
    generator_capacity: float | None = Field(None, gt=0, description="generator width multiplier")
    num_head_blocks: int | None = Field(None, ge=0, description="resolution-preserving generator blocks")
    use_noise: bool | None = Field(None, description="noise in the upsampling blocks (head blocks always)")
    discriminator_capacity: float | None = Field(None, gt=0, description="image D width multiplier")
    patch_capacity: float | None = Field(None, gt=0, description="patch D width multiplier")
    patch_max_nc: int | None = Field(None, ge=1, description="patch D feature width")
    patch_size: int | None = Field(None, ge=8, description="co-occurrence crop size (power of two)")
    patch_num_crops: int | None = Field(None, ge=1, description="crops per image for the patch D")
    patch_min_scale: float | None = Field(None, gt=0, le=1, description="smallest crop, fraction of the side")
    patch_max_scale: float | None = Field(None, gt=0, le=1, description="largest crop, fraction of the side")
    patch_use_aggregation: bool | None = Field(None, description="average the reference crops' features")
    antialias: bool | None = Field(None, description="blur kernels [1,2,1] (E) / [1,3,3,1] (G, D); off: none")
    noise_seed: int | None = Field(None, ge=0, description="seed of the generator's fixed ('const') noise")
    discriminator_max_channels: int | None = Field(None, ge=1, description="cap on image D widths "
                                                                           "(official 512; not an official option)")
    patch_pair_channels: list[int] | None = Field(None, description="hidden widths of the patch D pair classifier "
                                                                    "(official 2048, 2048, 1024)")

    def given(self) -> dict[str, Any]:
        """Only the options set explicitly (not ``None``)."""
        return {k: v for k, v in self.model_dump().items() if v is not None and k in DEFAULTS}


def resolve_options(*layers: dict[str, Any] | None) -> dict[str, Any]:
    """Merge option dicts, earlier ones winning, on top of :data:`DEFAULTS`."""
    out = dict(DEFAULTS)
    for layer in reversed([lay for lay in layers if lay]):
        out.update({k: v for k, v in layer.items() if v is not None and k in DEFAULTS})
    return out


def _blur(antialias: bool, encoder: bool = False) -> list[int]:
    if not antialias:
        return [1]
    return [1, 2, 1] if encoder else [1, 3, 3, 1]


class _Arch:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}")
        return cls(**data)


@dataclass
class EncoderArch(_Arch):
    """Encoder E. ``channels[i]`` is the width after ``i`` downsamplings (``nc(i)`` officially):
    ``num_downsampling_sp`` residual blocks lead to the structure code, the remaining
    ``len(channels) - 1 - num_downsampling_sp`` strided convs to the texture code."""

    channels: list[int]
    num_downsampling_sp: int
    spatial_code_ch: int = 8
    global_code_ch: int = 2048
    antialias: bool = True

    @property
    def num_downsampling_gl(self) -> int:
        return len(self.channels) - 1 - self.num_downsampling_sp

    @property
    def blur_kernel(self) -> list[int]:
        return _blur(self.antialias, encoder=True)

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> "EncoderArch":
        o = resolve_options(opts)
        n = o["num_downsampling_sp"] + o["num_downsampling_gl"]

        def nc(i: int) -> int:
            return min(o["global_code_ch"], int(round(o["nc_steepness"] ** (5 + i) * o["encoder_capacity"])))

        return cls([nc(i) for i in range(n + 1)], o["num_downsampling_sp"], o["spatial_code_ch"],
                   o["global_code_ch"], o["antialias"])


@dataclass
class GeneratorArch(_Arch):
    """Generator G: head (resolution-preserving) block widths, then one upsampling block per
    encoder downsampling. ``resolution`` is the nominal output size (training crop)."""

    head_channels: list[int]
    up_channels: list[int]
    spatial_code_ch: int = 8
    global_code_ch: int = 2048
    antialias: bool = True
    use_noise: bool = True
    resolution: int = 256

    @property
    def blur_kernel(self) -> list[int]:
        return _blur(self.antialias)

    @property
    def structure_size(self) -> int:
        return max(1, self.resolution // 2 ** len(self.up_channels))

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> "GeneratorArch":
        o = resolve_options(opts)
        n_up = o["num_downsampling_sp"]

        def nf(k: int) -> int:
            return int(min(512, 128 * 2 ** (n_up - k)) * o["generator_capacity"])

        n_head = o["num_head_blocks"]
        head = [max(o["spatial_code_ch"], round((i + 1) / n_head * nf(0))) for i in range(n_head)]
        return cls(head, [nf(j + 1) for j in range(n_up)], o["spatial_code_ch"], o["global_code_ch"],
                   o["antialias"], o["use_noise"], o["resolution"])


def nominal_size(resolution: int) -> int:
    """The power of two the official image D is built for (``2 ** round(log2(crop))``)."""
    return 2 ** int(round(math.log2(resolution)))


@dataclass
class DiscriminatorArch(_Arch):
    """Image discriminator D (StyleGAN2 residual D without minibatch stddev).

    ``channels`` maps a resolution (as a string, for JSON) to its width, from the nominal size down
    to 4; ``resolution`` is the crop size (the final map is ``4 * resolution / nominal`` wide)."""

    resolution: int
    channels: dict[str, int]
    antialias: bool = True

    @property
    def nominal(self) -> int:
        return nominal_size(self.resolution)

    @property
    def final_side(self) -> int:
        return int(4 * self.resolution / self.nominal)

    @property
    def blur_kernel(self) -> list[int]:
        return _blur(self.antialias)

    def width(self, res: int) -> int:
        return int(self.channels[str(res)])

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> "DiscriminatorArch":
        o = resolve_options(opts)
        m = 2.0 * o["discriminator_capacity"]
        table = {4: 512, 8: 512, 16: min(512, int(512 * m)), 32: min(512, int(512 * m)), 64: int(256 * m),
                 128: int(128 * m), 256: int(64 * m), 512: int(32 * m), 1024: int(16 * m)}
        size = nominal_size(o["resolution"])
        chans = {}
        r = size
        while r >= 4:
            width = table[r] if r in table else int(16 * m * 1024 / r)
            chans[str(r)] = max(1, min(int(o["discriminator_max_channels"]), width))
            r //= 2
        return cls(o["resolution"], chans, o["antialias"])


@dataclass
class PatchDiscriminatorArch(_Arch):
    """Co-occurrence patch discriminator Dpatch.

    ``channels`` maps a resolution (string) from ``patch_size`` down to 4 to the trunk width;
    ``max_nc`` is the width of the final features (``2 * max_nc`` inside block ``5``);
    ``pair_channels`` the hidden widths of the pair classifier (officially 2048, 2048, 1024)."""

    patch_size: int
    channels: dict[str, int]
    max_nc: int
    pair_channels: list[int] = field(default_factory=lambda: [2048, 2048, 1024])
    antialias: bool = True

    @property
    def blur_kernel(self) -> list[int]:
        return _blur(self.antialias)

    @property
    def feature_dim(self) -> int:
        """Flattened features per crop (``max_nc * 2 * 2``)."""
        return self.max_nc * 4

    def width(self, res: int) -> int:
        return int(self.channels[str(res)])

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> "PatchDiscriminatorArch":
        o = resolve_options(opts)
        m = o["patch_capacity"]
        cap = o["patch_max_nc"]
        table = {4: min(cap, int(256 * m)), 8: min(cap, int(128 * m)), 16: min(cap, int(64 * m)),
                 32: int(32 * m), 64: int(16 * m), 128: int(8 * m), 256: int(4 * m)}
        size = o["patch_size"]
        if size & (size - 1) or size < 8:
            raise ValueError(f"patch_size must be a power of two >= 8, got {size}")
        chans = {}
        r = size
        while r >= 4:
            chans[str(r)] = table[r] if r in table else max(1, int(4 * m * 256 / r))
            r //= 2
        return cls(size, chans, cap, [int(c) for c in o["patch_pair_channels"]], o["antialias"])


@dataclass
class PatchSampling(_Arch):
    """How co-occurrence crops are drawn (official ``apply_random_crop``)."""

    num_crops: int = 8
    min_scale: float = 1 / 8
    max_scale: float = 1 / 4
    use_aggregation: bool = True

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> "PatchSampling":
        o = resolve_options(opts)
        return cls(o["patch_num_crops"], o["patch_min_scale"], o["patch_max_scale"], o["patch_use_aggregation"])
