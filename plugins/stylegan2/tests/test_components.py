"""Component behaviour: params validation, random init, latent spaces, noise, truncation, D options."""

from __future__ import annotations

import pytest
import torch

import ganedit
from ganedit.config import ConfigError
from ganedit.latent import Latent, LatentError

from ganedit_stylegan2 import networks
from ganedit_stylegan2.components import StyleGAN2Generator

SMALL = {"resolution": 16, "style_dim": 16, "n_mlp": 2, "channels": {4: 8, 8: 8, 16: 4}}


def build_g(**overrides) -> StyleGAN2Generator:
    return ganedit.build("generator", {"type": "stylegan2", "params": {**SMALL, **overrides}})


@pytest.mark.parametrize("params, message", [
    ({"resolution": 100}, "power of two in 8..1024"),
    ({"resolution": 2048}, "less than or equal to 1024"),
    ({"resolution": 4}, "greater than or equal to 8"),
    ({"n_mlp": 0}, "greater than or equal to 1"),
    ({"colour": "red"}, "unknown key"),
    ({"format": "tf"}, "'auto', 'rosinality', 'nvidia' or 'native'"),
    ({"which": "best"}, "'ema' or 'train'"),
    ({"checkpoint": "/nonexistent/g.pt"}, "file not found"),
    ({"channels": {4: 8, 8: 8}}, r"channels misses resolutions \[16\]"),
    ({"channels": {4: 8, 8: 8, 16: 0}}, "must be positive"),
    ({"channels": {5: 8}}, "powers of two"),
])
def test_params_validation(params, message):
    with pytest.raises(ConfigError, match=message):
        build_g(**params)


def test_spaces_and_attributes():
    G = build_g()
    assert StyleGAN2Generator.latent_spaces() == ("z", "w", "w+")
    assert (G.z_dim, G.w_dim, G.num_ws, G.img_resolution) == (16, 16, 6, 16)
    assert isinstance(G, ganedit.Generator)
    reg = ganedit.load_registry()
    assert reg.get("generator", "stylegan2").cls is StyleGAN2Generator
    assert reg.get("discriminator", "stylegan2").cls.__name__ == "StyleGAN2Discriminator"


@torch.no_grad()
def test_random_init_is_seeded_and_leaves_global_rng_alone():
    torch.manual_seed(7)
    before = torch.rand(3)
    torch.manual_seed(7)
    a, b, c = build_g(seed=1), build_g(seed=1), build_g(seed=2)
    assert torch.equal(torch.rand(3), before)  # building consumed no global randomness
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["net.conv1.conv.weight"], sc["net.conv1.conv.weight"])
    # w_avg is the estimated mean of mapping(z), not zeros.
    assert a.w_avg.abs().sum() > 0
    assert torch.allclose(a.w_avg, a.mapping(torch.randn(20000, 16))[:, 0].mean(0), atol=0.05)


@torch.no_grad()
def test_generate_spaces_agree():
    G = build_g()
    gen = torch.Generator().manual_seed(3)
    z = G.sample_z(2, gen)
    ws = G.mapping(z)
    img_z = G.generate(Latent("z", {"z": z}))
    assert img_z.shape == (2, 3, 16, 16)
    assert torch.equal(img_z, G.generate(Latent.w(ws)))
    assert torch.equal(img_z, G.generate(Latent.wplus(ws)))
    # sample_latent: W space, deterministic for a seeded torch.Generator.
    lat = G.sample_latent(2, torch.Generator().manual_seed(3))
    assert lat.space == "w" and torch.equal(lat.ws, ws)
    with pytest.raises(LatentError, match=r"expects ws \[B, 6, 16\]"):
        G.generate(Latent.wplus(torch.zeros(1, 5, 16)))
    with pytest.raises(LatentError, match="accepts latents in"):
        G.generate(Latent.structure_texture(torch.zeros(1, 2, 2, 2), torch.zeros(1, 4)))


