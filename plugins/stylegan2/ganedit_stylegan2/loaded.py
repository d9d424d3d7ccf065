"""The loaded form of a StyleGAN2 file, which every format reader produces.

:class:`StyleGAN2Checkpoint` holds the networks one file rebuilt (``g_ema``, ``g``, ``d``; any may be
absent); :func:`new_network` builds a network from a stored architecture and :func:`load_weights`
loads its checked state. Layers: ``networks`` -> ``loaded`` -> formats (``rosinality``, ``native``,
``nvidia``) -> ``checkpoints`` (sniffing, dispatch) -> ``components`` -> ``plugin``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import torch
from torch import nn

from ganedit.io.checkpoint import CheckpointError, load_state

from ganedit_stylegan2.networks import Discriminator, Generator

Which = Literal["ema", "train"]


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


def new_network(cls: type[Generator] | type[Discriminator], arch: Mapping[str, Any], path: str | os.PathLike,
                what: str) -> Any:
    """``cls.from_arch(arch)`` without consuming the caller's global RNG (weights are loaded next)."""
    try:
        with torch.random.fork_rng(devices=[]):
            return cls.from_arch(arch)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: invalid {what} architecture ({exc})") from None


def load_weights(net: nn.Module, state: Mapping[str, torch.Tensor], path: str | os.PathLike, what: str,
                 optional: tuple[str, ...] = ()) -> None:
    """:func:`ganedit.io.checkpoint.load_state` with the StyleGAN2 wording."""
    load_state(net, state, path, what, arch="the StyleGAN2 architecture", optional=optional)
