"""Shared fixtures: a tiny random StyleGAN2 (16 px, 32 channels) with a discriminator, and targets."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import ganedit
from ganedit.testing import torch_threads

CHANNELS = {4: 32, 8: 32, 16: 32}
TINY_G = {"type": "stylegan2", "params": {"checkpoint": None, "resolution": 16, "style_dim": 32, "n_mlp": 2,
                                          "channels": CHANNELS, "seed": 1}}
TINY_D = {"type": "stylegan2", "params": {"checkpoint": None, "resolution": 16, "channels": CHANNELS, "seed": 2}}


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def generator():
    torch.manual_seed(0)
    return ganedit.build("generator", TINY_G).eval()


@pytest.fixture(scope="session")
def discriminator():
    return ganedit.build("discriminator", TINY_D).eval()


def smooth_image(seed: int, size: int = 16) -> torch.Tensor:
    """An off-manifold target: smooth random colours plus a little texture, ``[1, 3, size, size]``."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(1, 3, 4, 4, generator=g) * 2 - 1, size=size, mode="bilinear",
                      align_corners=False)
    return (x + 0.1 * torch.randn(1, 3, size, size, generator=g)).clamp(-1, 1)


@pytest.fixture(scope="session")
def target() -> torch.Tensor:
    return smooth_image(0)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A native StyleGAN2 checkpoint (g_ema + d) of the tiny networks."""
    from ganedit_stylegan2.native import save_stylegan2_native

    g = ganedit.build("generator", TINY_G)
    d = ganedit.build("discriminator", TINY_D)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_stylegan2_native(path, g_ema=g.net, d=d.net)
    return path


def pivot(steps: int = 15, space: str = "w+", **extra) -> dict:
    """A short nested optimisation spec (no noise maps) for tuning inverters."""
    params = {"steps": steps, "space": space, "lr": 0.05, "w_avg_samples": 500, "optimize_noise": False,
              "keep_noise": False, "seed": 0, **extra}
    return {"type": "optimization", "params": params}


@pytest.fixture(scope="session")
def make_target():
    return smooth_image


@pytest.fixture(scope="session")
def pivot_spec():
    return pivot
