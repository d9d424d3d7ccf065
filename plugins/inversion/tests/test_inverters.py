"""Acceptance tests of the inverters on a tiny random StyleGAN2 (16 px, few steps)."""

from __future__ import annotations

import copy
import math

import pytest
import torch

import ganedit
from ganedit.interfaces import Encoder, Params
from ganedit.latent import Latent
from ganedit.metrics import psnr
from ganedit.testing import make_registry

from ganedit_inversion.errors import InversionError, TuningDiverged
from ganedit_inversion.generator_ops import edit_drift, locality_latents, locality_mae, with_noise
from ganedit_inversion.losses import noise_regularization
from ganedit_inversion.monitor import Monitor
from ganedit_inversion.optimization import learning_rate


def build_inverter(type_: str, **params):
    return ganedit.build("inverter", {"type": type_, "params": params})


def final_psnr(result, target) -> float:
    with torch.no_grad():
        return float(psnr(with_noise(result.generator, result.noise).generate(result.latent), target))


def test_projector_schedule_matches_nvidia():
    # warm-up from 0, flat peak, cosine ramp-down to 0 (NVIDIA projector formula)
    assert learning_rate(0, 1000, 0.1, 0.05, 0.25) == 0.0
    assert learning_rate(25, 1000, 0.1, 0.05, 0.25) == pytest.approx(0.05)
    assert learning_rate(500, 1000, 0.1, 0.05, 0.25) == pytest.approx(0.1)
    assert learning_rate(875, 1000, 0.1, 0.05, 0.25) == pytest.approx(0.05)


def test_noise_regularizer_penalises_correlated_noise():
    g = torch.Generator().manual_seed(0)
    white = [torch.randn(1, 1, 16, 16, generator=g)]
    smooth = [torch.nn.functional.interpolate(torch.randn(1, 1, 4, 4, generator=g), size=16, mode="bilinear")]
    smooth = [s / s.std() for s in smooth]
    assert noise_regularization(smooth) > 50 * noise_regularization(white)


@pytest.mark.parametrize("space", ["w", "w+"])
def test_optimization_lowers_error(generator, target, space):
    inv = build_inverter("optimization", space=space, steps=40, w_avg_samples=500, optimize_noise=False,
                         seed=0)
    result = inv.invert(generator, target)
    start = float(psnr(result.initial_images, target))
    end = final_psnr(result, target)
    assert end > start + 2.0, (start, end)
    assert result.latent.space == space
    assert result.generator is generator and not result.tuned
    if space == "w":
        assert torch.equal(result.latent.ws, result.latent.ws[:, :1].expand_as(result.latent.ws))
    assert len(result.history["loss"]) == 40


def test_optimization_noise_maps_are_returned_and_deterministic(generator, target):
    before = [b.clone() for b in generator.noise_buffers()]
    params = dict(space="w+", steps=20, w_avg_samples=500, optimize_noise=True, keep_noise=True, seed=3)
    a = build_inverter("optimization", **params).invert(generator, target)
    b = build_inverter("optimization", **params).invert(generator, target)
    # the maps are the image's own (result.noise); the generator itself is returned unchanged
    assert not a.tuned and a.generator is generator and len(a.noise) == len(before)
    assert all(torch.equal(x, y) for x, y in zip(before, generator.noise_buffers())), "original G modified"
    fitted = a.noise
    assert not torch.equal(fitted[-1], before[-1])
    # renormalised every step: zero mean, unit variance
    assert all(abs(float(n.mean())) < 1e-4 and abs(float(n.std(unbiased=False)) - 1) < 1e-3 for n in fitted)
    # the image's view renders const noise with them (a random-init G has zero noise strength: set one)
    strong = copy.deepcopy(generator)
    with torch.no_grad():
        for name, prm in strong.named_parameters():
            if name.endswith("noise.weight"):
                prm.fill_(0.5)
        view = with_noise(strong, a.noise)
        assert torch.equal(view.generate(a.latent), strong.synthesis(a.latent.ws, noise=a.noise))
        assert not torch.equal(view.generate(a.latent), strong.generate(a.latent))
        assert view.discriminator() is strong.discriminator() and view.num_ws == strong.num_ws
    assert torch.equal(a.latent.ws, b.latent.ws), "seeded runs must be deterministic"
    assert final_psnr(a, target) == final_psnr(b, target)


