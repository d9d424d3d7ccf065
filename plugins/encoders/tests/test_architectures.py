"""Real-size architectures, built on the meta device (no memory, no weights), have the official
parameter counts (fixture README "Real-size parameter counts", from the official code at 1024 px)."""

from __future__ import annotations

import pytest
import torch

from ganedit_encoders.networks import BackboneStyleEncoder, FPNStyleEncoder
from ganedit_stylegan2.networks import Generator


def counts(module: torch.nn.Module, prefix: str = "") -> tuple[int, int]:
    params = sum(p.numel() for n, p in module.named_parameters() if n.startswith(prefix))
    buffers = sum(b.numel() for n, b in module.named_buffers() if n.startswith(prefix))
    return params, buffers


def official_size(cls, **kwargs):
    with torch.device("meta"):
        return cls(**kwargs)


@pytest.mark.parametrize("progressive", [False, True], ids=["psp", "e4e"])
def test_psp_e4e_ir_se50_at_1024(progressive):
    net = official_size(FPNStyleEncoder, n_styles=18, progressive=progressive)
    assert counts(net) == (267_136_704, 24_372)
    assert counts(net, "input_layer")[0] + counts(net, "body")[0] == 30_950_080
    assert counts(net, "styles")[0] == 235_988_992
    assert counts(net, "latlayer")[0] == 197_632


@pytest.mark.parametrize("progressive", [False, True], ids=["restyle_psp", "restyle_e4e"])
def test_restyle_backbones_at_1024(progressive):
    net = official_size(BackboneStyleEncoder, n_styles=18, input_nc=6, progressive=progressive)
    assert counts(net) == (205_585_792, 24_372)
    assert counts(net, "input_layer")[0] + counts(net, "body")[0] == 30_951_808
    assert counts(net, "styles")[0] == 174_633_984


def test_decoder_at_1024():
    """Generator(1024, 512, 8): the official decoder; ganedit adds one buffer, w_avg [512]."""
    g = official_size(Generator, size=1024, style_dim=512, n_mlp=8)
    params, buffers = counts(g)
    assert params == 30_370_060
    assert buffers - g.w_avg.numel() == 2_796_432


def test_output_64_with_official_widths():
    """At output 64 (10 styles) with official widths: pSp/e4e 178,797,272 and ReStyle 155,003,288
    parameters, encoder and decoder together."""
    dec = counts(official_size(Generator, size=64, style_dim=512, n_mlp=8))[0]
    assert counts(official_size(FPNStyleEncoder, n_styles=10))[0] + dec == 178_797_272
    assert counts(official_size(BackboneStyleEncoder, n_styles=10, input_nc=6))[0] + dec == 155_003_288
