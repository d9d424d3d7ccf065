"""Official pSp / e4e / ReStyle checkpoints: reading, architecture from tensor shapes, checks.

The three repos' coaches save one ``torch.save`` dict (read here with ``weights_only=True``)::

    {'state_dict': {'encoder.*': ..., 'decoder.*': ...},   # decoder = rosinality StyleGAN2 generator
     'opts': vars(training options),                       # a plain dict
     'latent_avg': tensor,                                 # when start_from_latent_avg (ReStyle: always)
     # ReStyle-e4e (and e4e with --save_training_data) add, all ignored here:
     'global_step', 'optimizer', 'best_val_loss', 'discriminator_state_dict', ...}

What comes from where:

* the encoder class from ``opts['encoder_type']`` (when absent: from the state-dict keys, the
  requested family breaking the tie between pSp's and e4e's identical FPN modules);
* widths, style dimension and number of styles from the tensor shapes (the official code
  hard-codes 64/128/256/512 and 512; reduced-width files load too);
* the decoder from ``decoder.*`` through the ``stylegan2`` plugin's rosinality reader;
* ``latent_avg`` as stored: ``[n_styles, S]`` (e4e; pSp/ReStyle trained from a StyleGAN file with
  an average), ``[S]`` (pSp/ReStyle coaches when the StyleGAN file had none) or ``[1, S]`` (pSp
  ``learn_in_w``); it is kept as rows ``[k, S]``, ``k`` in ``{1, n_styles}``, added per style;
* ``opts['device']`` (``'cuda:0'`` in every training file) is ignored.

Checked, with a :class:`ganedit.io.checkpoint.CheckpointError` naming the file otherwise: the
layout, the encoder type, every key and shape (strict), the number of styles and style width
against the decoder, the output size in ``opts`` against the decoder; finite values everywhere
(:func:`ganedit.io.checkpoint.safe_torch_load`).
"""

from __future__ import annotations

import argparse
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ganedit.io.checkpoint import CheckpointError, options_dict, safe_torch_load

from ganedit_encoders.networks import BackboneStyleEncoder, FPNStyleEncoder, WEncoder, WPlusEncoder

#: Official encoder classes: (ganedit network class, family, progressive, backbone).
ENCODER_TYPES: dict[str, tuple[type[nn.Module], str, bool, str]] = {
    "GradualStyleEncoder": (FPNStyleEncoder, "psp", False, "ir"),
    "Encoder4Editing": (FPNStyleEncoder, "e4e", True, "ir"),
    "BackboneEncoderUsingLastLayerIntoW": (WEncoder, "psp", False, "ir"),
    "SingleStyleCodeEncoder": (WEncoder, "psp", False, "ir"),  # e4e repo's name for the same class
    "BackboneEncoderUsingLastLayerIntoWPlus": (WPlusEncoder, "psp", False, "ir"),
    "ResNetGradualStyleEncoder": (FPNStyleEncoder, "restyle", False, "resnet34"),
    "BackboneEncoder": (BackboneStyleEncoder, "restyle", False, "ir"),
    "ProgressiveBackboneEncoder": (BackboneStyleEncoder, "restyle", True, "ir"),
    "ResNetBackboneEncoder": (BackboneStyleEncoder, "restyle", False, "resnet34"),
    "ResNetProgressiveBackboneEncoder": (BackboneStyleEncoder, "restyle", True, "resnet34"),
}
#: ReStyle's e4e-style (progressive) encoder classes; the others are pSp-style.
RESTYLE_E4E_TYPES = ("ProgressiveBackboneEncoder", "ResNetProgressiveBackboneEncoder")

FAMILY_NAMES = {"e4e": "e4e (encoder4editing)", "psp": "pSp (pixel2style2pixel)",
                "restyle": "ReStyle (restyle-encoder)"}

_IR_STAGE_STARTS = (0, 3, 7, 21)
_RESNET_STAGE_STARTS = (0, 3, 7, 13)


@dataclass
class EncoderCheckpoint:
    """What an official checkpoint holds, rebuilt: the encoder network, its decoder (when asked
    for), ``latent_avg`` as rows ``[k, S]`` and the facts read from ``opts``."""

    path: Path
    family: str
    encoder_type: str
    encoder: nn.Module
    n_styles: int
    style_dim: int
    input_nc: int
    latent_avg: torch.Tensor | None
    start_from_latent_avg: bool
    opts: dict[str, Any]
    decoder: Any = None
    iterations: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading


