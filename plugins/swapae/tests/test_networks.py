"""Behaviour of the SwapAE networks on a tiny random model (any resolution/capacity builds)."""

from __future__ import annotations

import pytest
import torch

import ganedit
from ganedit_swapae.arch import DiscriminatorArch, EncoderArch, GeneratorArch, PatchDiscriminatorArch
from ganedit_swapae.checkpoint import new_model


@pytest.fixture(scope="module")
def codes(tiny):
    x = torch.linspace(-1, 1, 3 * 3 * 32 * 32).reshape(3, 3, 32, 32).sin()
    with torch.no_grad():
        return tiny.encoder(x)


def test_official_layouts_build_from_options():
    """Official width rules (defaults = the 256 px church/bedroom configs of the paper)."""
    assert EncoderArch.from_options({}).channels == [32, 64, 128, 256, 512, 1024, 2048]
    g = GeneratorArch.from_options({})
    assert (g.head_channels, g.up_channels) == ([256, 512], [512, 512, 512, 256, 128][1:])
    assert DiscriminatorArch.from_options({}).channels["256"] == 128
    p = PatchDiscriminatorArch.from_options({})
    assert (p.width(128), p.width(4), p.max_nc, p.pair_channels) == (32, 384, 384, [2048, 2048, 1024])
    # FFHQ-1024 evaluation config: 6 downsamplings, 64-channel structure code, 1024-d texture.
    e = EncoderArch.from_options({"num_downsampling_sp": 6, "nc_steepness": 1.8, "spatial_code_ch": 64,
                                  "global_code_ch": 1024})
    assert e.num_downsampling_sp == 6 and e.channels[-1] == 1024


def test_codes_are_normalised_and_shaped(codes):
    sp, gl = codes
    assert sp.shape == (3, 4, 8, 8) and gl.shape == (3, 32)
    assert torch.allclose(sp.pow(2).sum(1), torch.ones(3, 8, 8), atol=1e-5)
    assert torch.allclose(gl.norm(dim=1), torch.ones(3), atol=1e-5)


def test_encoder_is_fully_convolutional(tiny):
    with torch.no_grad():
        sp, gl = tiny.encoder(torch.zeros(1, 3, 32, 48))
        assert sp.shape == (1, 4, 8, 12) and gl.shape == (1, 32)
        assert tiny.generator(sp, gl).shape == (1, 3, 32, 48)
        with pytest.raises(ValueError, match="too small for the texture branch"):
            tiny.encoder(torch.zeros(1, 3, 8, 8))


def test_constant_texture_map_equals_global_code(tiny, codes):
    sp, gl = codes
    G = tiny.generator
    with torch.no_grad():
        ref = G(sp, gl)
        for size in ((8, 8), (5, 7), (32, 32)):
            out = G(sp, gl[:, :, None, None].expand(-1, -1, *size))
            assert (out - ref).abs().max() < 1e-5, size


def test_batched_texture_maps(tiny, codes):
    """Different maps per sample in one batch = separate batch-1 calls; a map edits locally."""
    sp, gl = codes
    G = tiny.generator
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 4:] = 1
    maps = gl[:, :, None, None] * (1 - mask) + gl.roll(1, 0)[:, :, None, None] * mask
    with torch.no_grad():
        batched = G(sp, maps)
        for i in range(3):
            assert (batched[i:i + 1] - G(sp[i:i + 1], maps[i:i + 1])).abs().max() < 1e-5
        ref, swapped = G(sp, gl), G(sp, gl.roll(1, 0))
    left = (batched - ref)[..., :8].abs().mean()
    right_to_swap = (batched - swapped)[..., 24:].abs().mean()
    assert left < 0.5 * (ref - swapped)[..., :8].abs().mean()
    assert right_to_swap < 0.5 * (ref - swapped)[..., 24:].abs().mean()


def test_texture_batch_broadcast_and_errors(tiny, codes):
    sp, gl = codes
    G = tiny.generator
    with torch.no_grad():
        assert torch.equal(G(sp, gl[:1]), G(sp, gl[:1].expand(3, -1)))
    with pytest.raises(ValueError, match="batch sizes differ"):
        G(sp, gl[:2])
    with pytest.raises(ValueError, match="generator expects 4/32"):
        G(sp, torch.zeros(3, 16))
    with pytest.raises(ganedit.LatentError):
        G.generate(ganedit.Latent.w(torch.zeros(1, 2, 32)))


