"""``configs/near_inversion.yaml`` as shipped, on the bundled 64 px StyleGAN2 of smooth drawings and a
held-out drawing: the run reports edit drift, and the global term keeps random samples in place (few
steps, CPU)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
import yaml

import ganedit
from ganedit.io.images import load_image

from ganedit_inversion.generator_ops import locality_latents, locality_mae

ROOT = Path(__file__).resolve().parents[3]
CONFIG = ROOT / "configs" / "near_inversion.yaml"
IMAGE = "assets/images/heldout_smooth/heldout_0.png"
STEPS = 40  # tweak steps of the locality checks (no early stop)

pytestmark = pytest.mark.skipif(not (ROOT / "assets" / "models" / "stylegan2_64_smooth.safetensors").is_file(),
                                reason="the bundled model assets/models/stylegan2_64_smooth.safetensors is absent")


def shipped() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def test_shipped_config_on_a_heldout_drawing_reports_edit_drift(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    raw = shipped()
    assert "assets/images/heldout_smooth" in raw["inputs"]
    raw.update(device="cpu", inputs=[IMAGE], save_generator="none")
    raw["inverter"]["params"]["steps"] = 4
    raw["inverter"]["params"]["initial"]["params"]["steps"] = 10
    summary = ganedit.run(raw, output=tmp_path / "run", quiet=True)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())["images"][0]
    assert record["status"] == "ok" and record["steps"] == 4
    # every edit of the shipped editors (2 SeFa directions x 2 strengths, 3 style-mixing ranges) has a drift
    assert len(record["edits"]) == 7 and list(record["edit_drifts"]) == record["edits"]
    assert all(isinstance(v, float) and v >= 0 for v in record["edit_drifts"].values())
    assert isinstance(record["edit_drift"], float) and isinstance(record["edit_drift_local"], float)
    assert summary["edit_drift"] == record["edit_drift"]
    assert summary["groups"][IMAGE]["edit_drift"] == record["edit_drift"]
    # the image's noise maps travel with the latent; the tuned generator's buffers stay the original's
    assert record["noise"].endswith("noise.safetensors") and record["psnr_const_noise"] < record["psnr_final"]


@pytest.fixture(scope="module")
def locality_runs() -> dict[str, dict[str, float]]:
    """The shipped tweak for STEPS steps, and the same without the global term / with only its literal
    GAN part: locality_mae (seeded and constant noise) of each."""
    raw = shipped()
    generator = ganedit.build("generator", {"type": "stylegan2", "params": {
        "checkpoint": str(ROOT / raw["generator"]["params"]["checkpoint"])}}).eval()
    target = load_image(ROOT / IMAGE, 64, "center_crop")[None]
    z = locality_latents(generator, 16, 0)
    out = {}
    variants = {"shipped": {}, "no_global": {"global_weight": 0.0}, "literal": {"global_anchor": 0.0}}
    for name, change in variants.items():
        params = copy.deepcopy(raw["inverter"]["params"])
        params["initial"]["params"]["steps"] = 20
        params.update(steps=STEPS, stop={"metric": "none"}, seed=0, **change)
        inverter = ganedit.build("inverter", {"type": "near_perfect", "params": params})
        result = inverter.invert(generator, target, discriminator=generator.discriminator())
        out[name] = {"seeded": locality_mae(generator, result.generator, z),
                     "const": locality_mae(generator, result.generator, z, noise="const")}
    return out


def test_shipped_global_term_keeps_random_samples_in_place(locality_runs):
    """Measured (one thread): after 40 steps the shipped tweak moves random samples by 0.040 (mean
    absolute change, [-1, 1] images), against 0.075 without the global term; the bound is issue 15's
    locality target."""
    shipped_, none = locality_runs["shipped"], locality_runs["no_global"]
    for noise in ("seeded", "const"):
        assert shipped_[noise] <= 0.08, shipped_
        assert shipped_[noise] <= 0.65 * none[noise], (shipped_, none)


def test_literal_gan_term_does_not_keep_random_samples_in_place(locality_runs):
    """L_global's literal GAN part, E[log D(x)] + E[log(1 - D(G(z)))], constrains the distribution of
    G(z), not each sample: at the shipped weight (every 8th step) it leaves all of the change to
    random samples that no global term leaves (measured on the smooth-drawing generator: 0.083 vs
    0.075 after 40 steps of the 32 + 64 px tweak; on the textured one 0.172 vs 0.215, and with every
    synthesis layer tuned 0.219 vs 0.213, at weight 1 0.193 at a cost of 5 dB of reconstruction),
    while the shipped per-sample anchor brings it to 0.040."""
    literal, none, shipped_ = locality_runs["literal"], locality_runs["no_global"], locality_runs["shipped"]
    for noise in ("seeded", "const"):
        assert literal[noise] >= 0.7 * none[noise], (literal, none)
        assert literal[noise] >= 1.4 * shipped_[noise], (literal, shipped_)
