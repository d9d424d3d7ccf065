"""Generator component: ganedit interface, latent spaces, noise modes, truncation, per-slot styles."""

from __future__ import annotations

import pytest
import torch

import ganedit
from ganedit.latent import Latent, LatentError
from ganedit_stylealae.components import StyleALAEGenerator
from ganedit_stylealae.layers import deterministic_noise


@pytest.fixture()
def G(tiny_model) -> StyleALAEGenerator:
    return StyleALAEGenerator(tiny_model).requires_grad_(False)


def _z(G, n=2, seed=0):
    return torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))


def test_interface(G):
    assert isinstance(G, ganedit.Generator)
    assert (G.z_dim, G.w_dim, G.num_ws, G.img_resolution) == (16, 16, 6, 16)
    assert StyleALAEGenerator.latent_spaces() == ("z", "w", "w+")
    z = _z(G)
    ws = G.mapping(z)
    assert ws.shape == (2, 6, 16) and torch.equal(ws, ws[:, :1].expand_as(ws))
    img_z = G.generate(Latent("z", {"z": z}))
    img_w = G.generate(Latent.w(ws))
    img_wp = G.generate(Latent.wplus(ws))
    assert img_z.shape == (2, 3, 16, 16)
    assert torch.equal(img_z, img_w) and torch.equal(img_w, img_wp)
    assert torch.equal(G.synthesis(ws[:, :1]), img_w)  # one slot broadcasts
    with pytest.raises(LatentError, match=r"ws must be \[B, 6, 16\]"):
        G.synthesis(ws[:, :4])
    with pytest.raises(LatentError, match="accepts latents"):
        G.generate(Latent.structure_texture(torch.zeros(1, 1, 1, 1), torch.zeros(1, 2)))


def test_noise_modes(G):
    ws = G.mapping(_z(G))
    const_a, const_b = G.synthesis(ws, "const"), G.synthesis(ws, "const")
    assert torch.equal(const_a, const_b)
    none = G.synthesis(ws, "none")
    assert (none - const_a).abs().max() > 1e-3  # 'const' is the official bump, not zero noise
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        r1 = G.synthesis(ws, "random")
        torch.manual_seed(11)
        r2 = G.synthesis(ws, "random")
        r3 = G.synthesis(ws, "random")
    assert torch.equal(r1, r2) and (r1 - r3).abs().max() > 1e-4
    # A torch.Generator makes the draws independent of (and leaves alone) the global RNG.
    state = torch.random.get_rng_state()
    g1 = G.synthesis(ws, "random", generator=torch.Generator().manual_seed(3))
    g2 = G.synthesis(ws, "random", generator=torch.Generator().manual_seed(3))
    assert torch.equal(g1, g2) and torch.equal(state, torch.random.get_rng_state())
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, "zero")


def test_random_noise_draw_order_and_shapes(G):
    """Official order: two draws per block; block 0's first is [1,1,4,4] (the constant is unbatched)."""
    ws = G.mapping(_z(G, n=3))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        drawn = G.synthesis(ws, "random")
        torch.manual_seed(5)
        shapes = [(1, 1, 4, 4), (3, 1, 4, 4), (3, 1, 8, 8), (3, 1, 8, 8), (3, 1, 16, 16), (3, 1, 16, 16)]
        noise = [torch.randn(s) for s in shapes]
    assert torch.equal(G.synthesis(ws, "random", noise=noise), drawn)


def test_deterministic_noise_bump():
    x = torch.tensor([0.0, 1.0])
    s = 2.0 ** 0.5  # block 1
    expected = x + s * torch.exp(-x * x / (2 * s * s)) / (2 * torch.pi) ** 0.5 * 0.8
    assert torch.allclose(deterministic_noise(x, 1), expected)


def test_truncation_per_slot_centres(G):
    z = _z(G)
    ws = G.mapping(z)
    t = G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    centre = G.dlatent_avg
    assert torch.allclose(t[:, :2], centre[:2] + 0.5 * (ws[:, :2] - centre[:2]), atol=1e-6)
    assert torch.equal(t[:, 2:], ws[:, 2:])
    all_slots = G.mapping(z, truncation_psi=0.0)
    assert torch.allclose(all_slots, centre.expand_as(all_slots))
    assert torch.allclose(G.w_avg, centre.mean(0))


def test_sample_latent(G):
    a = G.sample_latent(2, torch.Generator().manual_seed(1))
    b = G.sample_latent(2, torch.Generator().manual_seed(1))
    assert a.space == "w" and torch.equal(a.ws, b.ws) and a.ws.shape == (2, 6, 16)
    t = G.sample_latent(2, torch.Generator().manual_seed(1), truncation_psi=0.7)
    assert t.space == "w+" and not torch.equal(t.ws, a.ws)
    assert G.mean_latent(64, torch.Generator().manual_seed(0)).shape == (1, 16)


def test_styles_drive_their_blocks(G):
    """Per-slot styles (w+) are honoured: changing only the last block's slots keeps coarse content,
    and changing a slot changes the image (what a generic style-mixing editor relies on)."""
    ws_a, ws_b = G.mapping(_z(G, 1, 0)), G.mapping(_z(G, 1, 1))
    base = G.synthesis(ws_a)
    for slot in range(G.num_ws):
        mixed = ws_a.clone()
        mixed[:, slot] = ws_b[:, slot]
        assert (G.synthesis(mixed) - base).abs().max() > 1e-4, slot
    # The 8x8 intermediate result only depends on slots 0-3.
    fine = ws_a.clone()
    fine[:, 4:] = ws_b[:, 4:]
    low_a = G.decoder(ws_a, lod=1)
    low_f = G.decoder(fine, lod=1)
    assert torch.equal(low_a, low_f)


