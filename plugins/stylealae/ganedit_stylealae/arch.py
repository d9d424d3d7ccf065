"""StyleALAE architecture description: what the official yacs ``MODEL`` section fixes.

All official models tie the z size, the w size and the width of F and D to ``LATENT_SPACE_SIZE``;
the resolution is ``2 ** (LAYER_COUNT + 1)`` and G has ``2 * LAYER_COUNT`` style inputs.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, Mapping

import torch

from ganedit.errors import GanEditError

#: Resolution from which the official code folds resampling into a stride-2 conv.
FUSED_MIN_RESOLUTION = 128


class ArchitectureError(GanEditError, ValueError):
    """An architecture that cannot be built or does not match a checkpoint."""


@dataclass(frozen=True)
class ALAEArch:
    """Hyper-parameters of the official StyleALAE networks (E, G, F, D)."""

    layer_count: int
    start_channels: int
    max_channels: int
    latent_size: int
    mapping_layers: int = 8
    channels: int = 3
    d_layers: int = 3
    #: ``'none'`` reproduces the official D (no activations between its layers, a known quirk that
    #: released weights depend on); ``'lrelu'`` is the clean variant for new models.
    d_activation: Literal["none", "lrelu"] = "none"

    def __post_init__(self) -> None:
        for name in ("layer_count", "start_channels", "max_channels", "latent_size", "mapping_layers",
                     "channels", "d_layers"):
            if int(getattr(self, name)) < 1:
                raise ArchitectureError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_activation not in ("none", "lrelu"):
            raise ArchitectureError(f"d_activation must be 'none' or 'lrelu', got {self.d_activation!r}")

    # ------------------------------------------------------------------ derived sizes
    @property
    def resolution(self) -> int:
        return 2 ** (self.layer_count + 1)

    @property
    def num_ws(self) -> int:
        return 2 * self.layer_count

    @property
    def final_lod(self) -> int:
        return self.layer_count - 1

    @staticmethod
    def lod_resolution(lod: int) -> int:
        return 2 ** (lod + 2)

    def decoder_channels(self, k: int) -> int:
        """Output channels of generator block ``k`` (k = 0 works at 4x4)."""
        return min(self.max_channels, self.start_channels * 2 ** (self.layer_count - 1 - k))

    def decoder_fused(self, k: int) -> bool:
        """Whether generator block ``k`` upsamples with the fused transposed conv."""
        return k > 0 and self.lod_resolution(k) >= FUSED_MIN_RESOLUTION

    def encoder_channels(self, i: int) -> tuple[int, int]:
        """``(in, out)`` channels of encoder block ``i`` (i = 0 works at full resolution)."""
        cin = self.start_channels if i == 0 else min(self.max_channels, self.start_channels * 2 ** i)
        return cin, min(self.max_channels, self.start_channels * 2 ** (i + 1))

    def encoder_fused(self, i: int) -> bool:
        """Whether encoder block ``i`` downsamples with the fused stride-2 conv."""
        return 2 ** (self.layer_count + 1 - i) >= FUSED_MIN_RESOLUTION

    def check_lod(self, lod: int | None) -> int:
        if lod is None:
            return self.final_lod
        if not 0 <= lod <= self.final_lod:
            raise ArchitectureError(f"lod must be in [0, {self.final_lod}] for a {self.resolution} px model, got {lod}")
        return lod

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ALAEArch":
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ArchitectureError(f"unknown architecture fields {sorted(unknown)}")
        return cls(**dict(data))

    @classmethod
    def from_resolution(cls, resolution: int, **kwargs: Any) -> "ALAEArch":
        layer_count = int(round(math.log2(resolution))) - 1
        if resolution < 4 or 2 ** (layer_count + 1) != resolution:
            raise ArchitectureError(f"resolution must be a power of two >= 4, got {resolution}")
        return cls(layer_count=layer_count, **kwargs)

    # ------------------------------------------------------------------ official config
    @classmethod
    def from_official_config(cls, path: str | Path) -> "ALAEArch":
        """Read the ``MODEL`` section of an official yacs YAML (or a JSON holding ``yacs_config``)."""
        import yaml

        p = Path(path)
        try:
            text = p.read_text()
            data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            raise ArchitectureError(f"{p}: cannot read the official ALAE config ({exc})") from None
        if isinstance(data, dict) and "yacs_config" in data:
            data = data["yacs_config"]
        model = data.get("MODEL") if isinstance(data, dict) else None
        if not isinstance(model, dict):
            raise ArchitectureError(f"{p}: no MODEL section (expected an official ALAE yacs config)")
        # Defaults of the official defaults.py for keys a config may leave out.
        defaults = {"LAYER_COUNT": 6, "START_CHANNEL_COUNT": 64, "MAX_CHANNEL_COUNT": 512,
                    "LATENT_SPACE_SIZE": 256, "MAPPING_LAYERS": 5, "CHANNELS": 3}
        get = lambda k: int(model.get(k, defaults[k]))  # noqa: E731
        for key, want in (("GENERATOR", "GeneratorDefault"), ("ENCODER", "EncoderDefault")):
            if model.get(key, want) != want:
                raise ArchitectureError(f"{p}: MODEL.{key}={model[key]!r} is not supported (only {want})")
        return cls(layer_count=get("LAYER_COUNT"), start_channels=get("START_CHANNEL_COUNT"),
                   max_channels=get("MAX_CHANNEL_COUNT"), latent_size=get("LATENT_SPACE_SIZE"),
                   mapping_layers=get("MAPPING_LAYERS"), channels=get("CHANNELS"))

    # ------------------------------------------------------------------ inference from weights
    @classmethod
    def infer(cls, parts: Mapping[str, Mapping[str, torch.Tensor]], where: str = "checkpoint") -> "ALAEArch":
        """Infer the architecture from state-dict shapes (official key names).

        ``parts`` maps ``encoder``/``decoder``/``mapping_f``/``mapping_d`` to state dicts; any subset.
        """
        dec, enc = parts.get("decoder"), parts.get("encoder")
        mf, md = parts.get("mapping_f"), parts.get("mapping_d")

        def count(sd: Mapping[str, Any] | None, fmt: str) -> int:
            n = 0
            while sd is not None and fmt.format(n) in sd:
                n += 1
            return n

        try:
            if dec is not None:
                layer_count = count(dec, "decode_block.{}.conv_2.weight")
                latent = dec["decode_block.0.style_1.weight"].shape[1]
                channels = dec["to_rgb.0.to_rgb.weight"].shape[0]
                widths = [dec[f"decode_block.{k}.conv_2.weight"].shape[0] for k in range(layer_count)]
            elif enc is not None:
                layer_count = count(enc, "encode_block.{}.conv_1.weight")
                latent = enc["encode_block.0.style_1.weight"].shape[0]
                channels = enc["from_rgb.0.from_rgb.weight"].shape[1]
                widths = []
            else:
                raise ArchitectureError(f"{where}: neither a generator nor an encoder to infer the architecture from")
            if layer_count == 0:
                raise ArchitectureError(f"{where}: no generator/encoder blocks found")
            if enc is not None:
                ins = [enc[f"encode_block.{i}.conv_1.weight"].shape[0] for i in range(layer_count)]
                start = ins[0]
                widths = widths + ins + [enc[f"encode_block.{layer_count - 1}.conv_2.weight"].shape[0]]
            else:
                start = widths[-1]
            mapping_layers = count(mf, "map_blocks.{}.fc.weight") or 8
            d_layers = count(md, "map_blocks.{}.weight") or 3
        except KeyError as exc:
            raise ArchitectureError(f"{where}: missing tensor {exc.args[0]!r}; not an ALAE state dict") from None
        return cls(layer_count=layer_count, start_channels=int(start), max_channels=int(max(widths)),
                   latent_size=int(latent), mapping_layers=mapping_layers, channels=int(channels),
                   d_layers=d_layers)
