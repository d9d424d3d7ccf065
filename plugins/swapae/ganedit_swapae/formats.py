"""The SwapAE file formats: official ``*_checkpoint.pth`` files and ganedit native files.

Class-agnostic: every loader takes ``factories`` (``{part: network class}``) and builds the parts
with them, so the networks' own ``from_params`` (below the plugin's public API in
:mod:`ganedit_swapae.checkpoint`, which supplies the plugin's networks) can load themselves.
Layers: ``arch`` -> ``formats`` -> networks (``encoder``, ``generator``, ``discriminator``) ->
``checkpoint`` -> ``plugin``.

Official checkpoints (``taesungp/swapping-autoencoder-pytorch``) are the flat ``state_dict`` of
the whole model with ``E.``, ``G.``, ``D.stylegan2_D.`` and ``Dpatch.`` prefixes and no options.
The architecture comes from the ``opt.txt`` written beside them when present, else from the tensor
shapes; options given in the config override both. Widths are always read from the shapes, so
checkpoints that deviate from the width rules load too. Structural choices (code sizes, number of
blocks, crop and patch size, anti-aliasing) must agree between weights and options, otherwise a
:class:`~ganedit.io.checkpoint.CheckpointError` names the file and the disagreement.

Native files (:func:`save_swapae`) are safetensors with one JSON config: ``kind='autoencoder'``,
``type='swapae'`` and, per stored part (``encoder``, ``generator``, ``discriminator``,
``patch_discriminator``), its architecture; tensors are stored as ``<part>.<name>``.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping

import torch
from torch import nn

from ganedit.io.checkpoint import CheckpointError, load_model, load_state, safe_torch_load, save_model
from ganedit.nn import Blur, EqualConv2d, FusedLeakyReLU
from ganedit.nn.layers import _ScaledLeakyReLU

from ganedit_swapae.arch import (
    OFFICIAL_NAMES,
    DiscriminatorArch,
    EncoderArch,
    GeneratorArch,
    PatchDiscriminatorArch,
    PatchSampling,
    SwapAEOptions,
    SwapAEParams,
    nominal_size,
    resolve_options,
)

PARTS: tuple[str, ...] = ("encoder", "generator", "discriminator", "patch_discriminator")
OFFICIAL_PREFIX: dict[str, str] = {
    "encoder": "E.",
    "generator": "G.",
    "discriminator": "D.stylegan2_D.",
    "patch_discriminator": "Dpatch.",
}
#: Official buffers that the ganedit networks do not need (ToRGB's upsampler is never called).
IGNORED_OFFICIAL: dict[str, tuple[str, ...]] = {"generator": ("ToRGB.upsample.kernel",)}
NATIVE_KIND = "autoencoder"
NATIVE_TYPE = "swapae"
#: ``{part: callable}`` building a network from its architecture: ``make(arch)``; the generator's
#: also takes ``noise_seed=``, the patch discriminator's a :class:`PatchSampling`.
Factories = Mapping[str, Any]


@dataclass
class SwapAEModel:
    """The networks of one SwapAE checkpoint (parts that were not requested or stored are None)."""

    encoder: Any = None
    generator: Any = None
    discriminator: Any = None
    patch_discriminator: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def parts(self) -> dict[str, nn.Module]:
        return {p: getattr(self, p) for p in PARTS if getattr(self, p) is not None}


# ----------------------------------------------------------------------------- opt.txt


def _parse_value(text: str) -> Any:
    text = text.strip()
    if text in ("True", "False"):
        return text == "True"
    if text == "None":
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def read_opt_txt(path: str | os.PathLike) -> dict[str, Any]:
    """Official options from an ``opt.txt`` dump (``name: value  [default: ...]`` per line)."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{p}: cannot read the options file ({exc})") from None
    out: dict[str, Any] = {}
    for line in lines:
        if line.strip().startswith("---") or ":" not in line:
            continue
        key, rest = line.split(":", 1)
        value = rest.split("\t")[0].split("[default:")[0]
        out[key.strip()] = _parse_value(value)
    return out