# ----------------------------------------------------------------------------- encoder


class RidgeEncoder(Encoder):
    """A real (linear) encoder fitted by ridge regression on samples of the tiny generator."""

    class Params(Params):
        pass

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor, num_ws: int):
        super().__init__()
        self.weight, self.bias, self.num_ws = weight, bias, num_ws

    @classmethod
    def output_space(cls, params=None) -> str:
        return "w"

    def encode(self, images: torch.Tensor) -> Latent:
        w = images.flatten(1) @ self.weight + self.bias
        return Latent.w(w[:, None].repeat(1, self.num_ws, 1))


def fit_ridge_encoder(generator, samples: int = 512, ridge: float = 1.0) -> RidgeEncoder:
    g = torch.Generator().manual_seed(11)
    with torch.no_grad():
        ws = generator.mapping(torch.randn(samples, generator.z_dim, generator=g), 1.0, None)
        x = generator.synthesis(ws).flatten(1)
    w = ws[:, 0]
    xm, wm = x.mean(0), w.mean(0)
    xc = x - xm
    weight = torch.linalg.solve(xc.T @ xc + ridge * torch.eye(x.shape[1]), xc.T @ (w - wm))
    return RidgeEncoder(weight, wm - xm @ weight, generator.num_ws)


class _EncoderPlugin:
    DIST = "test-encoders"
    __name__ = "test_encoders"

    def __init__(self, encoder):
        self.encoder = encoder

    @ganedit.hookimpl
    def register_components(self, register):
        enc = self.encoder

        class Fitted(RidgeEncoder, name="ridge"):
            @classmethod
            def from_params(cls, params, **_):
                return enc

        register(Fitted)


def test_encoder_inverter_one_pass(generator):
    import ganedit_inversion.plugin as inv_plugin
    import ganedit_stylegan2.plugin as sg2_plugin

    enc = fit_ridge_encoder(generator)
    reg = make_registry(sg2_plugin, inv_plugin, _EncoderPlugin(enc))
    inv = ganedit.build("inverter", {"type": "encoder", "params": {"encoder": {"type": "ridge"}}}, registry=reg)
    assert type(inv).output_space(inv.params) == "w"
    with torch.no_grad():
        truth = generator.sample_latent(4, generator=torch.Generator().manual_seed(5))
        images = generator.generate(truth)
        mean = generator.synthesis(generator.w_avg.reshape(1, 1, -1).expand(4, generator.num_ws, -1))
    result = inv.invert(generator, images)
    assert result.metrics["steps"] == 1 and result.latent.space == "w"
    with torch.no_grad():
        recon = generator.generate(result.latent)
    # the encoder's one pass reconstructs far better than the mean latent does
    assert float(psnr(recon, images).mean()) > float(psnr(mean, images).mean()) + 3.0


# ----------------------------------------------------------------------------- PTI


def test_pti_tunes_generator_and_keeps_original(generator, target, pivot_spec):
    state = {k: v.clone() for k, v in generator.state_dict().items()}
    inv = build_inverter("pti", initial=pivot_spec(15, "w"), steps=30, lr=3e-3, stop={"metric": "none"}, seed=0)
    result = inv.invert(generator, target)
    start, end = float(psnr(result.initial_images, target)), final_psnr(result, target)
    assert end > start + 2.0, (start, end)
    assert result.tuned and result.latent.space == "w" and result.metrics["steps"] == 30
    assert all(torch.equal(state[k], v) for k, v in generator.state_dict().items()), "original G modified"
    # only synthesis weights were tuned: the mapping network is unchanged
    tuned = result.generator.state_dict()
    assert all(torch.equal(tuned[k], state[k]) for k in state if k.startswith("net.style."))


