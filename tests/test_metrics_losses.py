"""PSNR/SSIM against hand-computed values, LPIPS error path, Laplacian pyramid and GAN losses."""

import math

import pytest
import torch

from ganedit.losses import LaplacianPyramidLoss, d_logistic_loss, g_nonsaturating_loss, r1_penalty
from ganedit.metrics import LPIPS, MetricUnavailable, mae, psnr, ssim


def test_psnr_hand_computed():
    a = torch.zeros(2, 3, 8, 8)
    b = a.clone()
    b[0] += 0.1                      # mse 0.01 -> 10*log10(4/0.01) = 26.0206
    b[1, :, :4] += 0.5               # half the pixels off by 0.5 -> mse 0.125 -> 10*log10(32)
    got = psnr(a, b)
    assert got[0].item() == pytest.approx(10 * math.log10(4 / 0.01), abs=1e-4)
    assert got[1].item() == pytest.approx(10 * math.log10(32), abs=1e-4)
    assert psnr(a, a).min().item() > 150  # identical images: huge, finite
    assert mae(a, b)[0].item() == pytest.approx(0.1, abs=1e-6)


def test_ssim_hand_computed_constant_images():
    # Constant images: sigma terms vanish, SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1), on [0, 1] data.
    mx, my = 0.25, 0.75
    a = torch.full((1, 3, 16, 16), mx * 2 - 1)
    b = torch.full((1, 3, 16, 16), my * 2 - 1)
    c1 = (0.01 * 1.0) ** 2
    expected = (2 * mx * my + c1) / (mx**2 + my**2 + c1)
    assert ssim(a, b).item() == pytest.approx(expected, abs=1e-5)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert ssim(x, x).tolist() == pytest.approx([1.0, 1.0], abs=1e-5)
    assert ssim(x, -x).max().item() < 0.5


def test_metric_shape_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 4, 4))


def test_lpips_without_weights_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MetricUnavailable) as err:
        LPIPS("alex")
    msg = str(err.value)
    assert "alexnet-owt-7be5be79.pth" in msg and str(tmp_path) in msg


def test_laplacian_pyramid_loss():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    loss = LaplacianPyramidLoss(levels=4)
    assert loss(x, x).item() == 0.0
    noise = torch.randn_like(x)
    values = [loss(x, x + s * noise).item() for s in (0.01, 0.1, 0.5)]
    assert values[0] < values[1] < values[2]
    y = x.clone().requires_grad_(True)
    loss(x + 0.1 * noise, y).backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    # per-level weights: zero weight on every band but the residual ignores fine detail
    only_low = LaplacianPyramidLoss(levels=4, weights=[0, 0, 0, 1])
    hf = torch.zeros_like(x)
    hf[..., ::2, :] = 0.2
    hf[..., 1::2, :] = -0.2  # zero-mean, highest-frequency pattern
    assert only_low(x, x + hf).item() < 0.05 * LaplacianPyramidLoss(levels=4, weights=[1, 0, 0, 0])(x, x + hf).item()
    with pytest.raises(ValueError, match="2 level weights for 4 levels"):
        LaplacianPyramidLoss(levels=4, weights=[1, 1])


def test_gan_losses_values():
    real = torch.tensor([[2.0], [0.0]])
    fake = torch.tensor([[-1.0], [0.5]])
    sp = torch.nn.functional.softplus
    assert d_logistic_loss(real, fake).item() == pytest.approx(
        (sp(-real).mean() + sp(fake).mean()).item())
    assert g_nonsaturating_loss(torch.zeros(4, 1)).item() == pytest.approx(math.log(2), abs=1e-6)


def test_r1_penalty_matches_analytic_gradient():
    x = torch.randn(3, 2, 4, 4, requires_grad=True)
    w = torch.randn(2, 4, 4)
    pred = (x * w).flatten(1).sum(1, keepdim=True)  # grad wrt x is w for every sample
    assert r1_penalty(pred, x).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-5)