def test_noise_modes(tiny, codes):
    sp, gl = codes
    G = tiny.generator
    with torch.no_grad():
        const1, const2 = G(sp, gl, "const"), G(sp, gl, "const")
        none = G(sp, gl, "none")
        r1, r2 = G(sp, gl, "random"), G(sp, gl, "random")
        zero = G(sp, gl, "const", noise={n: torch.zeros(1, 1, 1, 1) for n in G.noise_layers()})
    assert torch.equal(const1, const2)
    assert (const1 - none).abs().mean() > 1e-3 and (r1 - r2).abs().mean() > 1e-3
    assert (zero - none).abs().max() < 1e-6  # zero noise tensors (resized) = no noise
    shapes = G.noise_shapes()
    assert shapes["HeadResnetBlock0.conv1"] == (1, 1, 8, 8) and shapes["UpsamplingResBlock32.conv2"] == (1, 1, 32, 32)
    with pytest.raises(KeyError, match="no noise layer"):
        G.set_fixed_noise({"nope": torch.zeros(1, 1, 8, 8)})


def test_seeded_init_is_deterministic(tiny_options):
    torch.manual_seed(5)
    a = new_model(tiny_options, parts=("encoder", "generator"))
    torch.manual_seed(5)
    b = new_model(tiny_options, parts=("encoder", "generator"))
    for pa, pb in zip(a.generator.state_dict().values(), b.generator.state_dict().values()):
        assert torch.equal(pa, pb)
    assert a.discriminator is None


def test_gradients_reach_every_trainable_tensor(tiny):
    """Official init puts noise strengths at 0; after the test perturbation every parameter of E, G,
    D and Dpatch must receive gradient through reconstruction + both discriminators."""
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    E, G, D, P = tiny.encoder, tiny.generator, tiny.discriminator, tiny.patch_discriminator
    for m in (E, G, D, P):
        m.zero_grad()
    sp, gl = E(x)
    mix = G(sp, gl.flip(0), "random")
    rec = G(sp, gl, "random")
    crops = P.sample_crops(mix, torch.Generator().manual_seed(1))
    loss = (rec - x).abs().mean() + D(mix).mean() + P(P.sample_crops(x), crops).mean()
    loss.backward()
    for m in (E, G, D, P):
        for name, p in m.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{type(m).__name__}.{name}"


def test_patch_aggregation(tiny):
    P = tiny.patch_discriminator
    crops = torch.rand(2, 3, 3, 16, 16)
    with torch.no_grad():
        f = P.extract_features(crops)
        fa = P.extract_features(crops, aggregate=True)
    assert f.shape == (6, 16, 2, 2)
    assert torch.allclose(fa.view(2, 3, -1), f.view(2, 3, -1).mean(1, keepdim=True).expand(-1, 3, -1), atol=1e-6)
    with pytest.raises(ValueError, match="built for 32 px"):
        tiny.discriminator(torch.zeros(1, 3, 64, 64))


@pytest.mark.parametrize("options,millions", [
    ({}, [30.58, 25.06, 28.86, 24.52]),  # church / bedroom / afhq (256)
    ({"resolution": 512}, [30.58, 25.06, 28.98, 24.52]),  # ffhq512 / mountain
    ({"resolution": 768, "num_downsampling_sp": 5, "encoder_capacity": 0.4, "global_code_ch": 1536,
      "generator_capacity": 0.8, "patch_size": 256}, [18.5, 19.91, 27.17, 24.53]),  # ffhq1024
    ({"resolution": 768, "num_downsampling_sp": 6, "nc_steepness": 1.8, "spatial_code_ch": 64,
      "global_code_ch": 1024, "generator_capacity": 0.8, "patch_size": 256}, [21.84, 21.84, 27.17, 24.53]),
])
def test_official_configs_parameter_counts(options, millions):
    """The released configurations build with the measured parameter counts (E, G, D, Dpatch)."""
    with torch.device("meta"):  # no memory, no init cost
        model = new_model(options)
    got = [round(sum(p.numel() for p in m.parameters()) / 1e6, 2) for m in model.parts().values()]
    assert got == millions