def test_pti_locality_regularizer_reduces_drift(generator, target, pivot_spec):
    z = locality_latents(generator, 16, 0)
    common = dict(initial=pivot_spec(10, "w"), steps=25, lr=5e-3, stop={"metric": "none"}, seed=0)
    off = build_inverter("pti", **common).invert(generator, target)
    on = build_inverter("pti", locality={"enabled": True, "alpha": 3.0, "l2": 1.0, "samples": 2},
                        **common).invert(generator, target)
    assert locality_mae(generator, on.generator, z) < locality_mae(generator, off.generator, z)


# ----------------------------------------------------------------------------- Near-Perfect


def np_params(pivot_spec, **extra):
    # every term on every step, weights tuned only (no noise maps): the plain method on a tiny G
    params = dict(initial=pivot_spec(15), steps=40, lr=5e-3, seed=0, stop={"metric": "none"},
                  global_adversarial=0.1, adversarial_every=1, global_every=1, tune_noise=False)
    params.update(extra)
    return params


def test_near_perfect_reaches_threshold_and_stops_early(generator, discriminator, target, pivot_spec):
    inv = build_inverter("near_perfect", **np_params(pivot_spec, steps=300,
                                                      stop={"metric": "psnr", "threshold": 20.0}))
    result = inv.invert(generator, target, discriminator=discriminator)
    start, end = float(psnr(result.initial_images, target)), final_psnr(result, target)
    assert start < 20.0 <= end, (start, end)
    assert result.metrics["stopped_early"] and result.metrics["steps"] < 300
    # it stopped at the first step meeting epsilon: the previous step was still below it
    assert result.history["psnr"][-2] < 20.0 <= result.history["psnr"][-1]


def test_near_perfect_mae_epsilon(generator, discriminator, target, pivot_spec):
    inv = build_inverter("near_perfect", **np_params(pivot_spec, steps=200, global_weight=0.0,
                                                      stop={"metric": "mae", "threshold": 0.1}))
    result = inv.invert(generator, target, discriminator=discriminator)
    with torch.no_grad():
        err = float((result.generator.generate(result.latent) - target).abs().mean())
    assert result.metrics["stopped_early"] and err <= 0.1


def test_near_perfect_global_term_keeps_manifold(generator, discriminator, target, pivot_spec):
    z = locality_latents(generator, 16, 0)
    common = dict(lr=5e-3, global_batch=8)
    with_global = build_inverter("near_perfect", **np_params(pivot_spec, global_weight=1.0, **common))
    without = build_inverter("near_perfect", **np_params(pivot_spec, global_weight=0.0, **common))
    a = with_global.invert(generator, target, discriminator=discriminator)
    b = without.invert(generator, target, discriminator=discriminator)
    loc_a, loc_b = locality_mae(generator, a.generator, z), locality_mae(generator, b.generator, z)
    assert loc_a < 0.8 * loc_b, (loc_a, loc_b)
    # both still reconstruct the target far better than the pivot
    assert final_psnr(a, target) > float(psnr(a.initial_images, target)) + 3


def test_near_perfect_is_deterministic_and_updates_only_its_discriminator(generator, discriminator, target,
                                                                          pivot_spec):
    d_state = {k: v.clone() for k, v in discriminator.state_dict().items()}
    runs = [build_inverter("near_perfect", **np_params(pivot_spec, steps=6)).invert(
        generator, target, discriminator=discriminator) for _ in range(2)]
    assert torch.equal(runs[0].generator.generate(runs[0].latent), runs[1].generator.generate(runs[1].latent))
    assert all(torch.equal(d_state[k], v) for k, v in discriminator.state_dict().items())


