"""Helpers for testing ganedit and plugins: fixture location, a fresh registry, a tiny generator.

Plugin authors can use these in their own test suites (in the spirit of pytest's ``pytester``)::

    from ganedit.testing import make_registry
    reg = make_registry(my_plugin_module)       # core components + your plugin, nothing else
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch
from pydantic import Field

from ganedit.hookspecs import hookimpl
from ganedit.interfaces import Generator, Params
from ganedit.latent import Latent
from ganedit.registry import Registry
from ganedit.runner import torch_threads  # re-exported: tests pin tiny networks to one thread


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def fixtures_dir() -> Path:
    """``../shared/fixtures`` beside the checkout (override with ``GANEDIT_FIXTURES``)."""
    env = os.environ.get("GANEDIT_FIXTURES")
    return Path(env) if env else repo_root().parent / "shared" / "fixtures"


def make_registry(*plugins: Any, core: bool = True, strict: bool = True) -> Registry:
    """A registry with only the core components and the given plugin objects (no entry points)."""
    reg = Registry(strict=strict)
    if core:
        from ganedit import builtin

        reg.add_plugin(builtin, name="core", dist="ganedit")
    for i, p in enumerate(plugins):
        reg.add_plugin(p, name=getattr(p, "__name__", f"plugin{i}"), dist=getattr(p, "DIST", f"test-plugin-{i}"))
    return reg


class ToyGenerator(Generator, name="toy"):
    """A tiny StyleGAN-shaped generator (mapping + per-layer styled 1x1 convs), for tests and docs."""

    class Params(Params):
        resolution: int = Field(16, ge=4, le=256, description="image side")
        w_dim: int = Field(8, ge=1, le=512, description="latent width")
        seed: int = Field(0, ge=0, description="weight initialisation seed")

    def __init__(self, resolution: int = 16, w_dim: int = 8, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.img_resolution = resolution
        self.z_dim = self.w_dim = w_dim
        self.num_ws = 2 * int(math.log2(resolution)) - 2
        self.map = torch.nn.Parameter(torch.randn(w_dim, w_dim, generator=g) / math.sqrt(w_dim))
        self.const = torch.nn.Parameter(torch.randn(1, 3, resolution, resolution, generator=g))
        self.affine = torch.nn.Parameter(torch.randn(self.num_ws, w_dim, 3, generator=g) * 0.3)
        self.register_buffer("w_avg", torch.zeros(w_dim))

    @classmethod
    def latent_spaces(cls, params: Params | None = None) -> tuple[str, ...]:
        return ("z", "w", "w+")

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        w = torch.tanh(z @ self.map)
        ws = w[:, None].repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cut = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cut] = self.w_avg + truncation_psi * (ws[:, :cut] - self.w_avg)
        return ws

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        styles = torch.einsum("bld,ldc->bc", ws, self.affine)  # [B, 3]
        return torch.tanh(self.const + styles[:, :, None, None])

    def generate(self, latent: Latent, noise_mode: str = "const") -> torch.Tensor:
        if latent.space == "z":
            return self.synthesis(self.mapping(latent.z), noise_mode)
        return self.synthesis(latent.ws, noise_mode)

    def sample_latent(self, batch: int, generator: torch.Generator | None = None,
                      truncation_psi: float = 1.0) -> Latent:
        z = torch.randn(batch, self.z_dim, generator=generator).to(self.map.device)
        return Latent.w(self.mapping(z, truncation_psi))

    @classmethod
    def from_params(cls, params: "ToyGenerator.Params", context: Any = None) -> "ToyGenerator":
        return cls(params.resolution, params.w_dim, params.seed)


class ToyPlugin:
    """Registers :class:`ToyGenerator` as generator ``toy``."""

    DIST = "ganedit-testing"
    __name__ = "toy"

    @hookimpl
    def register_components(self, register) -> None:
        register(ToyGenerator)
