"""ganedit's native StyleGAN2 checkpoint: one safetensors file, JSON config in the header.

Tensors are the networks' state dicts under the prefixes ``g_ema.``, ``g.`` and ``d.`` (whichever
exist; ``g_ema.w_avg`` carries the truncation centre and ``*.noises.noise_i`` the const noise).
The config holds ``kind``, ``type: stylegan2``, ``architecture: {g_ema|g|d: constructor kwargs}``
and ``metadata`` (source format, training args, ...).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from torch import nn

from ganedit.io.checkpoint import CheckpointError, load_model, save_model

from ganedit_stylegan2.loaded import StyleGAN2Checkpoint, load_weights, new_network
from ganedit_stylegan2.networks import Discriminator, Generator

NATIVE_TYPE = "stylegan2"
ROLES: tuple[str, ...] = ("g_ema", "g", "d")


def save_stylegan2_native(path: str | os.PathLike, g_ema: Generator | None = None, g: Generator | None = None,
                          d: Discriminator | None = None, metadata: Mapping[str, Any] | None = None) -> None:
    """Write the given networks to ``path`` (atomically) as a native StyleGAN2 checkpoint."""
    nets: dict[str, nn.Module] = {k: v for k, v in (("g_ema", g_ema), ("g", g), ("d", d)) if v is not None}
    if not nets:
        raise ValueError("save_stylegan2_native needs at least one network")
    config = {
        "kind": "generator" if ("g_ema" in nets or "g" in nets) else "discriminator",
        "type": NATIVE_TYPE,
        "architecture": {role: net.arch.model_dump(mode="json") for role, net in nets.items()},
        "metadata": dict(metadata or {}),
    }
    save_model(path, nets, config)


def load_stylegan2_native(path: str | os.PathLike) -> StyleGAN2Checkpoint:
    """Rebuild every network stored in a native StyleGAN2 checkpoint."""
    p = Path(path)
    parts, config = load_model(p, expect={"type": NATIVE_TYPE})
    arch = config.get("architecture")
    if not isinstance(arch, Mapping) or not any(r in arch for r in ROLES):
        raise CheckpointError(f"{p}: native stylegan2 checkpoint without an 'architecture' for g_ema/g/d")
    ckpt = StyleGAN2Checkpoint(path=p, format="native", metadata=dict(config.get("metadata") or {}))
    for role in ROLES:
        if role not in arch:
            continue
        cls = Discriminator if role == "d" else Generator
        net = new_network(cls, arch[role], p, f"{role} (config)")
        load_weights(net, parts.get(role, {}), p, f"'{role}' tensors")
        setattr(ckpt, role, net.eval())
    stray = [f"{part}.{k}" if part else k for part, state in parts.items() if part not in arch for k in state]
    if stray:
        raise CheckpointError(f"{p}: tensors without a network in the config: {', '.join(stray[:4])}")
    return ckpt
