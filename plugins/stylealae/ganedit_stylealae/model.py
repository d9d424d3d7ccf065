"""The StyleALAE model: E, G, F, D and the running mean of w, built from an architecture or a file."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

import torch
from torch import nn

from ganedit.io.checkpoint import CheckpointError, load_state
from ganedit_stylealae.arch import ALAEArch
from ganedit_stylealae.checkpoint import read_weights, write_native
from ganedit_stylealae.networks import PARTS, build_part


class ALAEModel(nn.Module):
    """A subset of the StyleALAE networks sharing one architecture.

    Attributes ``mapping_f`` (F), ``decoder`` (G), ``encoder`` (E), ``mapping_d`` (latent D) are
    ``None`` when not built; ``dlatent_avg`` ``[num_ws, latent]`` is the truncation centre (one row
    per style slot, as in the official code, whose truncation lerps slot k toward row k).
    """

    def __init__(self, arch: ALAEArch, parts: Iterable[str] = PARTS):
        super().__init__()
        self.arch = arch
        self.parts = tuple(parts)
        for part in PARTS:
            setattr(self, part, build_part(part, arch) if part in self.parts else None)
        self.register_buffer("dlatent_avg", torch.zeros(arch.num_ws, arch.latent_size))
        self.source = "random"
        self.which = "ema"

    # ------------------------------------------------------------------ construction
    @classmethod
    def random(cls, arch: ALAEArch, seed: int = 0, parts: Iterable[str] = PARTS) -> "ALAEModel":
        """The official initialisation (stored weights N(0, 1/lr_mul^2), zero biases and noise
        strengths, constant of ones), drawn from ``seed`` without touching the global RNG."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return cls(arch, parts)

    @classmethod
    def from_checkpoint(cls, path: str | Path, parts: Iterable[str] = PARTS, which: str = "ema",
                        official_config: str | Path | None = None) -> "ALAEModel":
        """Load ``parts`` from an official ``.pth`` or a native ``.safetensors`` file."""
        parts = tuple(parts)
        weights = read_weights(path, parts, which=which, official_config=official_config)
        with torch.random.fork_rng(devices=[]):
            model = cls(weights.arch, parts)
        for part in parts:
            module = getattr(model, part)
            state = dict(weights.parts[part])
            # Blur kernels are fixed buffers; files may omit them.
            for key, value in module.state_dict().items():
                if key.endswith("blur.kernel"):
                    state.setdefault(key, value)
            load_state(module, state, path, f"{part} weights")
        if weights.dlatent_avg is not None:
            if tuple(weights.dlatent_avg.shape) != tuple(model.dlatent_avg.shape):
                raise CheckpointError(f"{path}: dlatent_avg has shape {tuple(weights.dlatent_avg.shape)}, "
                                      f"expected {tuple(model.dlatent_avg.shape)}")
            model.dlatent_avg.copy_(weights.dlatent_avg)
        model.source = weights.source
        model.which = weights.which
        return model

    # ------------------------------------------------------------------ saving
    def part_states(self) -> dict[str, dict[str, torch.Tensor]]:
        return {part: getattr(self, part).state_dict() for part in self.parts}

    def save_native(self, path: str | Path, which: str = "ema",
                    live: "ALAEModel | None" = None, extra: Mapping[str, object] | None = None) -> None:
        """Write this model as the ``which`` set of a native file (``live`` adds a second set)."""
        sets = {which: self.part_states()}
        if live is not None:
            sets["live"] = live.part_states()
        write_native(path, self.arch, sets, self.dlatent_avg, extra)
