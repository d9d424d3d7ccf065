"""Parity with rosinality/stylegan2-pytorch on the shared 64 px fixture (every stored output)."""

from __future__ import annotations

import pytest
import torch

import ganedit
from ganedit.io.checkpoint import CheckpointError
from ganedit.latent import Latent

IMG_TOL = 1e-4
LAT_TOL = 1e-5
D_TOL = 2e-5


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a.float() - b.float()).abs().max().item()


@pytest.fixture(scope="module", params=["checkpoint.pt", "converted_style.pt"])
def G(request, rosi_dir):
    return ganedit.build("generator", {"type": "stylegan2",
                                       "params": {"checkpoint": str(rosi_dir / request.param)}})


@torch.no_grad()
def test_mapping_matches(G, cases):
    ws = G.mapping(cases["z"])
    assert ws.shape == (4, 10, 64)
    assert max_err(ws[:, 0], cases["w"]) <= LAT_TOL
    assert torch.equal(ws[:, 0], ws[:, -1])
    assert max_err(G.mapping(cases["z2"])[:, 3], cases["w2"]) <= LAT_TOL


@torch.no_grad()
def test_w_avg_is_latent_avg(G, cases):
    assert torch.equal(G.w_avg, cases["latent_avg"])


@torch.no_grad()
def test_img_z_const_noise(G, cases):
    img = G.generate(Latent("z", {"z": cases["z"]}), noise_mode="const")
    assert max_err(img, cases["img_z"]) <= IMG_TOL
    # Same through the W route (bit-equal in the reference).
    img_w = G.synthesis(G.mapping(cases["z"]), noise_mode="const")
    assert max_err(img_w, img) == 0.0


@torch.no_grad()
def test_truncation_all_layers_toward_latent_avg(G, cases):
    ws = G.mapping(cases["z"], truncation_psi=cases["truncation"])
    img = G.synthesis(ws)
    assert max_err(img, cases["img_trunc"]) <= IMG_TOL
    # The untruncated image is clearly different: truncation did something.
    assert max_err(img, cases["img_z"]) > 0.1


@torch.no_grad()
def test_wplus(G, cases):
    img = G.generate(Latent.wplus(cases["wplus"]))
    assert max_err(img, cases["img_wplus"]) <= IMG_TOL


@torch.no_grad()
def test_style_mixing(G, cases):
    ws = G.style_mix(G.mapping(cases["z"]), G.mapping(cases["z2"]), cases["inject_index"])
    assert max_err(ws, cases["latent_mix"]) <= LAT_TOL
    assert max_err(G.synthesis(ws), cases["img_mix"]) <= IMG_TOL


@torch.no_grad()
def test_explicit_noise(G, cases):
    img = G.synthesis(G.mapping(cases["z"]), noise_mode="random", noise=cases["noise_explicit"])
    assert max_err(img, cases["img_noise"]) <= IMG_TOL


@torch.no_grad()
def test_noise_buffers_shapes_and_modes(G, cases):
    bufs = G.noise_buffers()
    assert [list(b.shape) for b in bufs] == cases["noise_shapes"]
    ws = G.mapping(cases["z"])
    # const == passing the buffers explicitly; none/random differ from const and between calls.
    assert torch.equal(G.synthesis(ws, noise=[b.clone() for b in bufs]), G.synthesis(ws, "const"))
    none = G.synthesis(ws, "none")
    assert torch.equal(none, G.synthesis(ws, noise=[torch.zeros_like(b) for b in bufs]))
    assert max_err(none, cases["img_z"]) > 1e-2
    r1, r2 = G.synthesis(ws, "random"), G.synthesis(ws, "random")
    assert max_err(r1, r2) > 1e-2


@torch.no_grad()
def test_network_forward_rosinality_semantics(rosi_ckpt, cases):
    g = rosi_ckpt.g_ema
    img, lat = g([cases["z"], cases["z2"]], inject_index=cases["inject_index"], randomize_noise=False,
                 return_latents=True)
    assert max_err(lat, cases["latent_mix"]) <= LAT_TOL
    assert max_err(img, cases["img_mix"]) <= IMG_TOL
    # A [1, D] truncation centre behaves like [D].
    t = g([cases["z"]], truncation=0.7, truncation_latent=cases["latent_avg"][None], randomize_noise=False)[0]
    assert max_err(t, cases["img_trunc"]) <= IMG_TOL
    # input_is_latent with a single [B, D] w equals img_z.
    img_w = g([cases["w"]], input_is_latent=True, randomize_noise=False)[0]
    assert max_err(img_w, cases["img_z"]) <= IMG_TOL


@torch.no_grad()
def test_training_generator_with_its_own_noise(rosi_dir, cases):
    G = ganedit.build("generator", {"type": "stylegan2", "params": {
        "checkpoint": str(rosi_dir / "checkpoint.pt"), "which": "train"}})
    img = G.generate(Latent("z", {"z": cases["z"]}))
    assert max_err(img, cases["img_z_g"]) <= IMG_TOL
    assert max_err(img, cases["img_z"]) > 0.1  # really the other generator


@torch.no_grad()
def test_discriminator_outputs(rosi_dir, cases):
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(rosi_dir / "checkpoint.pt")}})
    D = G.discriminator()
    assert D is not None
    D2 = ganedit.build("discriminator", {"type": "stylegan2",
                                         "params": {"checkpoint": str(rosi_dir / "checkpoint.pt")}})
    for d in (D, D2):
        assert max_err(d(cases["d_img"]), cases["d_out"]) <= D_TOL
        assert max_err(d(cases["d_img8"]), cases["d_out8"]) <= D_TOL
        assert max_err(d(cases["d_img"][:2]), cases["d_out2"]) <= D_TOL
        assert max_err(d(cases["img_z"]), cases["d_out_img_z"]) <= D_TOL


def test_converted_checkpoint_has_no_discriminator(rosi_dir):
    G = ganedit.build("generator", {"type": "stylegan2",
                                    "params": {"checkpoint": str(rosi_dir / "converted_style.pt")}})
    assert G.discriminator() is None
    with pytest.raises(CheckpointError, match="no discriminator"):
        ganedit.build("discriminator", {"type": "stylegan2",
                                        "params": {"checkpoint": str(rosi_dir / "converted_style.pt")}})
