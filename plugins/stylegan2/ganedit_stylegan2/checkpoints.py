"""StyleGAN2 checkpoints: the common loaded form, format sniffing and dispatch.

Three on-disk formats rebuild the same :mod:`ganedit_stylegan2.networks`:

* ``rosinality``: ``torch.save`` dicts of stylegan2-pytorch (train.py or convert_weight.py layout),
  see :mod:`ganedit_stylegan2.rosinality`;
* ``nvidia``: stylegan2-ada-pytorch network pickles, read without executing code by
  :func:`ganedit_stylegan2.nvidia.load_nvidia_pickle`;
* ``native``: ganedit safetensors with ``g_ema.`` / ``g.`` / ``d.`` prefixes, see
  :mod:`ganedit_stylegan2.native`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import torch
from torch import nn

from ganedit.io.checkpoint import CheckpointError, is_native, read_native_config

from ganedit_stylegan2.networks import Discriminator, Generator

Format = Literal["auto", "rosinality", "nvidia", "native"]
Which = Literal["ema", "train"]

#: Mean-w estimate used when a checkpoint stores no average: 4096 z from this fixed seed.
W_AVG_SAMPLES = 4096
W_AVG_SEED = 0

# First bytes of a legacy (non-zip) torch.save file: pickle protocol 2 + torch's magic number.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"


@dataclass
class StyleGAN2Checkpoint:
    """Networks rebuilt from one file (any of them may be absent)."""

    path: Path
    format: str
    g_ema: Generator | None = None
    g: Generator | None = None
    d: Discriminator | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def generator(self, which: Which = "ema") -> Generator:
        """The EMA (``which='ema'``) or training (``'train'``) generator; clear error when absent."""
        net = self.g_ema if which == "ema" else self.g
        if net is None:
            have = [n for n, v in (("g_ema", self.g_ema), ("g", self.g)) if v is not None]
            want = "g_ema (EMA generator)" if which == "ema" else "g (training generator)"
            raise CheckpointError(f"{self.path}: {self.format} checkpoint has no {want}; it holds "
                                  f"{have or 'no generator'}")
        return net

    def discriminator(self) -> Discriminator:
        if self.d is None:
            raise CheckpointError(f"{self.path}: {self.format} checkpoint has no discriminator ('d')")
        return self.d


# --------------------------------------------------------------------------- state loading


def load_state_into(net: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike,
                    what: str, optional: tuple[str, ...] = ()) -> None:
    """Copy ``state`` into ``net`` after checking keys and shapes; one clear error otherwise.

    ``optional`` keys of ``net`` may be absent from ``state`` (they keep their current value).
    """
    own = net.state_dict()
    missing = [k for k in own if k not in state and k not in optional]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {_few(missing)}")
        if unexpected:
            parts.append(f"unexpected {_few(unexpected)}")
        raise CheckpointError(f"{path}: {what} does not match the StyleGAN2 architecture "
                              f"({'; '.join(parts)})")
    bad = []
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            raise CheckpointError(f"{path}: {what}[{k!r}] is a {type(v).__name__}, expected a tensor")
        if tuple(v.shape) != tuple(own[k].shape):
            bad.append(f"{k} {tuple(v.shape)} vs expected {tuple(own[k].shape)}")
    if bad:
        raise CheckpointError(f"{path}: {what} has shape mismatches: {_few(bad)}")
    with torch.no_grad():
        net.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                            strict=False)


def _few(items: list[str], n: int = 4) -> str:
    shown = ", ".join(items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def new_network(cls: type[nn.Module], kwargs: Mapping[str, Any], path: str | os.PathLike, what: str) -> Any:
    """``cls(**kwargs)`` without consuming the caller's global RNG (weights are loaded next)."""
    try:
        with torch.random.fork_rng(devices=[]):
            return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid {what} architecture ({exc})") from None


@torch.no_grad()
def estimate_w_avg(net: Generator, samples: int = W_AVG_SAMPLES, seed: int = W_AVG_SEED) -> torch.Tensor:
    """Mean of ``net.mapping(z)`` over ``samples`` z from ``torch.Generator().manual_seed(seed)``."""
    gen = torch.Generator().manual_seed(seed)
    return net.mean_latent(samples, generator=gen)


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
        from ganedit_stylegan2.rosinality import load_rosinality

        return load_rosinality(p)
    if fmt == "native":
        from ganedit_stylegan2.native import load_stylegan2_native

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
            load_state_into(net, value[1], path, f"NVIDIA {key}")
        elif isinstance(value, Mapping) and "state_dict" in value:
            kwargs = value.get("kwargs") or value.get("config") or value.get("arch") or {}
            net = new_network(cls, kwargs, path, key)
            load_state_into(net, value["state_dict"], path, f"NVIDIA {key}")
        else:
            raise CheckpointError(f"{path}: NVIDIA loader entry {key!r} is a {type(value).__name__}, "
                                  f"expected a {cls.__name__} or an (arch_kwargs, state_dict) pair")
        setattr(ckpt, role, net.eval())
    if ckpt.g_ema is None and ckpt.g is None and ckpt.d is None:
        raise CheckpointError(f"{path}: the NVIDIA pickle holds no G, G_ema or D network")
    return ckpt
