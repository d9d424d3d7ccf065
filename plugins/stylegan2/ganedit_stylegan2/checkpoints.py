"""StyleGAN2 checkpoints: the common loaded form, format sniffing and dispatch.

Three on-disk formats rebuild the same :mod:`ganedit_stylegan2.networks` (as a
:class:`~ganedit_stylegan2.loaded.StyleGAN2Checkpoint`):

* ``rosinality``: ``torch.save`` dicts of stylegan2-pytorch (train.py or convert_weight.py layout),
  see :mod:`ganedit_stylegan2.rosinality`;
* ``nvidia``: stylegan2-ada-pytorch network pickles, read without executing code by
  :func:`ganedit_stylegan2.nvidia.load_nvidia_pickle`;
* ``native``: ganedit safetensors with ``g_ema.`` / ``g.`` / ``d.`` prefixes, see
  :mod:`ganedit_stylegan2.native`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Mapping

from ganedit.io.checkpoint import CheckpointError, is_native, read_native_config

from ganedit_stylegan2.loaded import StyleGAN2Checkpoint, Which, load_weights, new_network
from ganedit_stylegan2.native import load_stylegan2_native
from ganedit_stylegan2.networks import Discriminator, Generator, estimate_w_avg
from ganedit_stylegan2.rosinality import load_rosinality

__all__ = ["Format", "StyleGAN2Checkpoint", "Which", "estimate_w_avg", "load_checkpoint",
           "nvidia_result_to_checkpoint", "sniff_format"]

Format = Literal["auto", "rosinality", "nvidia", "native"]

# First bytes of a legacy (non-zip) torch.save file: pickle protocol 2 + torch's magic number.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


# --------------------------------------------------------------------------- sniffing


def sniff_format(path: str | os.PathLike) -> str | None:
    """``'native'``, ``'rosinality'``, ``'nvidia'`` or ``None`` from the file's first bytes.

    torch zip archives and legacy torch files are rosinality candidates; other pickles are
    NVIDIA network pickles; ganedit safetensors with ``type: stylegan2`` are native.
    """
    p = Path(path)
    if not p.is_file():
        return None
    with open(p, "rb") as fh:
        head = fh.read(16)
    # A zip local-file header (even of a truncated archive) means torch.save's zip format.
    if head.startswith(b"PK\x03\x04") or head.startswith(_TORCH_LEGACY_MAGIC):
        return "rosinality"
    # Before the pickle test: a safetensors header length may begin with byte 0x80 too.
    if is_native(p):
        cfg = read_native_config(p) or {}
        return "native" if cfg.get("type") == "stylegan2" else None
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "nvidia"
    return None


def load_checkpoint(path: str | os.PathLike, format: Format = "auto") -> StyleGAN2Checkpoint:
    """Rebuild the StyleGAN2 networks stored in ``path`` (format sniffed when ``'auto'``)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    fmt = sniff_format(p) if format == "auto" else format
    if fmt is None:
        raise CheckpointError(
            f"{p}: not a StyleGAN2 checkpoint (expected a rosinality .pt, an NVIDIA network .pkl "
            "or a ganedit native .safetensors with type 'stylegan2')")
    if fmt == "rosinality":
        return load_rosinality(p)
    if fmt == "native":
        return load_stylegan2_native(p)
    if fmt == "nvidia":
        return _load_nvidia(p)
    raise CheckpointError(f"{p}: unknown StyleGAN2 checkpoint format {fmt!r}")


# --------------------------------------------------------------------------- NVIDIA bridge


def _load_nvidia(path: Path) -> StyleGAN2Checkpoint:
    try:
        from ganedit_stylegan2.nvidia import load_nvidia_pickle
    except ImportError as exc:
        raise CheckpointError(f"{path}: the NVIDIA stylegan2-ada pickle loader is unavailable "
                              f"(ganedit_stylegan2.nvidia: {exc})") from None
    loaded = load_nvidia_pickle(path)
    return nvidia_result_to_checkpoint(loaded, path)


_NVIDIA_ROLES = {"G_ema": "g_ema", "G": "g", "D": "d", "g_ema": "g_ema", "g": "g", "d": "d"}


def nvidia_result_to_checkpoint(loaded: Any, path: Path) -> StyleGAN2Checkpoint:
    """Accept what the NVIDIA loader returns: a :class:`StyleGAN2Checkpoint`, or a dict whose
    ``G_ema``/``G``/``D`` entries are networks or ``{'kwargs': ..., 'state_dict': ...}`` records."""
    if isinstance(loaded, StyleGAN2Checkpoint):
        return loaded
    if not isinstance(loaded, Mapping):
        raise CheckpointError(f"{path}: the NVIDIA loader returned {type(loaded).__name__}, expected a dict")
    ckpt = StyleGAN2Checkpoint(path=path, format="nvidia")
    for key, value in loaded.items():
        role = _NVIDIA_ROLES.get(key)
        if role is None or value is None:
            if key not in _NVIDIA_ROLES:
                ckpt.metadata[key] = value
            continue
        cls = Discriminator if role == "d" else Generator
        if isinstance(value, cls):
            net = value
        elif isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Mapping):
            net = new_network(cls, value[0], path, key)
            load_weights(net, value[1], path, f"NVIDIA {key}")
        elif isinstance(value, Mapping) and "state_dict" in value:
            kwargs = value.get("kwargs") or value.get("config") or value.get("arch") or {}
            net = new_network(cls, kwargs, path, key)
            load_weights(net, value["state_dict"], path, f"NVIDIA {key}")
        else:
            raise CheckpointError(f"{path}: NVIDIA loader entry {key!r} is a {type(value).__name__}, "
                                  f"expected a {cls.__name__} or an (arch_kwargs, state_dict) pair")
        setattr(ckpt, role, net.eval())
    if ckpt.g_ema is None and ckpt.g is None and ckpt.d is None:
        raise CheckpointError(f"{path}: the NVIDIA pickle holds no G, G_ema or D network")
    return ckpt
