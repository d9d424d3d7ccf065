"""The ``invert`` task end to end on a tiny checkpoint: outputs, metrics, resume, failures,
compatibility checks, and loading the saved results back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ganedit
from ganedit.config import ConfigError, validate_config
from ganedit.interfaces import Editor, Generator, Params
from ganedit.io.checkpoint import load_native
from ganedit.io.images import load_image, save_image
from ganedit.metrics import psnr
from ganedit.testing import make_registry

from ganedit.io.checkpoint import load_native

from ganedit_inversion import load_inversion, load_latent, load_noise
from ganedit_inversion.errors import InversionError
from ganedit_inversion.near_perfect import NearPerfectInverter


@pytest.fixture()
def inputs(tmp_path, make_target) -> Path:
    folder = tmp_path / "inputs"
    for i in range(2):
        # 24x20 files: brought to 16x16 by the task's resize policy (centre crop)
        img = torch.nn.functional.interpolate(make_target(10 + i), size=(20, 24), mode="bilinear")[0]
        save_image(folder / f"img{i}.png", img)
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    np.save(tmp_path / "dir.npy", np.random.default_rng(0).standard_normal(32).astype(np.float32))
    return folder


def config(checkpoint: Path, inputs: Path, tmp: Path, **extra) -> dict:
    cfg = {
        "task": "invert", "seed": 0, "device": "cpu",
        "generator": {"type": "stylegan2", "params": {"checkpoint": str(checkpoint)}},
        "inverter": {"type": "near_perfect", "params": {
            "steps": 12, "lr": 5e-3, "global_adversarial": 0.1, "stop": {"metric": "psnr", "threshold": 60},
            "initial": {"type": "optimization", "params": {"steps": 10, "w_avg_samples": 500,
                                                           "optimize_noise": False, "keep_noise": False}}}},
        "editors": [
            {"type": "sefa", "params": {"num_directions": 1, "strengths": [2.0]}},
            {"type": "style_mixing", "params": {"sources": [str(inputs / "img1.png")], "layers": ["coarse"]}},
            {"type": "direction", "params": {"path": str(tmp / "dir.npy"), "strengths": [1.0]}},
        ],
        "inputs": str(inputs),
    }
    cfg.update(extra)
    return cfg


def test_invert_task_outputs_metrics_and_resume(tiny_checkpoint, inputs, tmp_path):
    out = tmp_path / "run"
    ganedit.run(config(tiny_checkpoint, inputs, tmp_path), output=out, quiet=True)
    metrics = json.loads((out / "metrics.json").read_text())
    summary, images = metrics["summary"], {r["name"]: r for r in metrics["images"]}
    assert summary["num_images"] == 3 and summary["num_ok"] == 2 and summary["num_failed"] == 1
    assert images["broken"]["status"] == "failed" and "broken.png" in images["broken"]["error"]
    for name in ("img0", "img1"):
        rec = images[name]
        for key in ("psnr_initial", "psnr_final", "ssim_final", "steps", "seconds", "locality_mae"):
            assert isinstance(rec[key], (int, float)), key
        assert rec["psnr_final"] > rec["psnr_initial"] and rec["steps"] == 12
        assert rec["edits"] == ["sefa0_+2", "mix_img1_coarse", "dir_+1"]
        for f in ("target", "initial", "final", "grid", "sefa0_+2", "mix_img1_coarse", "dir_+1"):
            assert (out / "images" / name / f"{f}.png").is_file(), f
        assert (out / "inversions" / name / "generator.safetensors").is_file()
        assert load_image(out / "images" / name / "target.png").shape == (3, 16, 16)
    for key in ("psnr_initial", "psnr_final", "ssim_final", "locality_mae", "steps", "seconds"):
        assert summary[key] == pytest.approx(np.mean([images[n][key] for n in ("img0", "img1")]))
    assert list((out / "tb").glob("events.*"))
    # edit drift: one number per edit (the near_perfect tweak moved them), their mean per image and overall
    for name in ("img0", "img1"):
        drifts = images[name]["edit_drifts"]
        assert list(drifts) == images[name]["edits"] and all(0 < d < 10 for d in drifts.values())
        assert images[name]["edit_drift"] == pytest.approx(np.mean(list(drifts.values())))
    assert summary["edit_drift"] == pytest.approx(np.mean([images[n]["edit_drift"] for n in ("img0", "img1")]))
    # one summary entry per `inputs` entry, keyed as written in the config
    group = summary["groups"][str(inputs)]
    assert group["num_images"] == 3 and group["num_ok"] == 2 and group["edit_drift"] == summary["edit_drift"]
    # style mixing an image with itself (img1 with its own inverted latent's coarse codes) is visible
    grid = load_image(out / "images" / "img0" / "grid.png")
    assert grid.shape[-1] == 2 + 6 * 18  # one row: target | initial | final | 3 edits

    # the saved latent + tuned generator reproduce the reported reconstruction
    G, latent = load_inversion(out / "inversions" / "img0")
    target = load_image(out / "images" / "img0" / "target.png")[None]
    with torch.no_grad():
        recon = G.generate(latent)
    assert float(psnr(recon, target)) == pytest.approx(images["img0"]["psnr_final"], abs=0.3)  # PNG rounding

    # rerun: done images are skipped (resume), the broken one is retried and fails again
    before = (out / "inversions" / "img0" / "generator.safetensors").stat().st_mtime_ns
    ganedit.run(config(tiny_checkpoint, inputs, tmp_path), output=out, quiet=True)
    again = json.loads((out / "metrics.json").read_text())["summary"]
    assert again["num_resumed"] == 2 and again["num_failed"] == 1
    assert (out / "inversions" / "img0" / "generator.safetensors").stat().st_mtime_ns == before
    assert again["psnr_final"] == summary["psnr_final"]


def test_seeded_runs_are_deterministic_and_delta_loads(tiny_checkpoint, inputs, tmp_path):
    cfg = config(tiny_checkpoint, inputs / "img0.png", tmp_path, editors=[], save_generator="delta")
    a = ganedit.run(cfg, output=tmp_path / "a", quiet=True)
    b = ganedit.run(cfg, output=tmp_path / "b", quiet=True)
    assert a["psnr_final"] == b["psnr_final"] and a["locality_mae"] == b["locality_mae"]
    folder = tmp_path / "a" / "inversions" / "img0"
    assert (folder / "generator_delta.safetensors").is_file()
    assert torch.equal(load_latent(folder / "latent.safetensors").ws,
                       load_latent(tmp_path / "b" / "inversions" / "img0" / "latent.safetensors").ws)
    # the delta applies on top of the base through the `tuned` generator component
    G = ganedit.build("generator", {"type": "tuned", "params": {
        "base": {"type": "stylegan2", "params": {"checkpoint": str(tiny_checkpoint)}},
        "delta": str(folder / "generator_delta.safetensors")}})
    G2, latent = load_inversion(folder)
    # tune_noise (default): the image's own noise maps are saved next to the latent, not in the delta
    noise = load_noise(folder / "noise.safetensors")
    assert not any(k.startswith("net.noises.") for k in load_native(folder / "generator_delta.safetensors")[0])
    with torch.no_grad():
        assert torch.equal(G.synthesis(latent.ws, noise=noise), G2.generate(latent))
        base = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(tiny_checkpoint)}})
        assert not torch.equal(base.generate(latent), G.generate(latent))


def test_groups_and_zero_drift_without_tuning(tiny_checkpoint, inputs, tmp_path):
    """Optimisation with kept noise maps: nothing is tuned, so every edit's drift is exactly 0; the
    maps are saved with the latent and reproduce the reconstruction. Groups follow the inputs entries."""
    cfg = config(tiny_checkpoint, inputs, tmp_path,
                 inverter={"type": "optimization", "params": {"steps": 10, "w_avg_samples": 500,
                                                              "optimize_noise": True, "keep_noise": True}})
    cfg["inputs"] = [str(inputs / "img0.png"), str(inputs / "img1.png")]
    out = tmp_path / "opt"
    summary = ganedit.run(cfg, output=out, quiet=True)
    records = json.loads((out / "metrics.json").read_text())["images"]
    for rec in records:
        assert rec["status"] == "ok" and rec["edit_drift"] == 0.0 and set(rec["edit_drifts"].values()) == {0.0}
        assert "locality_mae" not in rec and rec["noise"].endswith("noise.safetensors")
        G, latent = load_inversion(out / "inversions" / rec["name"], base=cfg["generator"])
        target = load_image(out / "images" / rec["name"] / "target.png")[None]
        with torch.no_grad():
            assert float(psnr(G.generate(latent), target)) == pytest.approx(rec["psnr_final"], abs=0.3)
    assert set(summary["groups"]) == {str(inputs / "img0.png"), str(inputs / "img1.png")}
    for rec in records:
        assert summary["groups"][rec["path"]]["psnr_final"] == rec["psnr_final"]


def test_nan_in_one_image_is_recorded_and_others_go_on(tiny_checkpoint, inputs, tmp_path, monkeypatch):
    original = NearPerfectInverter.step_loss
    calls = {"n": 0}

    def flaky(self, state, recon, target, step):
        loss, scalars = original(self, state, recon, target, step)
        calls["n"] += 1
        if calls["n"] == 3:  # third step of the first image
            loss = loss * float("nan")
        return loss, scalars

    monkeypatch.setattr(NearPerfectInverter, "step_loss", flaky)
    summary = ganedit.run(config(tiny_checkpoint, inputs, tmp_path, editors=[]), output=tmp_path / "r",
                          quiet=True)
    records = json.loads((tmp_path / "r" / "metrics.json").read_text())["images"]
    by_name = {r["name"]: r for r in records}
    assert by_name["img0"]["status"] == "failed" and "TuningDiverged" in by_name["img0"]["error"]
    assert "NaN/inf at step 2" in by_name["img0"]["error"]
    assert by_name["img1"]["status"] == "ok" and summary["num_ok"] == 1


@pytest.fixture()
def invert_calls(monkeypatch) -> list[int]:
    """The number of images of every OptimizationInverter.invert call (a near_perfect start included)."""
    from ganedit_inversion.optimization import OptimizationInverter

    calls: list[int] = []
    original = OptimizationInverter.invert

    def counted(self, generator, images, **kw):
        calls.append(images.shape[0])
        return original(self, generator, images, **kw)

    monkeypatch.setattr(OptimizationInverter, "invert", counted)
    return calls


def test_batch_size_inverts_independent_images_together_with_the_same_latents(tiny_checkpoint, inputs, tmp_path,
                                                                              invert_calls):
    """batch_size with an inverter that treats images independently: one call for the batch, and
    without random draws (no latent noise, no noise maps) every image gets the latent it gets alone
    (up to rounding).
    The unreadable file fails alone; the two others form the batch."""
    cfg = config(tiny_checkpoint, inputs, tmp_path, editors=[],
                 inverter={"type": "optimization", "params": {"steps": 8, "w_avg_samples": 500, "latent_noise": 0.0,
                                                              "optimize_noise": False, "keep_noise": False}})
    alone = ganedit.run(dict(cfg, batch_size=1), output=tmp_path / "one", quiet=True)
    assert invert_calls == [1, 1]
    invert_calls.clear()
    together = ganedit.run(dict(cfg, batch_size=4), output=tmp_path / "batch", quiet=True)
    assert invert_calls == [2]
    single = json.loads((tmp_path / "one" / "metrics.json").read_text())["images"]
    assert not any("batch" in r for r in single)
    records = {r["name"]: r for r in json.loads((tmp_path / "batch" / "metrics.json").read_text())["images"]}
    assert records["broken"]["status"] == "failed" and "batch" not in records["broken"]
    assert together["num_ok"] == alone["num_ok"] == 2
    for name in ("img0", "img1"):
        assert records[name]["batch"] == 2
        a = load_latent(tmp_path / "one" / "inversions" / name / "latent.safetensors").ws
        b = load_latent(tmp_path / "batch" / "inversions" / name / "latent.safetensors").ws
        # float rounding of a batch-2 convolution, amplified where Adam normalises near-zero gradients
        torch.testing.assert_close(b, a, rtol=0, atol=2e-3)
    assert together["psnr_final"] == pytest.approx(alone["psnr_final"], abs=0.01)


def test_batch_size_with_a_tuning_inverter_batches_the_start_latents(tiny_checkpoint, inputs, tmp_path,
                                                                     invert_calls):
    """near_perfect with batch_size: the nested start inverter runs once for the batch, each image
    then gets its own tweak (and its own tuned generator)."""
    cfg = config(tiny_checkpoint, inputs, tmp_path, editors=[], batch_size=2)
    cfg["inputs"] = [str(inputs / "img0.png"), str(inputs / "img1.png")]
    summary = ganedit.run(cfg, output=tmp_path / "np", quiet=True)
    assert invert_calls == [2] and summary["num_ok"] == 2
    records = json.loads((tmp_path / "np" / "metrics.json").read_text())["images"]
    for rec in records:
        assert rec["batch"] == 2 and rec["steps"] == 12 and rec["psnr_final"] > rec["psnr_initial"]
        assert (tmp_path / "np" / "inversions" / rec["name"] / "generator.safetensors").is_file()


def test_near_perfect_without_discriminator_stops_the_run(inputs, tmp_path):
    cfg = config(Path("unused"), inputs, tmp_path, editors=[])
    cfg["generator"] = {"type": "stylegan2", "params": {"checkpoint": None, "resolution": 16, "style_dim": 32,
                                                        "n_mlp": 2, "channels": {4: 32, 8: 32, 16: 32}}}
    with pytest.raises(InversionError, match="near_perfect needs a discriminator"):
        ganedit.run(cfg, output=tmp_path / "r", quiet=True)
    assert not (tmp_path / "r" / "inversions").exists()


class _StructureOnly(Generator, name="structure_only"):
    """A generator that only accepts structure/texture latents (for the compatibility check)."""

    class Params(Params):
        pass

    @classmethod
    def latent_spaces(cls, params=None):
        return ("structure_texture",)

    def generate(self, latent, noise_mode="const"):  # pragma: no cover - never built
        raise NotImplementedError


class _TextureOnlyEditor(Editor, name="texture_only"):
    """An editor of structure/texture latents only."""

    class Params(Params):
        pass

    @classmethod
    def supported_spaces(cls, params=None):
        return ("structure_texture",)

    def edit(self, generator, latent, context=None):  # pragma: no cover - never built
        raise NotImplementedError


class _CompatPlugin:
    DIST = "test-compat"
    __name__ = "test_compat"

    @ganedit.hookimpl
    def register_components(self, register):
        register(_StructureOnly, _TextureOnlyEditor)


@pytest.fixture(scope="module")
def compat_registry():
    import ganedit_inversion.plugin as inv_plugin
    import ganedit_stylegan2.plugin as sg2_plugin

    return make_registry(sg2_plugin, inv_plugin, _CompatPlugin())


def test_incompatible_latent_spaces_are_refused_at_validation(inputs, tmp_path, compat_registry):
    tiny = {"type": "stylegan2", "params": {"checkpoint": None, "resolution": 16}}
    cfg = config(Path("x"), inputs, tmp_path, editors=[])
    cfg["generator"] = {"type": "structure_only"}
    with pytest.raises(ConfigError, match=r"inverter.type.*needs a generator accepting \['w\+'\] latents.*"
                                          r"structure_texture"):
        validate_config(cfg, registry=compat_registry)

    cfg = config(Path("x"), inputs, tmp_path, editors=[{"type": "texture_only"}], generator=tiny)
    with pytest.raises(ConfigError, match=r"editors.0.type.*edits \['structure_texture'\] latents.*"
                                          r"produces 'w\+'"):
        validate_config(cfg, registry=compat_registry)

    # a W pivot edited on coarse layers becomes W+, which stylegan2 accepts: valid
    cfg = config(Path("x"), inputs, tmp_path, editors=[{"type": "sefa", "params": {"layers": "coarse"}}],
                 generator=tiny)
    cfg["inverter"]["params"]["initial"]["params"]["space"] = "w"
    validate_config(cfg, registry=compat_registry)


def test_bad_inputs_are_refused_at_validation(tiny_checkpoint, tmp_path):
    cfg = config(tiny_checkpoint, tmp_path / "nothing_here.png", tmp_path, editors=[])
    with pytest.raises(ConfigError, match="inputs: file not found"):
        validate_config(cfg)
    cfg["inputs"] = str(tmp_path / "*.png")
    with pytest.raises(ConfigError, match="no image matches"):
        validate_config(cfg)
    cfg["inputs"] = str(tmp_path)
    cfg["inverter"]["params"]["losses"] = {"laplacian": 0.0}
    with pytest.raises(ConfigError, match="at least one reconstruction loss weight"):
        validate_config(cfg)


def test_lpips_without_weights_is_refused_at_validation(tiny_checkpoint, inputs, tmp_path):
    from ganedit_inversion.losses import lpips_problem

    if lpips_problem("alex") is None:
        pytest.skip("LPIPS weights are installed here: nothing to refuse")
    cfg = config(tiny_checkpoint, inputs, tmp_path, editors=[])
    cfg["inverter"]["params"]["losses"] = {"laplacian": 1.0, "lpips": 1.0}
    with pytest.raises(ConfigError, match=r"inverter.params.*losses.lpips=1.0: LPIPS \(alex\) needs the "
                                          r"pretrained backbone weights"):
        validate_config(cfg)


def test_shipped_config_validates(monkeypatch):
    """configs/near_inversion.yaml validates against the installed plugins (paths from the repo root)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "assets" / "models" / "stylegan2_64.safetensors").is_file():
        pytest.skip("the bundled model assets/models/stylegan2_64.safetensors is absent")
    monkeypatch.chdir(root)
    cfg = ganedit.load_config("configs/near_inversion.yaml")
    inv = cfg.params.inverter.params
    assert cfg.task == "invert" and cfg.params.inverter.type == "near_perfect"
    assert inv.stop.metric == "psnr" and inv.stop.threshold == 35.0
    assert [e.type for e in cfg.params.editors] == ["sefa", "style_mixing"]


