"""Shared fixtures of the StyleALAE plugin tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganedit_stylealae.arch import ALAEArch
from ganedit_stylealae.model import ALAEModel


def _fixtures_root() -> Path:
    try:
        from ganedit.testing import fixtures_dir  # type: ignore[attr-defined]

        return Path(fixtures_dir())
    except (ImportError, AttributeError):
        # tests/ -> stylealae/ -> plugins/ -> repo root; fixtures live beside the repo.
        return Path(__file__).resolve().parents[3].parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def alae_dir() -> Path:
    d = _fixtures_root() / "alae_official"
    if not (d / "checkpoint.pth").is_file() or not (d / "cases.pt").is_file():
        pytest.skip(f"ALAE parity fixture not found at {d}")
    return d


@pytest.fixture(scope="session")
def alae_ckpt(alae_dir: Path) -> Path:
    return alae_dir / "checkpoint.pth"


@pytest.fixture(scope="session")
def cases(alae_dir: Path) -> dict:
    return torch.load(alae_dir / "cases.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def official_model(alae_ckpt: Path) -> ALAEModel:
    return ALAEModel.from_checkpoint(alae_ckpt).eval().requires_grad_(False)


def _tiny_arch(resolution: int = 16, **kw) -> ALAEArch:
    spec = dict(latent_size=16, start_channels=8, max_channels=16, mapping_layers=2)
    spec.update(kw)
    return ALAEArch.from_resolution(resolution, **spec)


def _perturb(model: ALAEModel, seed: int = 4) -> ALAEModel:
    """Non-trivial values everywhere (a fresh model has zero biases and noise strengths)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
        model.dlatent_avg.normal_(generator=g)
    return model.eval()


@pytest.fixture()
def tiny_arch():
    """Factory: ``tiny_arch(resolution=16, **fields)``."""
    return _tiny_arch


@pytest.fixture()
def perturb():
    return _perturb


@pytest.fixture()
def tiny_model() -> ALAEModel:
    return _perturb(ALAEModel.random(_tiny_arch(), seed=3))


@pytest.fixture()
def tiny_native(tmp_path: Path, tiny_model: ALAEModel) -> Path:
    path = tmp_path / "tiny_alae.safetensors"
    tiny_model.save_native(path)
    return path