def read_official(path: str | os.PathLike) -> dict[str, Any]:
    """The raw checkpoint dict, checked to be the official layout (``state_dict`` with ``encoder.*``)."""
    p = Path(path)
    obj = safe_torch_load(p, allow=(argparse.Namespace,))
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{p}: not a pSp/e4e/ReStyle checkpoint; the file holds a {type(obj).__name__}")
    state = obj.get("state_dict")
    if not isinstance(state, Mapping) or not any(str(k).startswith("encoder.") for k in state):
        found = ", ".join(map(str, list(obj)[:8])) or "nothing"
        hint = " (a StyleGAN2 checkpoint: use it as a generator)" if "g_ema" in obj else ""
        raise CheckpointError(f"{p}: not a pSp/e4e/ReStyle checkpoint (expected a 'state_dict' with "
                              f"encoder.* and decoder.* weights); found keys: {found}{hint}")
    return dict(obj)


def sub_state(state: Mapping[str, Any], prefix: str) -> dict[str, torch.Tensor]:
    """Entries under ``prefix.`` with the prefix removed (the official ``get_keys``)."""
    n = len(prefix) + 1
    return {str(k)[n:]: v for k, v in state.items() if str(k).startswith(prefix + ".")}


# --------------------------------------------------------------------------- architecture


def _shape(state: Mapping[str, torch.Tensor], key: str, path: Path) -> tuple[int, ...]:
    v = state.get(key)
    if not isinstance(v, torch.Tensor):
        raise CheckpointError(f"{path}: encoder weights lack {key!r}; not an official pSp/e4e/ReStyle encoder")
    return tuple(v.shape)


def _count(state: Mapping[str, Any], pattern: str) -> int:
    n = 0
    while any(k.startswith(pattern.format(n)) for k in state):
        n += 1
    return n


def infer_encoder_type(enc: Mapping[str, torch.Tensor], opts: Mapping[str, Any], family: str | None,
                       path: Path) -> str:
    """``opts['encoder_type']`` when present; else from the keys (FPN modules are the same in pSp
    and e4e, and backbone modules the same in ReStyle-pSp and ReStyle-e4e: ``family`` decides)."""
    name = opts.get("encoder_type")
    if name is not None:
        if name not in ENCODER_TYPES:
            raise CheckpointError(f"{path}: opts.encoder_type={name!r} is not an encoder ganedit knows "
                                  f"({', '.join(ENCODER_TYPES)})")
        return str(name)
    resnet = "conv1.weight" in enc
    if "output_layer_2.0.weight" in enc:
        return "BackboneEncoderUsingLastLayerIntoWPlus"
    if "linear.weight" in enc and not any(k.startswith("styles.") for k in enc):
        return "BackboneEncoderUsingLastLayerIntoW"
    if "latlayer1.weight" in enc:
        if resnet:
            return "ResNetGradualStyleEncoder"
        return "Encoder4Editing" if family == "e4e" else "GradualStyleEncoder"
    if any(k.startswith("styles.") for k in enc):
        return "ResNetBackboneEncoder" if resnet else "BackboneEncoder"
    raise CheckpointError(f"{path}: cannot tell the encoder class from its weights and opts has no encoder_type")


def family_of(encoder_type: str, opts: Mapping[str, Any], input_nc: int) -> str:
    """``e4e``, ``psp`` or ``restyle``: ReStyle when its options or classes say so, or when the
    encoder reads an image plus the previous output (6 channels) through pSp's FPN."""
    fam = ENCODER_TYPES[encoder_type][1]
    if fam == "psp" and encoder_type == "GradualStyleEncoder" and ("n_iters_per_batch" in opts or input_nc == 6):
        return "restyle"
    return fam


def backbone_arch(enc: Mapping[str, torch.Tensor], kind: str, path: Path) -> dict[str, Any]:
    """Backbone name, input channels, stem and stage widths, from the tensor shapes."""
    if kind == "resnet34":
        stem = _shape(enc, "conv1.weight", path)
        widths = [_shape(enc, f"body.{i}.conv1.weight", path)[0] for i in _RESNET_STAGE_STARTS]
        units, backbone = 16, "resnet34"
    else:
        stem = _shape(enc, "input_layer.0.weight", path)
        widths = [_shape(enc, f"body.{i}.res_layer.1.weight", path)[0] for i in _IR_STAGE_STARTS]
        units = 24
        backbone = "ir_se50" if "body.0.res_layer.5.fc1.weight" in enc else "ir50"
    found = _count(enc, "body.{}.")
    if found != units:
        raise CheckpointError(f"{path}: the encoder backbone has {found} residual units; the official "
                              f"{'ResNet-34' if kind == 'resnet34' else 'IR-50'} has {units}")
    return {"backbone": backbone, "input_nc": int(stem[1]), "stem_width": int(stem[0]),
            "widths": [int(w) for w in widths]}


