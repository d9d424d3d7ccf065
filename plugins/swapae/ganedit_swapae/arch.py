"""Architecture descriptions of the SwapAE networks and the official option system's width rules.

Each network is built from one typed architecture model that lists its widths explicitly (so that
checkpoints whose widths deviate from the rules still load), with ``from_options`` giving the
official defaults; native checkpoints store its ``model_dump()`` and the official loader infers it
from tensor shapes. :class:`SwapAEOptions` declares every option once (description, official
default, official name).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, FilePath

from ganedit import Params

def _option(official: Any, official_name: str | None, description: str, **bounds: Any) -> Any:
    """A :class:`SwapAEOptions` field: unset (``None``) by default; ``official`` is the default of the
    official code and ``official_name`` its ``opt.txt`` name (``None`` for ganedit's own options)."""
    return Field(None, description=description, json_schema_extra={"official_default": official,
                                                                    "official_name": official_name}, **bounds)


class SwapAEOptions(Params):
    """SwapAE options (official names in :data:`OFFICIAL_NAMES`). ``None`` means: take it from the
    checkpoint (its ``opt.txt``, stored config or tensor shapes), else the official default
    (:data:`DEFAULTS`). Each option is declared once, here: the defaults and official names derive
    from these fields."""

    resolution: int | None = _option(256, "crop_size", "training crop size (crop_size); sets the image D", ge=8)
    num_downsampling_sp: int | None = _option(4, "netE_num_downsampling_sp", "encoder downsamplings to the "
                                              "structure code = generator upsamplings", ge=1)
    num_downsampling_gl: int | None = _option(2, "netE_num_downsampling_gl", "further unpadded strided convs "
                                              "to the texture code", ge=0)
    encoder_capacity: float | None = _option(1.0, "netE_scale_capacity", "encoder width multiplier "
                                             "(netE_scale_capacity)", gt=0)
    nc_steepness: float | None = _option(2.0, "netE_nc_steepness", "encoder width growth per downsampling", gt=1)
    spatial_code_ch: int | None = _option(8, "spatial_code_ch", "structure code channels", ge=1)
    global_code_ch: int | None = _option(2048, "global_code_ch", "texture code size (also caps encoder widths)",
                                         ge=1)
    generator_capacity: float | None = _option(1.0, "netG_scale_capacity", "generator width multiplier", gt=0)
    num_head_blocks: int | None = _option(2, "netG_num_base_resnet_layers", "resolution-preserving generator "
                                          "blocks", ge=0)
    use_noise: bool | None = _option(True, "netG_use_noise", "noise in the upsampling blocks (head blocks always)")
    discriminator_capacity: float | None = _option(1.0, "netD_scale_capacity", "image D width multiplier", gt=0)
    patch_capacity: float | None = _option(4.0, "netPatchD_scale_capacity", "patch D width multiplier", gt=0)
    patch_max_nc: int | None = _option(384, "netPatchD_max_nc", "patch D feature width", ge=1)
    patch_size: int | None = _option(128, "patch_size", "co-occurrence crop size (power of two)", ge=8)
    patch_num_crops: int | None = _option(8, "patch_num_crops", "crops per image for the patch D", ge=1)
    patch_min_scale: float | None = _option(1 / 8, "patch_min_scale", "smallest crop, fraction of the side",
                                            gt=0, le=1)
    patch_max_scale: float | None = _option(1 / 4, "patch_max_scale", "largest crop, fraction of the side",
                                            gt=0, le=1)
    patch_use_aggregation: bool | None = _option(True, "patch_use_aggregation", "average the reference crops' "
                                                 "features")
    antialias: bool | None = _option(True, "use_antialias", "blur kernels [1,2,1] (E) / [1,3,3,1] (G, D); off: none")
    noise_seed: int | None = _option(0, None, "seed of the generator's fixed ('const') noise", ge=0)
    # Not official options: the official D hard-codes 512 channels at 8x8 and 4x4 and the official
    # Dpatch its pair classifier at 2048/2048/1024; these make small CPU models possible.
    discriminator_max_channels: int | None = _option(512, None, "cap on image D widths (official 512; not an "
                                                     "official option)", ge=1)
    patch_pair_channels: list[int] | None = _option([2048, 2048, 1024], None, "hidden widths of the patch D pair "
                                                    "classifier (official 2048, 2048, 1024)")

    def given(self) -> dict[str, Any]:
        """Only the options set explicitly (not ``None``)."""
        return {k: v for k, v in self.model_dump().items() if v is not None and k in DEFAULTS}


class SwapAEParams(SwapAEOptions):
    """Params of the SwapAE networks: the options plus a checkpoint (each network loads its part)."""

    checkpoint: FilePath | None = Field(None, description="official *_checkpoint.pth or native file; "
                                                          "none: random init from the options")


def _extra(name: str) -> dict[str, Any]:
    return SwapAEOptions.model_fields[name].json_schema_extra  # type: ignore[return-value]


#: Official defaults (``taesungp/swapping-autoencoder-pytorch``) of every option.
DEFAULTS: dict[str, Any] = {name: _extra(name)["official_default"] for name in SwapAEOptions.model_fields}
#: Official option names (``opt.txt``) of the options the official code has.
OFFICIAL_NAMES: dict[str, str] = {name: _extra(name)["official_name"] for name in SwapAEOptions.model_fields
                                  if _extra(name)["official_name"]}


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


class _Arch(BaseModel):
    model_config = ConfigDict(extra="forbid")


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

        return cls(channels=[nc(i) for i in range(n + 1)], num_downsampling_sp=o["num_downsampling_sp"],
                   spatial_code_ch=o["spatial_code_ch"], global_code_ch=o["global_code_ch"], antialias=o["antialias"])


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
        return cls(head_channels=head, up_channels=[nf(j + 1) for j in range(n_up)],
                   spatial_code_ch=o["spatial_code_ch"], global_code_ch=o["global_code_ch"], antialias=o["antialias"],
                   use_noise=o["use_noise"], resolution=o["resolution"])


def nominal_size(resolution: int) -> int:
    """The power of two the official image D is built for (``2 ** round(log2(crop))``)."""
    return 2 ** int(round(math.log2(resolution)))


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
        return cls(resolution=o["resolution"], channels=chans, antialias=o["antialias"])


class PatchDiscriminatorArch(_Arch):
    """Co-occurrence patch discriminator Dpatch.

    ``channels`` maps a resolution (string) from ``patch_size`` down to 4 to the trunk width;
    ``max_nc`` is the width of the final features (``2 * max_nc`` inside block ``5``);
    ``pair_channels`` the hidden widths of the pair classifier (officially 2048, 2048, 1024)."""

    patch_size: int
    channels: dict[str, int]
    max_nc: int
    pair_channels: list[int] = [2048, 2048, 1024]
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
        return cls(patch_size=size, channels=chans, max_nc=cap, pair_channels=[int(c) for c in o["patch_pair_channels"]],
                   antialias=o["antialias"])


class PatchSampling(_Arch):
    """How co-occurrence crops are drawn (official ``apply_random_crop``)."""

    num_crops: int = 8
    min_scale: float = 1 / 8
    max_scale: float = 1 / 4
    use_aggregation: bool = True

    @classmethod
    def from_options(cls, opts: dict[str, Any]) -> "PatchSampling":
        o = resolve_options(opts)
        return cls(num_crops=o["patch_num_crops"], min_scale=o["patch_min_scale"], max_scale=o["patch_max_scale"],
                   use_aggregation=o["patch_use_aggregation"])
