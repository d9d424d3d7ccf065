"""Shared fixtures of the encoders plugin tests: the official e4e / pSp / ReStyle parity fixture."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ganedit.testing import fixtures_dir, torch_threads

#: Fixture folder -> encoder type.
FAMILIES = {"e4e": "e4e", "psp": "psp", "restyle_psp": "restyle"}


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


@pytest.fixture(scope="session")
def e4e_psp_dir() -> Path:
    d = fixtures_dir() / "e4e_psp"
    if not (d / "e4e" / "checkpoint.pt").is_file():
        pytest.skip(f"e4e/pSp/ReStyle parity fixture not found at {d}")
    return d


@pytest.fixture(scope="session")
def load_cases(e4e_psp_dir: Path):
    cache: dict[str, dict] = {}

    def load(name: str) -> dict:
        if name not in cache:
            cache[name] = torch.load(e4e_psp_dir / name / "cases.pt", map_location="cpu", weights_only=True)
        return cache[name]

    return load


@pytest.fixture(scope="session")
def families() -> dict[str, str]:
    return dict(FAMILIES)


@pytest.fixture(scope="session")
def official_input():
    """The encoder input exactly as the official transform builds it (fixture README)."""
    return lambda cases: (cases["x_uint8"].float() / 255 - 0.5) / 0.5