def encoder_arch(enc: Mapping[str, torch.Tensor], encoder_type: str, n_latent: int | None,
                 path: Path) -> dict[str, Any]:
    """Constructor keywords of the ganedit network for ``encoder_type`` (widths from shapes)."""
    cls, _, prog, kind = ENCODER_TYPES[encoder_type]
    arch = backbone_arch(enc, kind, path)
    if cls is WEncoder:
        arch["style_dim"] = _shape(enc, "linear.weight", path)[0]
        if n_latent is None:
            raise CheckpointError(f"{path}: a W encoder's number of styles comes from its decoder, "
                                  f"which the checkpoint lacks")
        arch["n_styles"] = n_latent
    elif cls is WPlusEncoder:
        s = _shape(enc, "output_layer_2.3.weight", path)[0]
        out = _shape(enc, "linear.weight", path)[0]
        if out % s:
            raise CheckpointError(f"{path}: linear.weight has {out} outputs, not a multiple of the style width {s}")
        arch.update(style_dim=s, n_styles=out // s)
    else:
        arch["style_dim"] = _shape(enc, "styles.0.linear.weight", path)[0]
        arch["n_styles"] = _count(enc, "styles.{}.")
        arch["progressive"] = prog
    return arch


def build_encoder(enc: Mapping[str, torch.Tensor], encoder_type: str, arch: Mapping[str, Any],
                  path: Path) -> nn.Module:
    """The network with ``enc`` loaded strictly (every key and shape), in eval mode."""
    cls = ENCODER_TYPES[encoder_type][0]
    try:
        # Built without storage (a 1024 px IR-SE-50 has 267M parameters: no point initialising
        # them); the checkpoint's tensors are assigned below.
        with torch.device("meta"):
            net = cls(**arch)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid {encoder_type} architecture ({exc})") from None
    own = net.state_dict()
    missing = [k for k in own if k not in enc]
    unexpected = [k for k in enc if k not in own]
    wrong = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in enc.items()
             if k in own and (not isinstance(v, torch.Tensor) or tuple(v.shape) != tuple(own[k].shape))]
    if missing or unexpected or wrong:
        parts = [f"{label} {_few(items)}" for label, items in
                 (("missing", missing), ("unexpected", unexpected), ("shape mismatches", wrong)) if items]
        raise CheckpointError(f"{path}: encoder weights do not match the official {encoder_type} "
                              f"({'; '.join(parts)})")
    net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in enc.items()}, assign=True)
    return net.eval()


def _few(items: list[str], n: int = 4) -> str:
    return ", ".join(items[:n]) + (f", ... ({len(items)} in all)" if len(items) > n else "")


# --------------------------------------------------------------------------- decoder and latent_avg


def decoder_dims(dec: Mapping[str, torch.Tensor], path: Path) -> tuple[int, int, int]:
    """``(size, n_latent, style_dim)`` of the ``decoder.*`` generator, from shapes alone."""
    from ganedit_stylegan2.rosinality import infer_generator_arch

    arch = infer_generator_arch(dec, path, "decoder")
    size = int(arch["size"])
    return size, 2 * int(math.log2(size)) - 2, int(arch["style_dim"])


def latent_avg_rows(value: Any, n_styles: int, style_dim: int, path: Path) -> torch.Tensor | None:
    """``latent_avg`` as ``[k, S]`` rows (``k`` = 1 or ``n_styles``), or None when absent."""
    if value is None:
        return None
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f"{path}: latent_avg is a {type(value).__name__}, expected a tensor")
    t = value.detach().float()
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2 or t.shape[1] != style_dim or t.shape[0] not in (1, n_styles):
        raise CheckpointError(f"{path}: latent_avg has shape {tuple(value.shape)}; expected [{style_dim}], "
                              f"[1, {style_dim}] or [{n_styles}, {style_dim}]")
    return t


def single_vector(rows: torch.Tensor | None) -> torch.Tensor | None:
    """The one vector all rows repeat (the generator's average w, as training stores it), else None."""
    if rows is None or not bool((rows == rows[:1]).all()):
        return None
    return rows[0]


