"""The three StyleALAE step losses: values, which networks receive gradients, and that they optimise."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ganedit_stylealae.losses import (
    encoder_discriminator_loss,
    fade_in_reals,
    frozen,
    generate,
    generator_loss,
    reciprocity_loss,
    sample_z,
)
from ganedit_stylealae.model import ALAEModel


@pytest.fixture()
def model(tiny_arch, perturb) -> ALAEModel:
    return perturb(ALAEModel.random(tiny_arch(8, latent_size=8, start_channels=4, max_channels=8), seed=0)).train()


def _grads(model: ALAEModel) -> dict[str, bool]:
    return {part: any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, part).parameters())
            for part in model.parts}


def _rng(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_encoder_discriminator_step(model):
    reals = torch.rand(3, 3, 8, 8, generator=_rng(1)) * 2 - 1
    z = sample_z(model, 3, _rng(2))
    loss, logs = encoder_discriminator_loss(model, reals, z, rng=_rng(3))
    # Recompute by hand with the same fakes (same rng draws).
    with torch.no_grad():
        _, fakes = generate(model, z, mixing_prob=0.9, rng=_rng(3))
    x = reals.clone().requires_grad_(True)
    d_real = model.mapping_d(model.encoder(x))
    (grad,) = torch.autograd.grad(d_real.sum(), x)
    d_fake = model.mapping_d(model.encoder(fakes))
    expected = (F.softplus(d_fake) + F.softplus(-d_real)).mean() + 5.0 * grad.pow(2).sum((1, 2, 3)).mean()
    assert torch.allclose(loss, expected, rtol=1e-5, atol=1e-6)
    assert logs["r1"] > 0
    model.zero_grad()
    loss.backward()
    assert _grads(model) == {"mapping_f": False, "decoder": False, "encoder": True, "mapping_d": True}


def test_generator_step_freezes_e_and_d(model):
    z = sample_z(model, 3, _rng(2))
    loss, _ = generator_loss(model, z, mixing_prob=None, rng=_rng(5))
    with torch.no_grad():
        _, fakes = generate(model, z, rng=_rng(5))
        expected = F.softplus(-model.mapping_d(model.encoder(fakes))).mean()
    assert torch.allclose(loss, expected, atol=1e-6)
    model.zero_grad()
    loss.backward()
    assert _grads(model) == {"mapping_f": True, "decoder": True, "encoder": False, "mapping_d": False}
    assert all(p.requires_grad for p in model.parameters())  # frozen() restored the flags


@pytest.mark.parametrize("update_mapping", [True, False])
def test_reciprocity_step(model, update_mapping):
    z = sample_z(model, 3, _rng(2))
    loss, _ = reciprocity_loss(model, z, update_mapping=update_mapping, rng=_rng(6))
    with torch.no_grad():
        w, images = generate(model, z, rng=_rng(6))
        expected = (model.encoder(images) - w).pow(2).mean()
    assert torch.allclose(loss, expected, atol=1e-6)
    model.zero_grad()
    loss.backward()
    grads = _grads(model)
    assert grads["encoder"] and grads["decoder"] and not grads["mapping_d"]
    assert grads["mapping_f"] is update_mapping  # the official code also updates F in step 3


def test_style_mixing_regularisation(model):
    z = sample_z(model, 2, _rng(0))
    w, _ = generate(model, z, mixing_prob=0.0, rng=_rng(1))
    # With probability 1 the styles after the cutoff come from a second w: images differ from unmixed.
    _, mixed = generate(model, z, mixing_prob=1.0, noise_mode="const", rng=_rng(1))
    _, plain = generate(model, z, mixing_prob=None, noise_mode="const")
    assert w.shape == (2, 8) and (mixed - plain).abs().max() > 1e-4


def test_frozen_context():
    lin = torch.nn.Linear(2, 2)
    with frozen(lin):
        assert not any(p.requires_grad for p in lin.parameters())
    assert all(p.requires_grad for p in lin.parameters())


def test_losses_decrease_with_adam(model):
    """A few optimiser steps on each objective (others fixed) lower it on a fixed batch."""
    reals = torch.rand(4, 3, 8, 8, generator=_rng(1)) * 2 - 1
    z = sample_z(model, 4, _rng(2))
    opt_kw = dict(lr=2e-3, betas=(0.0, 0.99), eps=1e-8)  # official Adam settings (beta1 = 0)
    ed = torch.optim.Adam([*model.encoder.parameters(), *model.mapping_d.parameters()], **opt_kw)
    fg = torch.optim.Adam([*model.decoder.parameters(), *model.mapping_f.parameters()], **opt_kw)
    eg = [ed, fg]

    def run(step_fn, opts, steps=5):
        values = []
        for _ in range(steps):
            loss, _ = step_fn()
            for o in opts:
                o.zero_grad()
            loss.backward()
            for o in opts:
                o.step()
            values.append(float(loss.detach()))
        return values

    d_vals = run(lambda: encoder_discriminator_loss(model, reals, z, mixing_prob=None, noise_mode="const"), [ed])
    assert d_vals[-1] < d_vals[0]
    g_vals = run(lambda: generator_loss(model, z, mixing_prob=None, noise_mode="const"), [fg])
    assert g_vals[-1] < g_vals[0]
    r_vals = run(lambda: reciprocity_loss(model, z, noise_mode="const"), eg, steps=10)
    assert r_vals[-1] < 0.85 * r_vals[0]


def test_fade_in_reals():
    x = torch.rand(1, 3, 4, 4, generator=_rng(0))
    assert torch.equal(fade_in_reals(x, 1.0), x)
    coarse = F.avg_pool2d(x, 2).repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.allclose(fade_in_reals(x, 0.25), 0.25 * x + 0.75 * coarse)