@pytest.mark.parametrize("update", [True, False])
def test_internal_discriminator_is_trained_only_with_update_discriminator(generator, discriminator, target,
                                                                          pivot_spec, update):
    """The tweak's own copy of D moves when update_discriminator is on and stays put when it is off;
    the discriminator passed in never changes."""
    given = {k: v.clone() for k, v in discriminator.state_dict().items()}
    seen = {}

    def grab(method, step, state):
        if method == "near_perfect":
            seen["D"] = state["D"]

    inv = build_inverter("near_perfect", **np_params(pivot_spec, steps=5, update_discriminator=update))
    inv.invert(generator, target, discriminator=discriminator, callback=Monitor(check=grab))
    internal = seen["D"].state_dict()
    assert seen["D"] is not discriminator
    change = max(float((internal[k] - given[k]).abs().max()) for k in given if given[k].is_floating_point())
    if update:
        assert change > 1e-4, change  # 5 Adam steps at lr 2e-4 move every weight by ~1e-3
    else:
        assert change == 0.0
    assert all(torch.equal(given[k], v) for k, v in discriminator.state_dict().items())


def test_local_probability_is_a_seeded_bernoulli_gate(generator, discriminator, target, pivot_spec):
    """L = 1_p[L_local] + L_global: with p = 0.5 about half the steps carry L_local, the same ones on a
    rerun; the others are L_global only (the reconstruction term is absent from their scalars)."""
    def gates(p):
        logged = []
        inv = build_inverter("near_perfect", **np_params(pivot_spec, steps=40, local_probability=p))
        inv.invert(generator, target, discriminator=discriminator,
                   callback=lambda step, sc: "local" in sc and logged.append((sc["local"], "reconstruction" in sc)))
        assert all(bool(on) == has_rec for on, has_rec in logged)
        return [on for on, _ in logged]

    half = gates(0.5)
    assert 12 <= sum(half) <= 28 and half == gates(0.5)
    assert sum(gates(1.0)) == 40


def test_edit_consistency_keeps_the_edits_of_the_original(generator, discriminator, target, pivot_spec):
    """The edit-consistency term (ours) lowers edit_drift on edits it did not draw: style mixing with
    fixed samples (measured 0.55 -> 0.30) and random directions (0.37 -> 0.30), at some PSNR cost."""
    g = torch.Generator().manual_seed(7)
    directions = torch.randn(4, 1, 1, generator.w_dim, generator=g)
    with torch.no_grad():
        sources = generator.mapping(torch.randn(4, generator.z_dim, generator=g))
    common = np_params(pivot_spec, steps=60, global_weight=0.0, adversarial_weight=0.0, edit_every=1)
    drift = {}
    for weight in (0.0, 0.5):
        result = build_inverter("near_perfect", edit_weight=weight, **common).invert(
            generator, target, discriminator=discriminator)
        ws = result.latent.ws
        mixed = [torch.cat([ws[:, :3], sources[i:i + 1, 3:]], 1) for i in range(4)]
        drift[weight] = {"mix": sum(edit_drift(generator, result.generator, ws, e) for e in mixed) / 4,
                         "direction": sum(edit_drift(generator, result.generator, ws, ws + 2 * d)
                                          for d in directions) / 4}
        assert final_psnr(result, target) > float(psnr(result.initial_images, target)) + 8
    assert drift[0.5]["mix"] < 0.7 * drift[0.0]["mix"], drift
    assert drift[0.5]["direction"] < 0.9 * drift[0.0]["direction"], drift


def test_near_perfect_without_discriminator_names_what_is_missing(generator, target, pivot_spec):
    assert generator.discriminator() is None  # random init: no checkpoint, no D
    inv = build_inverter("near_perfect", **np_params(pivot_spec))
    with pytest.raises(InversionError, match="needs a discriminator.*has none.*discriminator weights"):
        inv.invert(generator, target)
    # with both adversarial weights at 0 it needs none
    inv = build_inverter("near_perfect", **np_params(pivot_spec, steps=2, adversarial_weight=0.0,
                                                      global_adversarial=0.0))
    assert inv.invert(generator, target).metrics["steps"] == 2