def build_decoder(dec: Mapping[str, torch.Tensor], latent_avg: torch.Tensor | None, path: Path) -> Any:
    """The decoder as a ganedit StyleGAN2 network (the rosinality reader, strict). Its truncation
    centre is ``latent_avg`` when that is one repeated vector, else estimated as the stylegan2
    plugin does for files without one."""
    from ganedit_stylegan2.rosinality import build_generator

    return build_generator(dec, {}, path, "decoder", w_avg=single_vector(latent_avg))


# --------------------------------------------------------------------------- loading


def load_encoder_checkpoint(path: str | os.PathLike, family: str | None = None,
                            with_decoder: bool = False) -> EncoderCheckpoint:
    """Rebuild the encoder of an official checkpoint (and its decoder when ``with_decoder``).

    ``family`` (``e4e``, ``psp``, ``restyle``) is the kind the caller expects: a file of another
    kind is refused with the type to use instead.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    obj = read_official(p)
    opts = options_dict(obj.get("opts"), p, "opts")
    enc = sub_state(obj["state_dict"], "encoder")
    dec = sub_state(obj["state_dict"], "decoder")
    if not dec:
        raise CheckpointError(f"{p}: the state_dict has no decoder.* weights (the official coaches always "
                              f"save the decoder)")
    size, n_latent, dec_dim = decoder_dims(dec, p)
    encoder_type = infer_encoder_type(enc, opts, family, p)
    arch = encoder_arch(enc, encoder_type, n_latent, p)
    found = family_of(encoder_type, opts, arch["input_nc"])
    if family is not None and found != family:
        raise CheckpointError(f"{p}: this is a {FAMILY_NAMES[found]} checkpoint (encoder {encoder_type}); "
                              f"use encoder type {found!r}, not {family!r}")
    want_nc = 6 if found == "restyle" else 3
    if arch["input_nc"] != want_nc:
        raise CheckpointError(f"{p}: the encoder reads {arch['input_nc']} input channels; an image "
                              f"{'inversion' if want_nc == 3 else 'refinement (image + previous output)'} "
                              f"encoder reads {want_nc} (is this a pSp model for another task, e.g. "
                              f"sketches or segmentation maps?)")
    if (arch["n_styles"], arch["style_dim"]) != (n_latent, dec_dim):
        raise CheckpointError(f"{p}: the encoder predicts {arch['n_styles']} styles of width {arch['style_dim']}, "
                              f"its decoder takes {n_latent} of width {dec_dim}")
    for key in ("output_size", "stylegan_size"):
        if opts.get(key) is not None and int(opts[key]) != size:
            raise CheckpointError(f"{p}: opts.{key}={opts[key]} but the decoder weights are {size} px")
    net = build_encoder(enc, encoder_type, arch, p)
    rows = latent_avg_rows(obj.get("latent_avg"), n_latent, dec_dim, p)
    if found == "restyle":
        # ReStyle always starts from the average (its first iteration adds latent_avg).
        if rows is None:
            raise CheckpointError(f"{p}: ReStyle checkpoint without latent_avg (its coach always saves it)")
        start = True
    else:
        start = bool(opts.get("start_from_latent_avg", rows is not None))
    decoder = None
    notes = {}
    if with_decoder or (start and rows is None):
        decoder = build_decoder(dec, rows, p)
    if start and rows is None:
        # e4e computes decoder.mean_latent(10000) here (unseeded); ours is the seeded estimate the
        # stylegan2 plugin uses for files without an average (4096 z, seed 0).
        rows = decoder.w_avg.detach().clone()[None]
        notes["latent_avg"] = "estimated: mean mapping(z) over 4096 z, torch.Generator seed 0"
    iterations = opts.get("n_iters_per_batch") if found == "restyle" else None
    metadata = {
        "source_file": p.name, "family": found, "encoder_type": encoder_type, **arch,
        "output_size": size, "start_from_latent_avg": start,
        "latent_avg": notes.get("latent_avg", f"stored, {rows.shape[0]} row(s)" if rows is not None else "none"),
        "ignored_keys": sorted(str(k) for k in obj if k not in ("state_dict", "opts", "latent_avg")),
    }
    return EncoderCheckpoint(path=p, family=found, encoder_type=encoder_type, encoder=net,
                             n_styles=n_latent, style_dim=dec_dim, input_nc=arch["input_nc"],
                             latent_avg=rows, start_from_latent_avg=start, opts=opts, decoder=decoder,
                             iterations=int(iterations) if iterations is not None else None, metadata=metadata)

