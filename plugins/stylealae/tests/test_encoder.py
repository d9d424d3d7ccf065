"""The encoder is a sum of learned linear maps C_i of per-block instance statistics."""

from __future__ import annotations

import pytest
import torch

import ganedit
from ganedit_stylealae.components import StyleALAEEncoder
from ganedit_stylealae.layers import instance_stats


@pytest.fixture()
def encoder(tiny_model) -> StyleALAEEncoder:
    return StyleALAEEncoder(tiny_model)


@pytest.fixture()
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.rand(3, 3, 16, 16, generator=g) * 2 - 1


def test_instance_stats_are_biased_mean_and_std():
    x = torch.randn(2, 5, 6, 6)
    var, mean = torch.var_mean(x, dim=(2, 3), unbiased=False)
    assert torch.allclose(instance_stats(x), torch.cat([mean, var.sqrt()], 1), atol=1e-6)


def test_w_is_the_sum_of_block_terms(encoder, images):
    with torch.no_grad():
        stats = encoder.statistics(images)
        w = encoder.encode_w(images)
    assert len(stats) == encoder.arch.layer_count
    for i, (s, block) in enumerate(zip(stats, encoder.encoder.encode_block)):
        cin, cout = encoder.arch.encoder_channels(i)
        assert s.stats_1.shape == (3, 2 * cin) and s.stats_2.shape == (3, 2 * cout)
        # each term is exactly the affine maps C_i applied to the statistics
        with torch.no_grad():
            assert torch.allclose(s.term, block.style_1(s.stats_1) + block.style_2(s.stats_2), atol=1e-6)
    assert torch.allclose(w, sum(s.term for s in stats), atol=1e-5)


@pytest.mark.parametrize("block", [0, 1, 2])
def test_zeroing_one_C_i_removes_exactly_that_term(encoder, images, block):
    with torch.no_grad():
        stats = encoder.statistics(images)
        w = encoder.encode_w(images)
        b = encoder.encoder.encode_block[block]
        for layer in (b.style_1, b.style_2):
            layer.weight.zero_()
            layer.bias.zero_()
        w_zeroed = encoder.encode_w(images)
    assert torch.allclose(w - w_zeroed, stats[block].term, atol=1e-5)
    assert stats[block].term.abs().max() > 1e-2  # the term is not trivially zero


def test_changing_one_blocks_statistics_changes_w_by_C_i_delta(encoder, images):
    """Perturb the statistics block 1 reports: w moves by exactly style_1's linear part of the change."""
    block = encoder.encoder.encode_block[1]
    delta = torch.zeros_like(encoder.statistics(images)[1].stats_1)
    delta[:, 0] = 0.5  # the mean of channel 0
    with torch.no_grad():
        w_base = encoder.encode_w(images)
        handle = block.register_forward_hook(lambda mod, inp, out: (out[0], out[1] + delta, out[2]))
        try:
            w_moved = encoder.encode_w(images)
        finally:
            handle.remove()
    expected = delta @ (block.style_1.weight * block.style_1.scale).T
    assert torch.allclose(w_moved - w_base, expected, atol=1e-5)


def test_encoding_is_per_instance(encoder, images):
    """Only instance statistics are used, so batching does not change w."""
    with torch.no_grad():
        batched = encoder.encode_w(images)
        single = torch.cat([encoder.encode_w(images[i:i + 1]) for i in range(len(images))])
    assert torch.allclose(batched, single, atol=1e-5)


def test_encode_latent_broadcasts_w(encoder, images):
    with torch.no_grad():
        lat = encoder.encode(images)
        w = encoder.encode_w(images)
    assert lat.space == "w" and lat.ws.shape == (3, encoder.num_ws, encoder.w_dim)
    assert torch.equal(lat.ws, w[:, None].expand_as(lat.ws))
    assert StyleALAEEncoder.output_space() == "w"


def test_fade_in_blend_one_equals_plain_lod(tiny_model, images):
    enc = tiny_model.encoder
    x = torch.nn.functional.avg_pool2d(images, 2)
    with torch.no_grad():
        plain = enc(x, lod=1)
        faded = enc(x, lod=1, blend=0.999999)
        half = enc(x, lod=1, blend=0.5)
    assert torch.allclose(plain, faded, atol=1e-4)
    assert (plain - half).abs().max() > 1e-3


def test_resolution_handling(encoder, images):
    with torch.no_grad():
        big = torch.nn.functional.interpolate(images, scale_factor=2, mode="nearest")
        assert torch.allclose(encoder.encode_w(big), encoder.encode_w(images), atol=1e-5)
    with pytest.raises(ValueError, match="smaller images 8x8"):
        encoder.encode_w(images[:, :, :8, :8])


def test_random_encoder_component(tmp_path):
    spec = {"type": "stylealae", "params": {"resolution": 8, "latent_size": 8, "start_channels": 4,
                                            "max_channels": 8, "seed": 5}}
    e1, e2 = ganedit.build("encoder", spec), ganedit.build("encoder", spec)
    x = torch.zeros(1, 3, 8, 8).uniform_(-1, 1)
    with torch.no_grad():
        assert torch.equal(e1.encode_w(x), e2.encode_w(x))