def test_nan_during_tuning_stops_with_clear_error(generator, discriminator, target, pivot_spec):
    def poison(method, step, state):
        if method == "near_perfect" and step == 2:
            with torch.no_grad():
                list(state["generator"].parameters())[-1].fill_(math.nan)  # a synthesis weight

    inv = build_inverter("near_perfect", **np_params(pivot_spec, steps=10))
    with pytest.raises(TuningDiverged, match="NaN/inf at step 3"):
        inv.invert(generator, target, discriminator=discriminator, callback=Monitor(check=poison))


def test_target_of_other_size_is_resampled(generator, pivot_spec):
    inv = build_inverter("optimization", steps=5, w_avg_samples=500, optimize_noise=False, seed=0)
    wide = torch.rand(1, 3, 24, 32) * 2 - 1
    result = inv.invert(generator, wide)
    assert result.initial_images.shape[-2:] == (16, 16)
    with pytest.raises(InversionError, match="NaN"):
        inv.invert(generator, torch.full((1, 3, 16, 16), math.nan))
    with pytest.raises(InversionError, match=r"\[B, 3, H, W\]"):
        inv.invert(generator, torch.zeros(1, 4, 16, 16))


def test_locality_measures_the_network_not_the_constant_noise(generator):
    z = locality_latents(generator, 8, 0)
    base = copy.deepcopy(generator)
    with torch.no_grad():
        for name, prm in base.named_parameters():
            if name.endswith("noise.weight"):  # random init has zero noise strength
                prm.fill_(0.5)
    noisy = copy.deepcopy(base)
    for buf in noisy.noise_buffers():
        buf.add_(1.0)
    assert locality_mae(base, noisy, z) == 0.0  # per-sample seeded noise: buffers unused
    assert locality_mae(base, noisy, z, noise="const") > 0.01
    tweaked = copy.deepcopy(base)
    with torch.no_grad():
        rgb_bias = [p for n, p in tweaked.named_parameters() if p.shape == (1, 3, 1, 1)][-1]
        rgb_bias.add_(0.1)  # last ToRGB bias: shifts every image by 0.1
    assert locality_mae(base, tweaked, z) == pytest.approx(0.1, abs=1e-5)


def test_edit_drift_measures_how_a_tweak_changes_an_edit(generator):
    base = copy.deepcopy(generator)
    with torch.no_grad():
        for name, prm in base.named_parameters():
            if name.endswith("noise.weight"):
                prm.fill_(0.5)
        ws = base.mapping(torch.randn(1, base.z_dim, generator=torch.Generator().manual_seed(3)))
        edited = ws + 0.5 * torch.randn(ws.shape, generator=torch.Generator().manual_seed(4))
    assert edit_drift(base, base, ws, edited) == 0.0
    assert edit_drift(base, base, ws, ws) is None  # no effect to compare
    shifted = copy.deepcopy(base)
    with torch.no_grad():
        rgb_bias = [p for n, p in shifted.named_parameters() if p.shape == (1, 3, 1, 1)][-1]
        rgb_bias.add_(0.3)  # moves every image by the same amount: the edit's effect is unchanged
    assert edit_drift(base, shifted, ws, edited) < 1e-5
    broken = copy.deepcopy(base)
    with torch.no_grad():
        conv = [p for n, p in broken.named_parameters() if n.endswith("conv.weight")][-1]
        conv.mul_(-1.0)  # the last 3x3 conv inverted: the edit now does something else
    drift = edit_drift(base, broken, ws, edited)
    assert drift > 0.2, drift
    # both render the same noise: the image's maps when given (a noise realisation alone is not drift;
    # this generator's edits do change with it), else the constant buffers, which a tweak leaves alone
    maps = [3 * torch.randn(b.shape, generator=torch.Generator().manual_seed(i))
            for i, b in enumerate(base.noise_buffers())]
    assert edit_drift(base, base, ws, edited, maps) == 0.0
    assert edit_drift(base, broken, ws, edited, maps) > 0.2
    louder = copy.deepcopy(base)  # a tweak of the noise strengths changes what the maps do to the edit
    with torch.no_grad():
        for name, prm in louder.named_parameters():
            if name.endswith("noise.weight"):
                prm.mul_(4.0)
    assert edit_drift(base, louder, ws, edited, maps) > 0.05
    assert edit_drift(base, louder, ws, edited, [torch.zeros_like(m) for m in maps]) < 1e-6