@pytest.mark.parametrize("resolution, expected", [(16, 8), (256, 8), (512, 2), (1024, 1)])
def test_auto_batch_size_shrinks_with_the_image_area(resolution, expected):
    from types import SimpleNamespace

    from ganedit_inversion.task import InvertTask

    task = InvertTask(InvertTask.Params.model_validate(
        {"generator": {"type": "stylegan2"}, "inverter": {"type": "optimization"}, "inputs": "x.png"}))
    assert task.images_per_call(SimpleNamespace(img_resolution=resolution)) == expected
    task.params.batch_size = 3
    assert task.images_per_call(SimpleNamespace(img_resolution=resolution)) == 3


def test_a_file_reached_twice_is_inverted_once(tiny_checkpoint, inputs, tmp_path, capsys):
    cfg = config(tiny_checkpoint, inputs, tmp_path, editors=[],
                 inverter={"type": "optimization", "params": {"steps": 2, "w_avg_samples": 500}})
    cfg["inputs"] = [str(inputs / "img1.png"), str(inputs), str(inputs / "img1.png")]
    summary = ganedit.run(cfg, output=tmp_path / "dup", quiet=True)
    records = json.loads((tmp_path / "dup" / "metrics.json").read_text())["images"]
    assert sorted(r["name"] for r in records) == ["broken", "img0", "img1"]
    assert summary["groups"][str(inputs / "img1.png")]["num_images"] == 1
    assert summary["groups"][str(inputs)]["num_images"] == 2  # img0 and broken; img1 went to the first entry
    assert "2 input(s) reached more than once" in capsys.readouterr().err


def test_a_start_latent_for_other_images_is_refused(tiny_checkpoint, make_target):
    from ganedit.interfaces import InversionResult
    from ganedit.latent import Latent

    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(tiny_checkpoint)}})
    inv = ganedit.build("inverter", {"type": "pti", "params": {"steps": 1}})
    start = InversionResult(latent=Latent("w+", {"ws": torch.zeros(2, G.num_ws, G.w_dim)}), generator=G)
    with pytest.raises(InversionError, match="a start latent of 2 images for 1 images"):
        inv.invert(G, make_target(0), start=start)