def options_from_official(opt: Mapping[str, Any], source: str) -> dict[str, Any]:
    """ganedit option names from official ones (unknown/irrelevant official options are dropped)."""
    if opt.get("num_classes", 0) not in (0, None):
        raise CheckpointError(f"{source}: class-conditional SwapAE (num_classes={opt['num_classes']}) "
                              "is not supported")
    out = {}
    for name, official in OFFICIAL_NAMES.items():
        if official in opt and opt[official] is not None:
            out[name] = opt[official]
    return out


# ----------------------------------------------------------------------------- shape inference


def _sub(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}


def _numbered(state: Mapping[str, Any], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := rx.fullmatch(k))})


def _shape(state: Mapping[str, torch.Tensor], key: str, path: Path, part: str) -> tuple[int, ...]:
    if key not in state:
        raise CheckpointError(f"{path}: {part} weights are incomplete: missing {key!r}")
    return tuple(state[key].shape)


def _antialias(state: Mapping[str, torch.Tensor], default: bool) -> bool:
    for k, v in state.items():
        if k.endswith("blur.kernel") or k.endswith("Blur.kernel"):
            if v.shape[-1] > 1:
                return True
            if "DownToGlobalCode" not in k:
                return False
    return default


def infer_encoder(sd: Mapping[str, torch.Tensor], path: Path) -> EncoderArch:
    """Encoder architecture from official ``E.*`` tensors (prefix stripped)."""
    blocks = _numbered(sd, r"DownToSpatialCode\.ResBlockDownBy(\d+)\.conv2\.Conv\.weight")
    n_sp = len(blocks)
    if blocks != [2 ** i for i in range(n_sp)]:
        raise CheckpointError(f"{path}: unexpected encoder blocks ResBlockDownBy{blocks}")
    gls = _numbered(sd, r"DownToGlobalCode\.ConvLayerDownBy(\d+)\.Conv\.weight")
    if gls != [2 ** (n_sp + i) for i in range(len(gls))]:
        raise CheckpointError(f"{path}: unexpected encoder blocks ConvLayerDownBy{gls}")
    widths = [_shape(sd, "FromRGB.Conv.weight", path, "encoder")[0]]
    widths += [sd[f"DownToSpatialCode.ResBlockDownBy{b}.conv2.Conv.weight"].shape[0] for b in blocks]
    widths += [sd[f"DownToGlobalCode.ConvLayerDownBy{b}.Conv.weight"].shape[0] for b in gls]
    spatial = _shape(sd, "ToSpatialCode.1.Conv.weight", path, "encoder")[0]
    glob = _shape(sd, "ToGlobalCode.0.weight", path, "encoder")[0]
    return EncoderArch(channels=widths, num_downsampling_sp=n_sp, spatial_code_ch=spatial, global_code_ch=glob,
                       antialias=_antialias(sd, True))


def infer_generator(sd: Mapping[str, torch.Tensor], path: Path, resolution: int | None,
                    use_noise: bool) -> GeneratorArch:
    """Generator architecture from official ``G.*`` tensors (prefix stripped)."""
    spatial, glob = _shape(sd, "SpatialCodeModulation.scale.weight", path, "generator")
    heads = _numbered(sd, r"HeadResnetBlock(\d+)\.conv1\.conv\.weight")
    if heads != list(range(len(heads))):
        raise CheckpointError(f"{path}: unexpected generator blocks HeadResnetBlock{heads}")
    ups = _numbered(sd, r"UpsamplingResBlock(\d+)\.conv1\.conv\.weight")
    if ups != [2 ** (4 + j) for j in range(len(ups))]:
        raise CheckpointError(f"{path}: unexpected generator blocks UpsamplingResBlock{ups}")
    head = [sd[f"HeadResnetBlock{i}.conv1.conv.weight"].shape[1] for i in heads]
    up = [sd[f"UpsamplingResBlock{u}.conv1.conv.weight"].shape[1] for u in ups]
    res = resolution if resolution is not None else 2 ** (len(up) + 4)
    return GeneratorArch(head_channels=head, up_channels=up, spatial_code_ch=spatial, global_code_ch=glob,
                         antialias=_antialias(sd, True), use_noise=use_noise, resolution=res)