def test_lod_and_fade_in_component(tiny_native):
    G = ganedit.build("generator", {"type": "stylealae",
                                    "params": {"checkpoint": str(tiny_native), "lod": 1, "blend": 0.5}})
    assert G.img_resolution == 8 and G.num_ws == 6
    img = G.generate(G.sample_latent(1, torch.Generator().manual_seed(0)))
    assert img.shape == (1, 3, 8, 8)
    with pytest.raises(ganedit.config.ConfigError, match="needs lod >= 1"):
        ganedit.build("generator", {"type": "stylealae", "params": {"lod": 0, "blend": 0.5}})
    with pytest.raises(ValueError, match=r"lod must be in \[0, 2\]"):
        ganedit.build("generator", {"type": "stylealae", "params": {"checkpoint": str(tiny_native), "lod": 3}})


def test_random_init_is_seeded_and_leaves_global_rng(tmp_path):
    spec = {"type": "stylealae", "params": {"resolution": 8, "latent_size": 8, "start_channels": 4,
                                            "max_channels": 8, "mapping_layers": 2, "seed": 9}}
    state = torch.random.get_rng_state()
    g1, g2 = ganedit.build("generator", spec), ganedit.build("generator", spec)
    assert torch.equal(state, torch.random.get_rng_state())
    assert all(torch.equal(a, b) for a, b in zip(g1.parameters(), g2.parameters()))
    g3 = ganedit.build("generator", {**spec, "params": {**spec["params"], "seed": 10}})
    assert not torch.equal(g1.mapping_f.map_blocks[0].fc.weight, g3.mapping_f.map_blocks[0].fc.weight)
    # official init: constant of ones, zero noise strengths and biases
    assert torch.equal(g1.decoder.const, torch.ones_like(g1.decoder.const))
    assert g1.decoder.decode_block[1].noise_weight_1.abs().sum() == 0
    assert g1.discriminator() is None  # no checkpoint to take D from


def test_gradients_flow_to_ws(G):
    ws = G.mapping(_z(G)).detach().requires_grad_(True)
    G.synthesis(ws, "const").square().mean().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0


def test_generic_style_mixing_editor_if_available(G):
    """The inversion plugin's generic ``style_mixing`` editor works on StyleALAE's per-slot ws."""
    reg = ganedit.load_registry()
    if "style_mixing" not in reg.names("editor"):
        pytest.skip("no 'style_mixing' editor registered (owned by the inversion plugin)")
    editor = ganedit.build("editor", {"type": "style_mixing", "params": {"seeds": [3], "layers": ["coarse", [5]]}}, registry=reg)
    latent = G.sample_latent(2, torch.Generator().manual_seed(0))
    edits = editor.edit(G, latent)
    assert len(edits) == 2 and all(e.images.shape == (2, 3, 16, 16) for e in edits)
    source = G.mapping(torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(3)), 0.7)
    expected = latent.ws.clone()
    expected[:, 5] = source[:, 5]
    assert torch.allclose(edits[1].images, G.synthesis(expected, "const"), atol=1e-6)


def test_one_image_gradients_are_right_in_channels_last(tiny_model):
    """Inverting one image runs G and E in channels_last on CPU (`invert`'s default). torch 2.14.1's
    `F.instance_norm` backward is wrong for a batch of one with a channels_last incoming gradient
    (relative error 1.4); the plugin's `instance_norm` keeps every gradient equal to the contiguous
    network's (float64 as the reference)."""
    import copy

    import torch.nn.functional as F

    from ganedit.accel import to_channels_last
    from ganedit_stylealae.layers import instance_norm

    x = torch.randn(1, 8, 16, 16, dtype=torch.float64, requires_grad=True)
    g_out = torch.randn(1, 8, 16, 16, dtype=torch.float64)
    F.instance_norm(x, eps=1e-5).backward(g_out)
    ref = x.grad.clone()
    x32 = x.detach().float().requires_grad_(True)
    instance_norm(x32, eps=1e-5).backward(g_out.float().to(memory_format=torch.channels_last))
    assert (x32.grad.double() - ref).norm() / ref.norm() < 1e-5

    def grads(model, cl):
        model = copy.deepcopy(model).requires_grad_(True)
        if cl:
            to_channels_last(model)
        G = StyleALAEGenerator(model)
        ws = torch.randn(1, G.num_ws, G.w_dim, generator=torch.Generator().manual_seed(0))
        target = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1)) * 2 - 1
        rec = G.generate(Latent("w+", {"ws": ws}), "const")
        enc = model.encoder(rec)  # E's instance norms too
        ((rec - target).pow(2).mean() + enc.pow(2).mean()).backward()
        return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    plain, cl = grads(tiny_model, False), grads(tiny_model, True)
    assert plain.keys() == cl.keys() and len(plain) > 10
    checked = 0
    for name in plain:
        scale = plain[name].norm()
        if scale < 1e-4:  # numerically zero (the first bias after the constant input, which the
            continue      # instance norm removes): rounding noise, whatever the layout
        assert (cl[name] - plain[name]).norm() / scale < 1e-3, name
        checked += 1
    assert checked > 10
