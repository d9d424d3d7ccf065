"""ganedit.nn.layers: the two forms of the modulated convolution agree."""

from __future__ import annotations

import pytest
import torch

from ganedit.nn.layers import ModulatedConv2d


@pytest.mark.parametrize("kind", ["plain", "upsample", "downsample"])
@pytest.mark.parametrize("demodulate", [True, False])
def test_one_image_with_a_frozen_weight_matches_the_per_sample_weight_form(kind, demodulate):
    """One image with a frozen weight (latent optimisation) takes the activation-side form; its
    output and the style's gradient must equal those of the per-sample weight form."""
    torch.manual_seed(0)
    conv = ModulatedConv2d(8, 6, 3, 16, demodulate=demodulate, upsample=kind == "upsample",
                           downsample=kind == "downsample")
    with torch.no_grad():
        conv.modulation.bias.normal_()  # styles away from 1, so a wrong modulation would show
    x = torch.randn(1, 8, 8, 8)
    style = torch.randn(1, 16)
    gy = None

    def run(frozen: bool) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal gy
        conv.requires_grad_(not frozen)
        s = style.clone().requires_grad_(True)
        y = conv(x, s)
        if gy is None:
            gy = torch.randn_like(y)
        (y * gy).sum().backward()
        return y.detach(), s.grad

    y_trained, g_trained = run(frozen=False)
    y_frozen, g_frozen = run(frozen=True)
    assert conv.weight.grad is not None  # from the trained run only: the frozen run added none
    torch.testing.assert_close(y_frozen, y_trained, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(g_frozen, g_trained, rtol=1e-4, atol=1e-5)
    batched = conv._forward_batched(x, style)
    torch.testing.assert_close(y_frozen, batched.detach(), rtol=0, atol=0)  # the form it took
