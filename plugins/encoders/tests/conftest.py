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


#: A tiny official-layout model: 16 px decoder (6 styles of width 8), IR widths 4/4/8/8.
TINY = {"style_dim": 8, "stem_width": 4, "widths": (4, 4, 8, 8)}


@pytest.fixture(scope="session")
def official_file(tmp_path_factory):
    """``make(encoder_type, **opts_overrides) -> path``: random weights in the official training
    layout ({'state_dict': encoder.* + decoder.*, 'opts', 'latent_avg'}), for layout and error tests
    of encoder classes the parity fixture does not cover."""
    from ganedit_encoders.checkpoint import ENCODER_TYPES
    from ganedit_stylegan2.networks import Generator

    folder = tmp_path_factory.mktemp("official")
    counter = iter(range(10**6))

    def make(encoder_type: str, latent_avg: torch.Tensor | None | str = "rows", seed: int = 0,
             backbone: str | None = None, extra: dict | None = None, **opts) -> Path:
        cls, family, prog, kind = ENCODER_TYPES[encoder_type]
        restyle = family == "restyle"
        kwargs = dict(TINY, n_styles=6, input_nc=6 if restyle else 3,
                      backbone=backbone or ("resnet34" if kind == "resnet34" else "ir_se50"))
        if "progressive" in cls.__init__.__code__.co_varnames:
            kwargs["progressive"] = prog
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            enc = cls(**kwargs)
            dec = Generator(16, style_dim=8, n_mlp=2, channels={4: 8, 8: 8, 16: 8})
            for m in enc.modules():  # non-trivial BatchNorm statistics, as a trained model has
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.running_mean.normal_(0, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
            if latent_avg == "rows":
                latent_avg = torch.randn(6, 8)
        state = {f"encoder.{k}": v for k, v in enc.state_dict().items()}
        state.update({f"decoder.{k}": v for k, v in dec.state_dict().items() if k != "w_avg"})
        base = {"encoder_type": encoder_type, "start_from_latent_avg": True, "device": "cuda:0",
                **({"input_nc": 6, "output_size": 16, "n_iters_per_batch": 5} if restyle else
                   {"stylegan_size": 16} if family == "e4e" else {"input_nc": 3, "output_size": 16})}
        obj = {"state_dict": state, "opts": {**base, **opts}}
        if latent_avg is not None:
            obj["latent_avg"] = latent_avg
        obj.update(extra or {})
        path = folder / f"{encoder_type}_{next(counter)}.pt"
        torch.save(obj, path)
        return path

    return make


@pytest.fixture(scope="session")
def x256() -> torch.Tensor:
    return torch.rand(2, 3, 256, 256, generator=torch.Generator().manual_seed(5)) * 2 - 1
