"""Shared fixtures of the SwapAE plugin tests: the official parity fixture and a tiny random model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganedit.testing import fixtures_dir
from ganedit_swapae.testing import TINY_OPTIONS

#: A tiny architecture for CPU tests: 32 px images, 8x8 structure codes, 32-d texture codes.
TINY = {"resolution": 32, **TINY_OPTIONS}


@pytest.fixture
def tiny_options() -> dict:
    return dict(TINY)


@pytest.fixture(scope="session")
def official_dir() -> Path:
    d = fixtures_dir() / "swapae_official"
    if not d.is_dir():
        pytest.skip(f"official SwapAE parity fixture not found at {d}")
    return d


@pytest.fixture(scope="session")
def official_ckpt(official_dir: Path) -> Path:
    return official_dir / "latest_checkpoint.pth"


@pytest.fixture(scope="session")
def cases(official_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(official_dir / "cases.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def fixed_noise(cases) -> dict[str, torch.Tensor]:
    return {k[len("fixed_noise."):]: v for k, v in cases.items() if k.startswith("fixed_noise.")}


@pytest.fixture(scope="session")
def official(official_ckpt: Path, fixed_noise):
    from ganedit_swapae.checkpoint import load_swapae

    model = load_swapae(official_ckpt)
    model.generator.set_fixed_noise(fixed_noise)
    return model


def _perturb(model, seed: int) -> None:
    """Move a fresh model away from its init (zero biases / zero noise strengths) so that every
    parameter matters in the tests."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if name.endswith("noise.weight"):
                p.copy_(0.1 + 0.05 * r.abs())
            elif name.endswith("bias"):
                p.add_(0.2 * r)
            else:
                p.add_(0.1 * r)


@pytest.fixture(scope="session")
def tiny():
    """A randomly initialised tiny SwapAE (E, G, D, Dpatch) with perturbed parameters."""
    from ganedit_swapae.checkpoint import new_model

    torch.manual_seed(0)
    model = new_model(TINY)
    for i, part in enumerate(model.parts().values()):
        _perturb(part, 100 + i)
        part.eval()
    return model


@pytest.fixture(scope="session")
def tiny_path(tiny, tmp_path_factory) -> Path:
    from ganedit_swapae.checkpoint import save_swapae

    path = tmp_path_factory.mktemp("swapae") / "tiny.safetensors"
    save_swapae(path, tiny)
    return path