def test_near_perfect_tune_noise_fits_faster(generator, discriminator, target, pivot_spec):
    common = np_params(pivot_spec, steps=25, global_weight=0.0, adversarial_weight=0.0)
    common.pop("tune_noise")
    plain = build_inverter("near_perfect", tune_noise=False, **common).invert(generator, target)
    noisy = build_inverter("near_perfect", tune_noise=True, noise_lr=0.1, noise_layers=None,
                           **common).invert(generator, target)
    assert final_psnr(noisy, target) > final_psnr(plain, target)
    # the tuned maps are the image's own: every map moved, the tuned generator's buffers did not
    changed = [not torch.equal(a, b) for a, b in zip(noisy.noise, generator.noise_buffers())]
    assert all(changed) and not any(n.requires_grad for n in noisy.noise)
    assert all(torch.equal(a, b) for a, b in zip(noisy.generator.noise_buffers(), generator.noise_buffers()))
    assert plain.noise is None
    # noise_layers: only the finest maps are fitted, the others stay the generator's
    fine = build_inverter("near_perfect", tune_noise=True, noise_lr=0.1, noise_layers=2,
                          **common).invert(generator, target)
    changed = [not torch.equal(a, b) for a, b in zip(fine.noise, generator.noise_buffers())]
    assert changed == [False] * (len(changed) - 2) + [True, True]


def test_edit_codes_draw_edits_of_each_kind(generator, discriminator, target, pivot_spec):
    """`direction` / `principal` edits (ours) move the pivot along one W direction by at most
    edit_strength std of mapped w along it, on every layer or on one run of layers; `mix` takes a random
    sample's codes on a prefix or a suffix of the layers."""
    from ganedit_inversion.common import make_rng
    from ganedit_inversion.generator_ops import frozen_copy, w_principal_axes

    inv = build_inverter("near_perfect", **np_params(pivot_spec, edit_weight=0.3, edit_codes=["direction", "principal", "mix"],
                                                      edit_batch=30, edit_strength=2.0, edit_principal=3))
    with torch.no_grad():
        pivot = generator.mapping(torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(1)))
    state = inv.setup(generator, frozen_copy(generator), target, pivot, make_rng(0), discriminator)
    codes = inv._edited_codes(state, pivot)
    axes, stds = w_principal_axes(generator, pivot)
    n = generator.num_ws
    for i in range(30):
        delta = codes[i] - pivot[0]
        moved = [j for j in range(n) if float(delta[j].abs().max()) > 0]
        assert moved and moved == list(range(moved[0], moved[-1] + 1)), moved  # one run of layers
        kind = ["direction", "principal", "mix"][i % 3]
        if kind == "mix":
            assert moved[0] == 0 or moved[-1] == n - 1, moved
            continue
        move = delta[moved[0]]
        assert all(torch.allclose(delta[j], move) for j in moved)
        d = move / move.norm()
        std = float((axes.T @ d).pow(2).mul(stds.pow(2)).sum().sqrt())
        assert float(move.norm()) <= 2.0 * std * (1 + 1e-4)
        if kind == "principal":  # one of the 3 top axes
            assert max(abs(float(d @ axes[:, k])) for k in range(3)) > 1 - 1e-4


