"""Reading StyleALAE weights: official ``.pth`` training checkpoints and ganedit native files.

Official files (``Checkpointer.save`` of ``podgorskiy/ALAE``) hold ``{'models': {...},
'auxiliary': {...}}``; the network names are historical:

============== ============================ =================
part           official key (EMA copy)      network
============== ============================ =================
``encoder``    ``discriminator`` (``_s``)   E
``decoder``    ``generator`` (``_s``)       G
``mapping_d``  ``mapping_tl`` (``_s``)      latent D
``mapping_f``  ``mapping_fl`` (``_s``)      F
``dlatent_avg`` ``dlatent_avg`` (``buff``)  running mean of w, ``[num_ws, latent]``
============== ============================ =================

Official tensors are effective weights (implicit equalized LR); ganedit layers scale at run time,
so importing divides each equalized weight by its run-time scale and each bias by its lr
multiplier (:func:`official_to_native`). Native files store the ganedit (scaled) form under
``{ema|live}.{part}.{key}`` plus ``dlatent_avg``, with the architecture in the header.

Nothing pickled is executed: files load with ``torch.load(weights_only=True)``. Real training
checkpoints also pickle the loss tracker's ``tracker.RunningMeanTorch`` objects; such unknown
classes are replaced by inert placeholders (see :func:`load_official_file`) since only
``models`` is used.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ganedit.io.checkpoint import CheckpointError, check_finite, is_native, load_model, read_native_config, save_model
from ganedit_stylealae.arch import ALAEArch, ArchitectureError
from ganedit_stylealae.layers import GainConv2d, GainLinear
from ganedit_stylealae.networks import PARTS, build_part
OFFICIAL_NAMES: dict[str, str] = {
    "encoder": "discriminator",
    "decoder": "generator",
    "mapping_d": "mapping_tl",
    "mapping_f": "mapping_fl",
}
WHICH = ("ema", "live")
NATIVE_TYPE = "stylealae"
_BLUR = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16.0
_MAX_PLACEHOLDERS = 64


# --------------------------------------------------------------------------- official files


class _Inert:
    """Stand-in for a class pickled in a checkpoint that ganedit does not need (e.g. the loss
    tracker). Accepts and stores whatever the unpickler hands it; has no behaviour."""

    def __new__(cls, *args: Any, **kwargs: Any) -> "_Inert":
        obj = object.__new__(cls)
        obj.__dict__["_args"] = args
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.__dict__.setdefault("_items", {})[key] = value

    def append(self, value: Any) -> None:
        self.__dict__.setdefault("_list", []).append(value)

    def extend(self, values: Iterable[Any]) -> None:
        self.__dict__.setdefault("_list", []).extend(values)


def _placeholder(qualname: str) -> tuple[type, str]:
    module, _, name = qualname.rpartition(".")
    cls = type(name or qualname, (_Inert,), {"__module__": module or "__unknown__"})
    return cls, qualname


_UNSUPPORTED = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def load_official_file(path: str | Path) -> Any:
    """``torch.load(weights_only=True)`` of ``path``; unknown pickled classes become inert placeholders.

    Raises :class:`CheckpointError` naming the file for missing, truncated or non-torch files.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    placeholders: list[tuple[type, str]] = []
    while True:
        try:
            with torch.serialization.safe_globals(placeholders):
                return torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            match = _UNSUPPORTED.search(str(exc))
            if match is None or len(placeholders) >= _MAX_PLACEHOLDERS:
                lines = [ln.strip() for ln in str(exc).splitlines() if "GLOBAL" in ln or "Unsupported" in ln]
                why = lines[0] if lines else type(exc).__name__
                raise CheckpointError(f"{p}: refused to load: the pickle needs code or objects that are not "
                                      f"plain tensors/containers ({why})") from None
            placeholders.append(_placeholder(match.group(1)))
        except Exception as exc:  # noqa: BLE001 - junk bytes fail the unpickler in many ways (struct.error, ...)
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise CheckpointError(f"{p}: not a readable torch checkpoint (truncated or another format): {msg}") from None


