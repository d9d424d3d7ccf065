"""Parity with the official Swapping Autoencoder code (fixture: official 64 px checkpoint + cases).

Every case of ``cases.pt`` must match to max abs error <= 1e-4 (observed ~3e-6); the README of the
fixture lists what each case is and how it was made.
"""

from __future__ import annotations

import pytest
import torch

import ganedit
from ganedit_swapae.crops import crops_from_params, draw_crop_params, random_crops
from ganedit_swapae.texture import lerp

TOL = 1e-4


def close(out: torch.Tensor, ref: torch.Tensor, tol: float = TOL) -> float:
    assert out.shape == ref.shape
    err = (out - ref).abs().max().item()
    assert err <= tol, f"max abs error {err:.3e} > {tol}"
    return err


def test_architecture_from_checkpoint_and_opt(official):
    E, G, D, P = official.encoder, official.generator, official.discriminator, official.patch_discriminator
    assert E.arch.channels == [8, 16, 32, 64, 64, 64]
    assert G.arch.head_channels == [32, 64] and G.arch.up_channels == [64, 32, 16]
    assert G.img_resolution == 64 and G.noise_layers()[0] == "HeadResnetBlock0.conv1"
    assert D.arch.channels == {"64": 16, "32": 32, "16": 32, "8": 48, "4": 24}
    assert P.arch.pair_channels == [64, 48, 32] and P.sampling.num_crops == 2
    counts = [sum(p.numel() for p in m.parameters()) for m in (E, G, D, P)]
    assert counts == [121872, 209093, 98513, 137561]  # options.json param_counts


def test_encoder_codes(official, cases):
    with torch.no_grad():
        for x, sp, gl in (("x1", "sp1", "gl1"), ("x2", "sp2", "gl2"), ("ns_x", "ns_sp", "ns_gl")):
            latent = official.encoder.encode(cases[x])
            assert latent.space == "structure_texture"
            close(latent.structure, cases[sp])
            close(latent.texture, cases[gl])


@pytest.mark.parametrize("name", ["rec", "swap", "interp", "interp_a025", "rec_zero_noise", "ns_rec"])
def test_generator_outputs(official, cases, name):
    G = official.generator
    sp1, gl1, gl2 = cases["sp1"], cases["gl1"], cases["gl2"]
    inputs = {
        "rec": (sp1, gl1, "const"),
        "swap": (sp1, gl2, "const"),
        "interp": (sp1, lerp(gl1, gl2, 0.5), "const"),
        "interp_a025": (sp1[:2], lerp(gl1[:2], gl2[:2], 0.25), "const"),
        "rec_zero_noise": (sp1, gl1, "none"),
        "ns_rec": (cases["ns_sp"], cases["ns_gl"], "const"),  # fixed noise resized (nearest) to 8x12
    }
    sp, gl, mode = inputs[name]
    with torch.no_grad():
        out = G.generate(ganedit.Latent.structure_texture(sp, gl), noise_mode=mode)
    close(out, cases[name])


def test_spatial_texture_map(official, cases):
    G = official.generator
    sp1, gl1 = cases["sp1"], cases["gl1"]
    with torch.no_grad():
        close(G(sp1[:1], cases["gl_map"]), cases["spatial_mix"])
        close(G(sp1[:1], gl1[:1, :, None, None].expand(1, -1, 16, 16)), cases["spatial_const"])


def test_spatial_texture_map_batched(official, cases):
    """The official code breaks for batch > 1; here every sample of a batched call equals its own
    batch-1 call, and spatially constant maps equal the global codes."""
    G = official.generator
    sp1, gl1, gl2, mask = cases["sp1"], cases["gl1"], cases["gl2"], cases["spatial_mask"]
    maps = gl1[:, :, None, None] * (1 - mask) + gl2[:, :, None, None] * mask  # [4, 64, 16, 16]
    with torch.no_grad():
        batched = G(sp1, maps)
        close(batched[:1], cases["spatial_mix"])
        for i in range(4):
            close(batched[i:i + 1], G(sp1[i:i + 1], maps[i:i + 1]), 1e-5)
        const = G(sp1, gl1[:, :, None, None].expand(-1, -1, 16, 16))
        close(const, G(sp1, gl1), 1e-5)
        close(const, cases["rec"])
    # Not trivially equal: the mixed map differs from both global codes where the mask is set.
    assert (batched[:, :, :, 40:] - cases["rec"][:, :, :, 40:]).abs().mean() > 0.05


def test_image_discriminator(official, cases):
    with torch.no_grad():
        close(official.discriminator(cases["x1"]), cases["d_x1"])
        close(official.discriminator(cases["swap"]), cases["d_swap"])


def test_patch_discriminator(official, cases):
    P = official.patch_discriminator
    with torch.no_grad():
        close(P.extract_features(cases["patch_real_crops"]), cases["patch_real_feat"])
        close(P.extract_features(cases["patch_real_crops"], aggregate=True), cases["patch_real_feat_agg"])
        close(P.extract_features(cases["patch_mix_crops"]), cases["patch_mix_feat"])
        close(P.discriminate_features(cases["patch_real_feat_agg"], cases["patch_mix_feat"]), cases["patch_pred_mix"])
        close(P.discriminate_features(cases["patch_real_feat"], cases["patch_mix_feat"]),
              cases["patch_pred_mix_noagg"])
        # forward(reference, query) = aggregated reference features against query features
        close(P(cases["patch_real_crops"][:1], cases["patch_mix_crops"][:1]), cases["patch_pred_mix"][:2])


@pytest.mark.parametrize("which,seed,source", [("real", 20240605, "x1"), ("mix", 20240607, "swap")])
def test_patch_crops_reproduce_official_sampler(cases, which, seed, source):
    g = torch.Generator().manual_seed(seed)
    flip, scale, offset = draw_crop_params(2, 2, (1 / 8, 1 / 4), g)
    assert torch.equal(flip, cases[f"patch_{which}_flip"])
    close(scale, cases[f"patch_{which}_scale"], 0)
    close(offset, cases[f"patch_{which}_offset"], 0)
    crops = random_crops(cases[source][:2], 128, (1 / 8, 1 / 4), 2, torch.Generator().manual_seed(seed))
    close(crops, cases[f"patch_{which}_crops"], 1e-6)
    close(crops_from_params(cases[source][:2], 128, flip, scale, offset), cases[f"patch_{which}_crops"], 1e-6)


def test_build_through_registry(official_ckpt, cases, fixed_noise):
    spec = {"type": "swapae", "params": {"checkpoint": str(official_ckpt)}}
    E = ganedit.build("encoder", spec)
    G = ganedit.build("generator", spec)
    D = ganedit.build("discriminator", spec)
    P = ganedit.build("discriminator", {"type": "swapae_patch", "params": {"checkpoint": str(official_ckpt)}})
    assert G.latent_spaces() == ("structure_texture",) and E.output_space() == "structure_texture"
    G.set_fixed_noise(fixed_noise)
    with torch.no_grad():
        close(G.generate(E.encode(cases["x1"])), cases["rec"])
        close(D(cases["x1"]), cases["d_x1"])
        close(P.discriminate_features(cases["patch_real_feat_agg"], cases["patch_mix_feat"]), cases["patch_pred_mix"])
