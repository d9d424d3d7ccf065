"""Parity with the official e4e, pSp and ReStyle forward passes on the shared fixture (README there).

Tolerances: codes / latents 1e-5, images 1e-4 (the fixture's suggestion; faithful CPU float32
variants land within 1e-5 on codes, every injected mistake is >= 0.18 off).
"""

from __future__ import annotations

import pytest
import torch

import ganedit
from ganedit.latent import Latent

CODE_TOL = 1e-5
IMG_TOL = 1e-4


def max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (tuple(a.shape), tuple(b.shape))
    return (a.float() - b.float()).abs().max().item()


def build(kind: str, typ: str, path, **params):
    return ganedit.build(kind, {"type": typ, "params": {"checkpoint": str(path), **params}}).eval()


@pytest.mark.parametrize("name", ["e4e", "psp"])
@torch.no_grad()
def test_e4e_psp_codes_and_images(name, e4e_psp_dir, load_cases, families, official_input):
    cases = load_cases(name)
    ckpt = e4e_psp_dir / name / "checkpoint.pt"
    E = build("encoder", families[name], ckpt)
    x = official_input(cases)
    assert x.double().sum().item() == pytest.approx(cases["x_sum"].item(), abs=1e-9)
    assert max_err(E.net(x), cases["codes_raw"]) <= CODE_TOL
    assert torch.equal(E.latent_avg, cases["latent_avg"])
    latent = E.encode(x)
    assert latent.space == "w+"
    assert max_err(latent.ws, cases["codes"]) <= CODE_TOL
    # The decoder in the same file is a stylegan2 generator; decoding the codes gives the images.
    G = build("generator", "stylegan2", ckpt)
    assert (G.num_ws, G.w_dim, G.img_resolution) == (10, 24, 64)
    assert max_err(G.generate(latent), cases["images"]) <= IMG_TOL


@torch.no_grad()
def test_restyle_iterations(e4e_psp_dir, load_cases, official_input):
    cases = load_cases("restyle_psp")
    ckpt = e4e_psp_dir / "restyle_psp" / "checkpoint.pt"
    E = build("encoder", "restyle", ckpt, iterations=3)
    x = official_input(cases)
    assert max_err(E.avg_image, cases["avg_image"]) <= IMG_TOL
    raw = []
    hook = E.net.register_forward_hook(lambda m, i, o: raw.append(o))
    try:
        steps = E.refine(x)
    finally:
        hook.remove()
    assert len(steps) == 3
    for k, (ws, image) in enumerate(steps):
        assert max_err(raw[k], cases["codes_raw_iters"][k]) <= CODE_TOL, k
        assert max_err(ws, cases["latents_iters"][k]) <= CODE_TOL, k
        assert max_err(image, cases["images_iters"][k]) <= IMG_TOL, k
    assert max_err(E.encode(x).ws, cases["latents_iters"][-1]) <= CODE_TOL
    G = build("generator", "stylegan2", ckpt)
    assert max_err(G.generate(Latent.wplus(steps[-1][0])), cases["images_iters"][-1]) <= IMG_TOL


@torch.no_grad()
def test_restyle_iterations_default_from_checkpoint(e4e_psp_dir, load_cases, official_input):
    """Without `iterations`, the count is the checkpoint's opts.n_iters_per_batch (5 here), and the
    first three iterations are the official ones."""
    cases = load_cases("restyle_psp")
    E = build("encoder", "restyle", e4e_psp_dir / "restyle_psp" / "checkpoint.pt")
    assert E.iterations == 5
    steps = E.refine(official_input(cases)[:1])  # one image keeps it fast
    assert len(steps) == 5
    assert max_err(steps[2][0], cases["latents_iters"][2][:1]) <= CODE_TOL
    assert max_err(steps[4][0], cases["latents_iters"][2][:1]) > 1e-3  # it kept refining


def restyle_e4e_file(e4e_psp_dir, tmp_path):
    """The ReStyle-pSp fixture re-labelled as ReStyle-e4e (ProgressiveBackboneEncoder has exactly
    BackboneEncoder's modules) in the ReStyle-e4e training layout: + global_step, optimizer (a
    Ranger-like state dict), best_val_loss, discriminator_state_dict."""
    obj = torch.load(e4e_psp_dir / "restyle_psp" / "checkpoint.pt", map_location="cpu", weights_only=True)
    obj["opts"] = dict(obj["opts"], encoder_type="ProgressiveBackboneEncoder", w_discriminator_lambda=0.1)
    obj["global_step"] = 120000
    obj["best_val_loss"] = 0.0421
    obj["optimizer"] = {"state": {0: {"step": 3, "exp_avg": torch.zeros(4), "exp_avg_sq": torch.ones(4)}},
                        "param_groups": [{"lr": 1e-4, "betas": (0.95, 0.999), "eps": 1e-5, "k": 6,
                                          "alpha": 0.5, "params": [0]}]}
    obj["discriminator_state_dict"] = {"linear.weight": torch.zeros(1, 24)}
    path = tmp_path / "restyle_e4e.pt"
    torch.save(obj, path)
    return path


@torch.no_grad()
def test_restyle_over_e4e_backbone(e4e_psp_dir, load_cases, official_input, tmp_path):
    """e4e parameterisation over the same weights: style 0 is w0 on every style, style i is w0 +
    delta_i; at iteration 0 both read cat(x, avg_image), so the official ReStyle-pSp raw outputs
    give the expected ReStyle-e4e codes."""
    cases = load_cases("restyle_psp")
    E = build("encoder", "restyle", restyle_e4e_file(e4e_psp_dir, tmp_path), iterations=2)
    assert E.encoder_type == "ProgressiveBackboneEncoder"
    assert {"global_step", "optimizer", "best_val_loss", "discriminator_state_dict"} <= set(E.metadata["ignored_keys"])
    raw = cases["codes_raw_iters"][0][:1]
    expected = torch.cat([raw[:, :1], raw[:, :1] + raw[:, 1:]], 1) + cases["latent_avg"]
    steps = E.refine(official_input(cases)[:1])
    assert max_err(steps[0][0], expected) <= CODE_TOL
    assert len(steps) == 2 and max_err(steps[1][0], steps[0][0]) > 1e-3


@torch.no_grad()
def test_decoder_converts_to_native(e4e_psp_dir, load_cases, tmp_path):
    """`ganedit convert` of an encoder file writes its decoder as a native StyleGAN2 checkpoint."""
    from ganedit.cli import main

    cases = load_cases("e4e")
    src = e4e_psp_dir / "e4e" / "checkpoint.pt"
    assert main(["convert", str(src), str(tmp_path / "dec.safetensors")]) == 0
    G = build("generator", "stylegan2", tmp_path / "dec.safetensors")
    assert max_err(G.generate(Latent.wplus(cases["codes"])), cases["images"]) <= IMG_TOL


def test_key_order_matches_official(e4e_psp_dir, families):
    """Every fixture key list (the official model's, in order) equals the rebuilt modules' keys."""
    from ganedit_encoders.checkpoint import load_encoder_checkpoint

    for name, family in families.items():
        lines = [ln.split("\t")[0] for ln in (e4e_psp_dir / name / "keys.txt").read_text().splitlines()
                 if ln and not ln.startswith("#")]
        ckpt = load_encoder_checkpoint(e4e_psp_dir / name / "checkpoint.pt", family, with_decoder=True)
        ours = [f"encoder.{k}" for k in ckpt.encoder.state_dict()]
        ours += [f"decoder.{k}" for k in ckpt.decoder.state_dict() if k != "w_avg"]
        assert ours == lines, name