def _block_res_d(name: str) -> int | None:
    if "x" in name:
        return int(name.split("x")[0])
    return 2 ** (9 - int(name)) if name.isdigit() and name != "0" else None


def _block_res_patch(name: str) -> int | None:
    if "x" in name:
        return int(name.split("x")[0])
    return 2 ** (7 - int(name)) if name in ("1", "2", "3", "4") else None


def infer_discriminator(sd: Mapping[str, torch.Tensor], path: Path) -> DiscriminatorArch:
    """Image-D architecture from official ``D.stylegan2_D.*`` tensors (prefix stripped)."""
    names = {m.group(1) for k in sd if (m := re.fullmatch(r"convs\.([^.]+)\.conv2\.Conv\.weight", k))}
    blocks = sorted(((_block_res_d(n), n) for n in names), reverse=True)
    if not blocks or any(r is None for r, _ in blocks):
        raise CheckpointError(f"{path}: unexpected discriminator blocks {sorted(names)}")
    nominal = blocks[0][0]
    if [r for r, _ in blocks] != [nominal // 2 ** i for i in range(len(blocks))] or blocks[-1][0] != 8:
        raise CheckpointError(f"{path}: discriminator blocks {sorted(names)} do not step down to 4x4")
    chans = {str(nominal): _shape(sd, "convs.0.Conv.weight", path, "discriminator")[0]}
    for r, n in blocks:
        chans[str(r // 2)] = sd[f"convs.{n}.conv2.Conv.weight"].shape[0]
    c4 = _shape(sd, "final_conv.Conv.weight", path, "discriminator")[0]
    fin = _shape(sd, "final_linear.0.weight", path, "discriminator")
    side = int(round(math.sqrt(fin[1] / c4)))
    if c4 != chans["4"] or side * side * c4 != fin[1] or fin[0] != c4:
        raise CheckpointError(f"{path}: discriminator head shapes {fin} do not fit a {c4}-channel 4x4 stage")
    resolution = side * nominal // 4
    if nominal_size(resolution) != nominal:
        raise CheckpointError(f"{path}: discriminator final map {side}x{side} does not fit a {nominal} px D")
    return DiscriminatorArch(resolution=resolution, channels=chans, antialias=_antialias(sd, True))


def infer_patch_discriminator(sd: Mapping[str, torch.Tensor], path: Path) -> PatchDiscriminatorArch:
    """Dpatch architecture from official ``Dpatch.*`` tensors (prefix stripped)."""
    names = {m.group(1) for k in sd if (m := re.fullmatch(r"convs\.([^.]+)\.conv2\.Conv\.weight", k))}
    down = sorted(((_block_res_patch(n), n) for n in names - {"5"}), reverse=True)
    if not down or any(r is None for r, _ in down) or "5" not in names:
        raise CheckpointError(f"{path}: unexpected patch discriminator blocks {sorted(names)}")
    size = down[0][0]
    if [r for r, _ in down] != [size // 2 ** i for i in range(len(down))] or down[-1][0] != 8:
        raise CheckpointError(f"{path}: patch discriminator blocks {sorted(names)} do not step down to 4x4")
    chans = {str(size): _shape(sd, "convs.0.Conv.weight", path, "patch discriminator")[0]}
    for r, n in down:
        chans[str(r // 2)] = sd[f"convs.{n}.conv2.Conv.weight"].shape[0]
    max_nc = _shape(sd, "convs.6.Conv.weight", path, "patch discriminator")[0]
    if sd["convs.5.conv2.Conv.weight"].shape[0] != 2 * max_nc:
        raise CheckpointError(f"{path}: patch discriminator block 5 is not 2 x {max_nc} wide")
    pair = [sd[f"pairlinear.{i}.weight"].shape for i in _numbered(sd, r"pairlinear\.(\d+)\.weight")]
    if not pair or pair[-1][0] != 1 or pair[0][1] != 8 * max_nc:
        raise CheckpointError(f"{path}: patch discriminator pair classifier shapes {pair} do not fit "
                              f"{max_nc}-channel 2x2 features")
    return PatchDiscriminatorArch(patch_size=size, channels=chans, max_nc=max_nc,
                                  pair_channels=[int(s[0]) for s in pair[:-1]], antialias=_antialias(sd, True))


# ----------------------------------------------------------------------------- consistency checks


def _check(path: Path, part: str, inferred: Mapping[str, Any], wanted: Mapping[str, Any],
           sources: Mapping[str, str]) -> None:
    """Raise when an option set explicitly (config/opt.txt/native config) contradicts the weights."""
    for name, got in inferred.items():
        if name in wanted and wanted[name] is not None and wanted[name] != got:
            src = sources.get(name, "the options")
            raise CheckpointError(f"{path}: {part} weights do not match {src}: {name} is {got} in the "
                                  f"weights but {wanted[name]} in {src}")


def _structural(part: str, arch: Any) -> dict[str, Any]:
    if part == "encoder":
        return {"num_downsampling_sp": arch.num_downsampling_sp, "num_downsampling_gl": arch.num_downsampling_gl,
                "spatial_code_ch": arch.spatial_code_ch, "global_code_ch": arch.global_code_ch,
                "antialias": arch.antialias}
    if part == "generator":
        return {"num_downsampling_sp": len(arch.up_channels), "num_head_blocks": len(arch.head_channels),
                "spatial_code_ch": arch.spatial_code_ch, "global_code_ch": arch.global_code_ch,
                "antialias": arch.antialias}
    if part == "discriminator":
        return {"resolution": arch.resolution, "antialias": arch.antialias}
    return {"patch_size": arch.patch_size, "patch_max_nc": arch.max_nc, "antialias": arch.antialias}


def _sync_options(options: dict[str, Any], part: str, arch: Any, explicit: Mapping[str, Any]) -> None:
    """Record in ``options`` what the loaded weights fixed (unless set explicitly), so that
    ``SwapAEModel.options`` describes the networks (e.g. to build missing parts to match)."""
    found = _structural(part, arch)
    if part == "generator":
        found.update(resolution=arch.resolution, use_noise=arch.use_noise)
    options.update({k: v for k, v in found.items() if k not in explicit})


# ----------------------------------------------------------------------------- building


def _new_module(part: str, arch: Any, options: Mapping[str, Any], factories: Factories) -> nn.Module:
    make = factories[part]
    if part == "generator":
        return make(arch, noise_seed=int(options.get("noise_seed", 0)))
    if part == "patch_discriminator":
        return make(arch, PatchSampling.from_options(dict(options)))
    return make(arch)


def _arch_from_options(part: str, options: Mapping[str, Any]) -> Any:
    opts = dict(options)
    try:
        return {"encoder": EncoderArch, "generator": GeneratorArch, "discriminator": DiscriminatorArch,
                "patch_discriminator": PatchDiscriminatorArch}[part].from_options(opts)
    except (KeyError, ValueError) as exc:
        raise ValueError(f"cannot build a SwapAE {part} from options {opts}: {exc}") from None


def new_model(options: Mapping[str, Any] | None, parts: tuple[str, ...], factories: Factories) -> SwapAEModel:
    """Randomly initialised networks (official inits) from options (official defaults otherwise)."""
    opts = resolve_options(dict(options or {}))
    model = SwapAEModel(options=opts)
    for part in parts:
        setattr(model, part, _new_module(part, _arch_from_options(part, opts), opts, factories))
    return model


_LEAF_TYPES: dict[str, tuple[type, ...]] = {
    "Blur": (Blur,),
    "RefPad": (nn.ReflectionPad2d,),
    "Conv": (EqualConv2d,),
    "Act": (FusedLeakyReLU, _ScaledLeakyReLU),
}


def translate_official_key(module: nn.Module, key: str) -> str:
    """Map an official key onto ``module``: its ``ConvLayer`` children are named ``Blur``/``Conv``/
    ``Act`` officially and indexed here, so those names are resolved by layer type."""
    key = key.replace(".noise.fixed_noise", ".fixed_noise")
    parts = key.split(".")
    out: list[str] = []
    cur = module
    for i, part in enumerate(parts):
        children = dict(cur.named_children())
        if part in children:
            cur = children[part]
            out.append(part)
            continue
        if part in _LEAF_TYPES:
            hits = [n for n, c in children.items() if isinstance(c, _LEAF_TYPES[part])]
            if len(hits) == 1:
                cur = children[hits[0]]
                out.append(hits[0])
                continue
        return ".".join(out + parts[i:])
    return ".".join(out)


def _load_weights(module: nn.Module, tensors: Mapping[str, torch.Tensor], path: Path, part: str,
                  official: bool) -> None:
    """Strictly load ``tensors`` into ``module``; clear errors for missing/extra/mis-shaped tensors.
    The generator's fixed noise may be absent (then it keeps its seeded draw)."""
    ignored = IGNORED_OFFICIAL.get(part, ()) if official else ()
    mapped: dict[str, torch.Tensor] = {}
    noise: dict[str, torch.Tensor] = {}
    generator = hasattr(module, "set_fixed_noise")
    for key, value in tensors.items():
        if key in ignored:
            continue
        name = translate_official_key(module, key) if official else key
        if name.endswith("fixed_noise") and generator:
            noise[name] = value
        else:
            mapped[name] = value
    if noise:
        module.set_fixed_noise(noise)  # type: ignore[operator]
    load_state(module, mapped, path, part, optional=tuple(k for k in module.state_dict() if k.endswith("fixed_noise")),
               keys_message="{source}: {what} weights do not fit the architecture: {details}",
               shape_message="{source}: {what} tensor {key!r} has shape {got}, the architecture needs {want}")


def load_official(path: str | os.PathLike, overrides: Mapping[str, Any] | None, parts: tuple[str, ...],
                  require: bool, factories: Factories) -> SwapAEModel:
    """Load ``parts`` of an official checkpoint; ``overrides`` (ganedit option names) win over the
    ``opt.txt`` beside the file. Parts absent from the file raise when ``require``, else are None."""
    p = Path(path)
    state = safe_torch_load(p)
    if not isinstance(state, Mapping) or not any(isinstance(k, str) and k.startswith(("E.", "G.")) for k in state):
        kind = type(state).__name__
        keys = sorted(map(str, state))[:5] if isinstance(state, Mapping) else []
        raise CheckpointError(f"{p}: not an official SwapAE checkpoint (expected a flat state dict with "
                              f"E./G./D.stylegan2_D./Dpatch. keys; got a {kind}{' with keys ' + str(keys) if keys else ''})")
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    sources = {k: "the config" for k in overrides}
    opt_path = p.parent / "opt.txt"
    from_opt: dict[str, Any] = {}
    if opt_path.is_file():
        from_opt = options_from_official(read_opt_txt(opt_path), str(opt_path))
        sources.update({k: str(opt_path.name) for k in from_opt if k not in sources})
    wanted = {**from_opt, **overrides}

    archs: dict[str, Any] = {}
    subs = {part: _sub(state, prefix) for part, prefix in OFFICIAL_PREFIX.items()}
    if subs["discriminator"]:
        archs["discriminator"] = infer_discriminator(subs["discriminator"], p)
    inferred: dict[str, Any] = {}
    if "discriminator" in archs:
        inferred["resolution"] = archs["discriminator"].resolution
    # Without opt.txt or a D, the official default layout (structure code 1/16 of 2^(4+n)) decides.
    gen_resolution = wanted.get("resolution", inferred.get("resolution"))
    options = resolve_options(wanted, inferred)
    for part in parts:
        sd = subs[part]
        if not sd:
            if require:
                raise CheckpointError(f"{p}: has no {part} weights ({OFFICIAL_PREFIX[part]}*)")
            continue
        if part == "encoder":
            arch = infer_encoder(sd, p)
        elif part == "generator":
            arch = infer_generator(sd, p, gen_resolution, bool(options["use_noise"]))
        elif part == "discriminator":
            arch = archs["discriminator"]
        else:
            arch = infer_patch_discriminator(sd, p)
        _check(p, part, _structural(part, arch), wanted, sources)
        archs[part] = arch
    for part in parts:
        if part in archs:
            _sync_options(options, part, archs[part], wanted)
    model = SwapAEModel(options=options, meta={"source": str(p), "format": "swapae_official"})
    if "num_discriminator_iters" in state:
        model.meta["num_discriminator_iters"] = int(torch.as_tensor(state["num_discriminator_iters"]).sum())
    for part in parts:
        if part not in archs:
            continue
        module = _new_module(part, archs[part], options, factories)
        _load_weights(module, subs[part], p, part, official=True)
        setattr(model, part, module.eval())
    return model


# ----------------------------------------------------------------------------- native format


def save_swapae(path: str | os.PathLike, model: SwapAEModel | None = None, *,
                extra: Mapping[str, Any] | None = None, type_name: str = NATIVE_TYPE,
                config_fields: Mapping[str, Any] | None = None, **modules: nn.Module) -> None:
    """Write the given parts (``encoder=E, generator=G, ...`` or a :class:`SwapAEModel`) natively;
    ``type_name`` is the config's ``type`` and ``config_fields`` extra top-level config entries
    (plugins building on SwapAE, such as TCP, store their own type and settings this way)."""
    parts: dict[str, nn.Module] = dict(model.parts()) if model is not None else {}
    for name, module in modules.items():
        if name not in PARTS:
            raise ValueError(f"unknown SwapAE part {name!r}; parts: {', '.join(PARTS)}")
        if module is not None:
            parts[name] = module
    if not parts:
        raise ValueError("nothing to save: give at least one SwapAE part")
    config: dict[str, Any] = {"kind": NATIVE_KIND, "type": type_name, "parts": {}}
    for name, module in parts.items():
        entry: dict[str, Any] = {"arch": module.arch.model_dump()}
        if hasattr(module, "noise_seed"):
            entry["noise_seed"] = module.noise_seed
        if hasattr(module, "sampling"):
            entry["sampling"] = module.sampling.model_dump()
        config["parts"][name] = entry
    if model is not None:
        config["options"] = dict(model.options)
        if model.meta:
            config["source"] = dict(model.meta)
    if extra:
        config["extra"] = dict(extra)
    config.update(config_fields or {})
    save_model(path, parts, config)


_NATIVE_ARCH = {"encoder": EncoderArch, "generator": GeneratorArch, "discriminator": DiscriminatorArch,
                "patch_discriminator": PatchDiscriminatorArch}


def load_swapae_native(path: str | os.PathLike, overrides: Mapping[str, Any] | None, parts: tuple[str, ...],
                       require: bool, types: tuple[str, ...], factories: Factories) -> SwapAEModel:
    """Load ``parts`` of a native SwapAE file (written by :func:`save_swapae`)."""
    p = Path(path)
    states, config = load_model(p, expect={"type": types})
    if "parts" not in config:
        raise CheckpointError(f"{p}: checkpoint is a {config.get('kind')!r}/{config.get('type')!r} file without "
                              f"parts, expected a SwapAE model (type {' or '.join(types)})")
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    stored = dict(config.get("options") or {})
    options = resolve_options(overrides, stored)
    model = SwapAEModel(options=options, meta={"source": str(p), "format": "native",
                                               **({"extra": config["extra"]} if "extra" in config else {})})
    for part in parts:
        entry = config["parts"].get(part)
        if entry is None:
            if require:
                raise CheckpointError(f"{p}: has no {part} weights (stored parts: "
                                      f"{', '.join(config['parts']) or 'none'})")
            continue
        try:
            arch = _NATIVE_ARCH[part].model_validate(dict(entry["arch"]))
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"{p}: invalid {part} architecture in the config ({exc})") from None
        _check(p, part, _structural(part, arch), overrides, {k: "the config" for k in overrides})
        _sync_options(options, part, arch, overrides)
        if part == "generator":
            arch.use_noise = bool(overrides.get("use_noise", arch.use_noise))
            arch.resolution = int(overrides.get("resolution", arch.resolution))
            module: nn.Module = factories[part](arch, noise_seed=int(overrides.get(
                "noise_seed", entry.get("noise_seed", 0))))
        elif part == "patch_discriminator":
            sampling = PatchSampling.model_validate(dict(entry.get("sampling") or {}))
            for name, field_name in (("patch_num_crops", "num_crops"), ("patch_min_scale", "min_scale"),
                                     ("patch_max_scale", "max_scale"), ("patch_use_aggregation", "use_aggregation")):
                if name in overrides:
                    setattr(sampling, field_name, overrides[name])
                options[name] = getattr(sampling, field_name)
            module = factories[part](arch, sampling)
        else:
            module = _new_module(part, arch, options, factories)
        sub = dict(states.get(part, {}))
        if part == "generator" and "noise_seed" in overrides:
            sub = {k: v for k, v in sub.items() if not k.endswith("fixed_noise")}
        _load_weights(module, sub, p, part, official=False)
        setattr(model, part, module.eval())
    return model


# ----------------------------------------------------------------------------- dispatch


def is_official_checkpoint(path: str | os.PathLike) -> bool:
    """Cheap test: a torch file holding a flat state dict with ``E.`` and ``G.`` keys."""
    p = Path(path)
    if not p.is_file() or p.suffix == ".safetensors":
        return False
    try:
        with open(p, "rb") as fh:
            magic = fh.read(4)
        if magic[:2] != b"PK":  # not the zip format; legacy files are loaded fully below
            state = torch.load(p, map_location="cpu", weights_only=True)
        else:
            state = torch.load(p, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # noqa: BLE001 - a sniffer never raises
        return False
    return isinstance(state, Mapping) and any(str(k).startswith("E.") for k in state) and any(
        str(k).startswith("G.") for k in state)


def load_swapae(path: str | os.PathLike, overrides: Mapping[str, Any] | None, parts: tuple[str, ...],
                require: bool, types: tuple[str, ...], factories: Factories) -> SwapAEModel:
    """Load an official or native SwapAE checkpoint (chosen by content); ``types`` lists the
    native ``type`` values accepted (plugins building on SwapAE may store their own)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    if is_native_file(p):
        return load_swapae_native(p, overrides, parts, require, types, factories)
    return load_official(p, overrides, parts, require, factories)


def is_native_file(path: Path) -> bool:
    """A safetensors file by name or by header (8-byte length, then JSON)."""
    with open(path, "rb") as fh:
        head = fh.read(16)
    return path.suffix == ".safetensors" or (len(head) >= 9 and head[8:9] == b"{")


def load_part(part: str, params: SwapAEOptions, make: Any, types: tuple[str, ...] = (NATIVE_TYPE,)) -> nn.Module:
    """What the networks' ``from_params`` do: load part ``part`` of ``params.checkpoint`` (or build it
    randomly initialised from the options) with ``make`` (the calling class)."""
    checkpoint = getattr(params, "checkpoint", None)
    overrides = params.given()
    if checkpoint is None:
        return getattr(new_model(overrides, (part,), {part: make}), part)
    return getattr(load_swapae(checkpoint, overrides, (part,), True, types, {part: make}), part)


class SwapAEPart:
    """Mixin of the SwapAE networks (first base): their params (options and a checkpoint) and
    ``from_params``, which loads part :attr:`part` of the checkpoint (or builds it fresh) as an
    instance of the class itself."""

    part: ClassVar[str] = ""
    Params: ClassVar[type[SwapAEParams]] = SwapAEParams

    def __init_subclass__(cls, part: str | None = None, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if part is not None:
            cls.part = part

    @classmethod
    def from_params(cls, params: SwapAEParams, context: Any = None) -> Any:
        return load_part(cls.part, params, cls)


def sniff_official(path: Any) -> bool:
    return is_official_checkpoint(path)