def official_models(obj: Any, path: str | Path) -> dict[str, Any]:
    """The ``models`` dict of an official checkpoint (the full training dict or the sub-dict itself)."""
    models = obj.get("models") if isinstance(obj, Mapping) and "models" in obj else obj
    known = set(OFFICIAL_NAMES.values())
    if not isinstance(models, Mapping) or not any(k.removesuffix("_s") in known for k in models):
        found = sorted(map(str, obj.keys()))[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(
            f"{path}: not an official ALAE checkpoint: expected {{'models': {{'generator', 'discriminator', "
            f"'mapping_fl', 'mapping_tl', ... (+ '_s' EMA copies)}}}}, found {found}")
    check_finite(models, path, prefix="models")
    return dict(models)


def sniff_official(path: str | Path) -> bool:
    """Cheap test for an official ALAE checkpoint: looks for its state-dict names without unpickling."""
    p = Path(path)
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as zf:
                pkl = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                blob = zf.read(pkl) if pkl else b""
        else:
            with open(p, "rb") as fh:
                blob = fh.read(8 << 20)
            if not blob.startswith(b"\x80"):  # legacy torch files are a pickle stream (PROTO opcode)
                return False
    except (OSError, zipfile.BadZipFile):
        return False
    if b"ganedit.training" in blob:  # ganedit's own alae_train snapshot (format alae_train), same layer names
        return False
    has_net = b"decode_block." in blob or b"encode_block." in blob
    has_alae_names = b"mapping_fl" in blob or b"mapping_tl" in blob or b"map_blocks." in blob
    return has_net and has_alae_names


# --------------------------------------------------------------------------- scaling


def _scales(module: nn.Module) -> dict[str, float]:
    """``native = official * factor`` for every equalized tensor of ``module`` (others: 1)."""
    out: dict[str, float] = {}
    for name, sub in module.named_modules():
        if isinstance(sub, (GainLinear, GainConv2d)):
            prefix = f"{name}." if name else ""
            out[prefix + "weight"] = 1.0 / sub.scale
            if sub.bias is not None:
                out[prefix + "bias"] = 1.0 / getattr(sub, "lr_mul", 1.0)
    return out


def official_to_native(module: nn.Module, state: Mapping[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """Map an official state dict onto ``module``'s (ganedit) state dict, checking every key and shape.

    Official ``*.blur.weight`` buffers are checked to be the standard binomial kernel and dropped
    (ganedit's :class:`~ganedit.nn.Blur` keeps its own ``kernel`` buffer).
    """
    target = module.state_dict()
    factors = _scales(module)
    out: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, value in state.items():
        if key.endswith("blur.weight"):
            if not isinstance(value, torch.Tensor) or value.ndim != 4 or not torch.allclose(
                    value.float(), _BLUR.expand_as(value), atol=1e-6):
                raise CheckpointError(f"{where}: {key} is not the standard [1,2,1] binomial blur kernel")
            continue
        if key not in target:
            unexpected.append(key)
            continue
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{where}: {key} is a {type(value).__name__}, expected a tensor")
        if tuple(value.shape) != tuple(target[key].shape):
            raise CheckpointError(f"{where}: {key} has shape {tuple(value.shape)}, the architecture needs "
                                  f"{tuple(target[key].shape)}")
        out[key] = value.detach().float() * factors.get(key, 1.0)
    missing = [k for k in target if k not in out and not k.endswith("blur.kernel")]
    if unexpected or missing:
        raise CheckpointError(f"{where}: state dict does not match the architecture; "
                              f"missing {missing[:5]}, unexpected {unexpected[:5]}")
    for k in target:
        out.setdefault(k, target[k])
    return out


def native_to_official(module: nn.Module) -> dict[str, torch.Tensor]:
    """The official (effective-weight) state dict of ``module`` with the official blur buffers.

    Used to write fixtures and test the importer; the inverse of :func:`official_to_native`.
    """
    factors = _scales(module)
    out: dict[str, torch.Tensor] = {}
    for key, value in module.state_dict().items():
        if key.endswith("blur.kernel"):
            continue
        out[key] = value.detach().clone() / factors.get(key, 1.0)
    for name, _ in module.named_modules():
        if name.endswith("blur"):
            # Both block kinds blur a tensor with as many channels as their first bias.
            channels = module.get_submodule(name.rsplit(".", 1)[0]).bias_1.shape[1]
            out[f"{name}.weight"] = _BLUR.view(1, 1, 3, 3).repeat(channels, 1, 1, 1)
    return out


# --------------------------------------------------------------------------- unified reading


@dataclass
class ALAEWeights:
    """Weights of one set (EMA or live) in ganedit form, per part, with the architecture."""

    arch: ALAEArch
    parts: dict[str, dict[str, torch.Tensor]]
    dlatent_avg: torch.Tensor | None
    which: str
    source: str  # 'official' | 'native'
    path: str
    meta: dict[str, Any] = field(default_factory=dict)


def _official_sets(models: Mapping[str, Any], want: Iterable[str], which: str,
                   path: Path) -> tuple[dict[str, tuple[Mapping[str, Any], str]], str]:
    """``{part: (state_dict, official key)}`` of the requested set (``_s`` for EMA) and the set used.

    EMA falls back to the live weights (with a warning) when a file has no ``_s`` copy.
    """
    chosen: dict[str, tuple[Mapping[str, Any], str]] = {}
    used = which
    for part in want:
        name = OFFICIAL_NAMES[part]
        key = f"{name}_s" if which == "ema" else name
        if which == "ema" and models.get(key) is None and models.get(name) is not None:
            warnings.warn(f"{path}: no EMA copy '{key}'; using the live '{name}' weights", stacklevel=3)
            key, used = name, "live"
        sd = models.get(key)
        if sd is None:
            raise CheckpointError(f"{path}: official checkpoint has no '{key}' entry (the {part} network)")
        if not isinstance(sd, Mapping):
            raise CheckpointError(f"{path}: models['{key}'] is a {type(sd).__name__}, expected a state dict")
        chosen[part] = (sd, key)
    return chosen, used


def read_weights(path: str | Path, parts: Iterable[str], which: str = "ema",
                 official_config: str | Path | None = None) -> ALAEWeights:
    """Read ``parts`` of a StyleALAE checkpoint (official ``.pth`` or native ``.safetensors``).

    Returns the weights in ganedit form; callers build modules from ``weights.arch`` and load
    ``weights.parts`` strictly. ``which`` is ``'ema'``
    (official ``_s`` copies, the default of every official inference script) or ``'live'``.
    """
    if which not in WHICH:
        raise ValueError(f"which must be one of {WHICH}, got {which!r}")
    p = Path(path)
    parts = tuple(parts)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    if p.suffix == ".safetensors" or is_native(p):
        return _read_native(p, parts, which)

    models = official_models(load_official_file(p), p)
    sets, used = _official_sets(models, parts, which, p)
    try:
        if official_config is not None:
            arch = ALAEArch.from_official_config(official_config)
        else:
            # Infer from every network in the file, so depths of parts not requested are known too.
            every = {part: models.get(f"{name}_s") or models.get(name) for part, name in OFFICIAL_NAMES.items()}
            arch = ALAEArch.infer({k: v for k, v in every.items() if isinstance(v, Mapping)}, where=str(p))
    except ArchitectureError as exc:
        raise CheckpointError(str(exc)) from None
    native: dict[str, dict[str, torch.Tensor]] = {}
    for part, (sd, key) in sets.items():
        native[part] = official_to_native(build_part(part, arch), sd, where=f"{p} [models.{key}]")
    avg = None
    avg_sd = models.get("dlatent_avg")
    if isinstance(avg_sd, Mapping) and isinstance(avg_sd.get("buff"), torch.Tensor):
        avg = avg_sd["buff"].detach().float()
        if tuple(avg.shape) != (arch.num_ws, arch.latent_size):
            raise CheckpointError(f"{p}: dlatent_avg.buff has shape {tuple(avg.shape)}, expected "
                                  f"{(arch.num_ws, arch.latent_size)}")
    return ALAEWeights(arch, native, avg, used, "official", str(p))


def _read_native(p: Path, parts: tuple[str, ...], which: str) -> ALAEWeights:
    groups, config = load_model(p, expect={"type": NATIVE_TYPE})
    try:
        arch = ALAEArch.from_dict(config.get("architecture") or {})
    except (ArchitectureError, TypeError) as exc:
        raise CheckpointError(f"{p}: bad architecture in the ganedit header ({exc})") from None
    sets = [s for s in WHICH if s in groups]
    used = which
    if which not in sets:
        if which == "ema" and "live" in sets:
            warnings.warn(f"{p}: no EMA weights; using the live ones", stacklevel=3)
            used = "live"
        else:
            raise CheckpointError(f"{p}: no {which!r} weights in this file (has {sets})")
    stored = groups[used]
    out: dict[str, dict[str, torch.Tensor]] = {}
    for part in parts:
        prefix = f"{part}."
        sd = {k[len(prefix):]: v for k, v in stored.items() if k.startswith(prefix)}
        if not sd:
            provided = sorted({k.split(".")[0] for s in sets for k in groups[s]})
            raise CheckpointError(f"{p}: no {part} weights in this file (it provides {provided})")
        out[part] = sd
    return ALAEWeights(arch, out, groups.get("", {}).get("dlatent_avg"), used, "native", str(p), dict(config))


def write_native(path: str | Path, arch: ALAEArch, sets: Mapping[str, Mapping[str, Mapping[str, torch.Tensor]]],
                 dlatent_avg: torch.Tensor | None, extra: Mapping[str, Any] | None = None) -> None:
    """Write a native StyleALAE file: ``sets`` maps ``'ema'``/``'live'`` to ``{part: state_dict}``."""
    states: dict[str, Mapping[str, torch.Tensor]] = {}
    provides: set[str] = set()
    for which, parts in sets.items():
        if which not in WHICH:
            raise ValueError(f"unknown weight set {which!r}")
        for part, sd in parts.items():
            if part not in PARTS:
                raise ValueError(f"unknown StyleALAE part {part!r}")
            provides.add(part)
            states[f"{which}.{part}"] = sd
    if dlatent_avg is not None:
        states[""] = {"dlatent_avg": dlatent_avg}
    kinds = (["generator"] if {"mapping_f", "decoder"} <= provides else []) + \
            (["encoder"] if "encoder" in provides else []) + \
            (["discriminator"] if {"encoder", "mapping_d"} <= provides else [])
    config = {"kind": kinds[0] if kinds else "generator", "type": NATIVE_TYPE, "provides": kinds,
              "parts": sorted(provides), "sets": sorted(sets), "architecture": arch.as_dict(),
              **dict(extra or {})}
    save_model(path, states, config)


def convert_official(src: str | Path, dst: str | Path) -> None:
    """``ganedit convert`` hook: official ALAE ``.pth`` -> native safetensors (EMA and live sets)."""
    p = Path(src)
    models = official_models(load_official_file(p), p)
    present = [part for part, name in OFFICIAL_NAMES.items() if name in models or f"{name}_s" in models]
    sets: dict[str, dict[str, dict[str, torch.Tensor]]] = {}
    arch = None
    for which, suffix in (("ema", "_s"), ("live", "")):
        raw = {part: models[f"{OFFICIAL_NAMES[part]}{suffix}"] for part in present
               if isinstance(models.get(f"{OFFICIAL_NAMES[part]}{suffix}"), Mapping)}
        if not raw:
            continue
        if arch is None:
            try:
                arch = ALAEArch.infer(raw, where=str(p))
            except ArchitectureError as exc:
                raise CheckpointError(str(exc)) from None
        sets[which] = {part: official_to_native(build_part(part, arch), sd,
                                                where=f"{p} [models.{OFFICIAL_NAMES[part]}{suffix}]")
                       for part, sd in raw.items()}
    if arch is None:
        raise CheckpointError(f"{p}: official checkpoint holds no network state dicts")
    avg_sd = models.get("dlatent_avg")
    avg = avg_sd.get("buff") if isinstance(avg_sd, Mapping) else None
    write_native(dst, arch, sets, avg.float() if isinstance(avg, torch.Tensor) else None,
                 extra={"converted_from": p.name, "source_format": "alae_official"})


def native_config(path: str | Path) -> dict[str, Any] | None:
    """The ganedit header of a native StyleALAE file, ``None`` for anything else."""
    try:
        cfg = read_native_config(path)
    except CheckpointError:
        return None
    return cfg if cfg and cfg.get("type") == NATIVE_TYPE else None
