"""Shared fixtures of the StyleGAN2 plugin tests: the rosinality parity fixture, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganedit.testing import fixtures_dir


@pytest.fixture(scope="session")
def rosi_dir() -> Path:
    d = fixtures_dir() / "stylegan2_rosinality"
    if not d.is_dir():
        pytest.skip(f"rosinality StyleGAN2 parity fixture not found at {d}")
    return d


@pytest.fixture(scope="session")
def cases(rosi_dir: Path) -> dict:
    return torch.load(rosi_dir / "cases.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def raw_checkpoint(rosi_dir: Path) -> dict:
    return torch.load(rosi_dir / "checkpoint.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def rosi_ckpt(rosi_dir: Path):
    from ganedit_stylegan2.rosinality import load_rosinality

    return load_rosinality(rosi_dir / "checkpoint.pt")