@torch.no_grad()
def test_truncation_cutoff():
    G = build_g()
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(0))
    full, trunc = G.mapping(z), G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    assert torch.allclose(trunc[:, :2], G.w_avg + 0.5 * (full[:, :2] - G.w_avg), atol=1e-6)
    assert torch.equal(trunc[:, 2:], full[:, 2:])
    all_layers = G.mapping(z, truncation_psi=0.0)
    assert torch.allclose(all_layers, G.w_avg.expand_as(all_layers), atol=1e-6)


@torch.no_grad()
def test_style_mixing_takes_coarse_and_fine_layers():
    G = build_g()
    a = G.mapping(torch.randn(1, 16))
    b = G.mapping(torch.randn(1, 16))
    mixed = G.style_mix(a, b, 2)
    assert torch.equal(mixed[:, :2], a[:, :2]) and torch.equal(mixed[:, 2:], b[:, 2:])
    img = G.synthesis(mixed)
    assert (img - G.synthesis(a)).abs().max() > 1e-3 and (img - G.synthesis(b)).abs().max() > 1e-3


def test_noise_buffers_can_be_optimised():
    G = build_g()
    for p in G.parameters():
        p.requires_grad_(False)
    bufs = G.noise_buffers()
    assert [tuple(b.shape) for b in bufs] == [(1, 1, 4, 4), (1, 1, 8, 8), (1, 1, 8, 8), (1, 1, 16, 16), (1, 1, 16, 16)]
    # Noise strengths start at 0 in a fresh network: give them a value so the noise matters.
    with torch.no_grad():
        for m in G.net.modules():
            if isinstance(m, networks.StyledConv):
                m.noise.weight.fill_(0.5)
    noise = [b.detach().clone().requires_grad_(True) for b in bufs]
    ws = G.mapping(torch.randn(1, 16)).detach().requires_grad_(True)
    target = torch.zeros(1, 3, 16, 16)
    loss = (G.synthesis(ws, noise=noise) - target).pow(2).mean()
    loss.backward()
    assert all(n.grad is not None and n.grad.abs().sum() > 0 for n in noise)
    assert ws.grad.abs().sum() > 0
    opt = torch.optim.Adam(noise + [ws], lr=0.05)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = (G.synthesis(ws, noise=noise) - target).pow(2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    # The stored buffers were not touched.
    assert all(torch.equal(b, G.noise_buffers()[i]) for i, b in enumerate(bufs))


@torch.no_grad()
def test_random_noise_differs_per_sample():
    G = build_g()
    with torch.no_grad():
        for m in G.net.modules():
            if isinstance(m, networks.StyledConv):
                m.noise.weight.fill_(1.0)
    ws = G.mapping(torch.randn(1, 16)).repeat(2, 1, 1)
    img = G.synthesis(ws, noise_mode="random")
    assert (img[0] - img[1]).abs().max() > 1e-3
    const = G.synthesis(ws, noise_mode="const")
    assert torch.equal(const[0], const[1])
    with pytest.raises(ValueError, match="noise_mode must be"):
        G.synthesis(ws, noise_mode="fresh")
    with pytest.raises(ValueError, match="expected 5 noise maps"):
        G.synthesis(ws, noise=[torch.zeros(1, 1, 4, 4)])


@torch.no_grad()
def test_conv_clamp_matches_unclamped_when_loose_and_bounds_when_tight():
    torch.manual_seed(0)
    base = networks.Generator(16, 16, 2, channels=SMALL["channels"])
    loose = networks.Generator(16, 16, 2, channels=SMALL["channels"], conv_clamp=1e6)
    tight = networks.Generator(16, 16, 2, channels=SMALL["channels"], conv_clamp=0.05)
    loose.load_state_dict(base.state_dict())
    tight.load_state_dict(base.state_dict())
    ws = base.mapping(torch.randn(2, 16)).unsqueeze(1).repeat(1, base.n_latent, 1)
    ref = base.synthesis(ws)
    assert torch.equal(loose.synthesis(ws), ref)
    clamped = tight.synthesis(ws)
    assert (clamped - ref).abs().max() > 1e-2
    # Each ToRGB output is clamped to 0.05 and upsampling preserves the bound: |img| <= 0.05 * #ToRGBs.
    assert clamped.abs().max() <= 0.05 * 3 + 1e-6
    assert loose.arch.conv_clamp == 1e6


@torch.no_grad()
def test_discriminator_minibatch_options():
    torch.manual_seed(0)
    x = torch.randn(6, 3, 16, 16)
    d4 = networks.Discriminator(16, channels=SMALL["channels"])
    with pytest.raises(ValueError, match="not divisible by group size 4"):
        d4(x)
    d_all = networks.Discriminator(16, channels=SMALL["channels"], mbstd_group_size=None)
    d_all.load_state_dict(d4.state_dict())
    d3 = networks.Discriminator(16, channels=SMALL["channels"], mbstd_group_size=3)
    d3.load_state_dict(d4.state_dict())
    out_all, out3 = d_all(x), d3(x)
    assert out_all.shape == (6, 1) and (out_all - out3).abs().max() > 0
    d2c = networks.Discriminator(16, channels=SMALL["channels"], mbstd_num_channels=2)
    assert d2c.final_conv[0].weight.shape[1] == 8 + 2
    assert d2c(x[:4]).shape == (4, 1)
    # The clamped D keeps rosinality's state-dict keys.
    dc = networks.Discriminator(16, channels=SMALL["channels"], conv_clamp=256)
    assert list(dc.state_dict()) == list(d4.state_dict())
    dc.load_state_dict(d4.state_dict())
    assert torch.equal(dc(x[:4]), d4(x[:4]))


@torch.no_grad()
def test_discriminator_component_random_init():
    D = ganedit.build("discriminator", {"type": "stylegan2", "params": {
        "resolution": 16, "channels": {4: 8, 8: 8, 16: 4}, "mbstd_group_size": 2, "seed": 3}})
    out = D(torch.randn(4, 3, 16, 16))
    assert out.shape == (4, 1) and torch.isfinite(out).all()
    with pytest.raises(ValueError, match=r"expects \[B, 3, 16, 16\]"):
        D(torch.randn(2, 3, 8, 8))


@pytest.mark.parametrize("size", [8, 32])
@torch.no_grad()
def test_resolutions_and_standard_widths(size):
    G = networks.Generator(size, style_dim=8, n_mlp=1, channel_multiplier=1,
                           channels={r: 4 for r in (4, 8, 16, 32)})
    assert G.n_latent == 2 * size.bit_length() - 4 and G.num_layers == G.n_latent - 1
    ws = torch.randn(1, G.n_latent, 8)
    assert G.synthesis(ws).shape == (1, 3, size, size)
    assert networks.channel_table(2)[1024] == 32 and networks.channel_table(1)[64] == 256
    assert networks.resolve_channels(1024, 2)[256] == 128


@torch.no_grad()
def test_separate_z_dim():
    G = build_g(z_dim=24)
    assert G.z_dim == 24 and G.w_dim == 16
    assert G.generate(Latent("z", {"z": torch.randn(2, 24)})).shape == (2, 3, 16, 16)
    with pytest.raises(ValueError, match=r"z must be \[B, 24\]"):
        G.mapping(torch.randn(2, 16))


def test_discriminator_kept_out_of_generator_parameters(rosi_dir):
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(rosi_dir / "checkpoint.pt")}})
    n_g = sum(p.numel() for p in G.parameters())
    assert n_g == 116328  # README: G parameter count; the D's 92,081 are not included
    assert sum(p.numel() for p in G.discriminator().parameters()) == 92081
    assert all(k.startswith("net.") for k in G.state_dict())