def test_adversarial_every_schedules_the_gan_parts_and_d_updates(generator, discriminator, target, pivot_spec):
    """With L_global on every step and adversarial_every 2, the anchor applies on every step, the GAN
    parts (local and global) and the discriminator update on every 2nd."""
    logged = {}
    inv = build_inverter("near_perfect", **np_params(pivot_spec, steps=6, adversarial_every=2))
    inv.invert(generator, target, discriminator=discriminator,
               callback=lambda step, sc: "local" in sc and logged.setdefault(step, set(sc)))
    assert sorted(logged) == list(range(6))
    for step, keys in logged.items():
        assert "global_anchor" in keys
        on = step % 2 == 0
        assert on == ("global_gan" in keys) == ("adv_local" in keys) == ("d_loss" in keys), (step, keys)


def test_tune_fine_finds_the_layers_of_the_two_finest_resolutions(generator):
    """``tune: fine`` places every synthesis parameter by the output size of its layer (forward hooks):
    in a 16 px StyleGAN2 everything but the 4 px layers; in the bundled 64 px model exactly
    the layers near_inversion.yaml listed by name before (net.convs.4-7, net.to_rgbs.2-3); in
    StyleALAE the two finest blocks and the to_rgb the synthesis uses (the const input and the unused
    coarser to_rgbs are placed nowhere)."""
    from pathlib import Path

    from ganedit_inversion.generator_ops import parameter_resolutions, parameters_at, select_parameters

    synthesis = {n for n, _ in select_parameters(generator, "synthesis")}
    res = parameter_resolutions(generator)
    assert set(res) == synthesis and set(res.values()) == {4, 8, 16}
    fine = {n for n, _ in select_parameters(generator, "fine")}
    coarse = ("net.input.", "net.conv1.", "net.to_rgb1.")  # the 4 px layers
    assert fine == {n for n in synthesis if not n.startswith(coarse)} and all(res[n] == 4 for n in synthesis - fine)
    assert {n for n, _ in parameters_at(generator, {4, 8, 16})} == synthesis
    with pytest.raises(InversionError, match=r"renders at \[2\] px \(layers seen at \[4, 8, 16\] px"):
        parameters_at(generator, {2})
    with pytest.raises(InversionError, match="tune='auto' depends on the noise maps"):
        select_parameters(generator, "auto")
    root = Path(__file__).resolve().parents[3] / "assets" / "models"
    bundled = ganedit.build("generator", {"type": "stylegan2", "params": {
        "checkpoint": str(root / "stylegan2_64_smooth.safetensors")}})
    assert [n for n, _ in select_parameters(bundled, "fine")] == [n for n, _ in select_parameters(
        bundled, ["net.convs.4", "net.convs.5", "net.convs.6", "net.convs.7", "net.to_rgbs.2", "net.to_rgbs.3"])]
    alae = ganedit.build("generator", {"type": "stylealae", "params": {
        "checkpoint": str(root / "stylealae_32.safetensors")}})
    layers = {n.split(".")[1] + "." + n.split(".")[2] for n, _ in select_parameters(alae, "fine")}
    assert layers == {"decode_block.2", "decode_block.3", "to_rgb.3"}
    assert "decoder.const" not in parameter_resolutions(alae)


def test_near_perfect_auto_tunes_the_layers_of_its_noise_maps(generator, target, pivot_spec):
    """near_perfect's default ``tune: auto``: with the 2 finest noise maps fitted (16 px here), only the
    16 px layers move; with every map, every synthesis layer; with none, every synthesis layer too."""
    def moved(**extra) -> set[str]:
        params = np_params(pivot_spec, steps=3, global_weight=0.0, adversarial_weight=0.0)
        params.update(extra)
        tuned = build_inverter("near_perfect", **params).invert(generator, target).generator
        before = dict(generator.named_parameters())
        return {n for n, p in tuned.named_parameters() if not torch.equal(p, before[n])}

    from ganedit_inversion.generator_ops import parameters_at, select_parameters

    synthesis = {n for n, _ in select_parameters(generator, "synthesis")}
    assert moved(tune_noise=True, noise_layers=2) == {n for n, _ in parameters_at(generator, {16})}
    assert moved(tune_noise=True, noise_layers=None) == synthesis
    assert moved(tune_noise=False) == synthesis
