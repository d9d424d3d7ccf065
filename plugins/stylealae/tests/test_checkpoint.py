"""Checkpoint reading, ``ganedit convert`` to native, round trips and bad-input errors."""

from __future__ import annotations

import collections
import os
import shutil
import sys
import types
import warnings

import pytest
import torch

import ganedit
from ganedit.config import ConfigError
from ganedit.io.checkpoint import CheckpointError, read_native_config, save_native
from ganedit.registry import load_registry
from ganedit_stylealae.arch import ALAEArch
from ganedit_stylealae.checkpoint import (
    OFFICIAL_NAMES,
    convert_official,
    native_to_official,
    sniff_official,
)
from ganedit_stylealae.model import ALAEModel


def _official_dict(model: ALAEModel, live: ALAEModel | None = None) -> dict:
    """An official-layout checkpoint dict (effective weights) for ``model`` (EMA) and ``live``."""
    models = {}
    for part in model.parts:
        models[f"{OFFICIAL_NAMES[part]}_s"] = native_to_official(getattr(model, part))
        models[OFFICIAL_NAMES[part]] = native_to_official(getattr(live or model, part))
    models["dlatent_avg"] = {"buff": model.dlatent_avg.clone()}
    return {"models": models, "auxiliary": {"scheduler": {"encoder_optimizer": {"last_epoch": 3}}}}


def _outputs(model: ALAEModel, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    arch = model.arch
    z = torch.randn(2, arch.latent_size, generator=g)
    x = torch.rand(2, arch.channels, arch.resolution, arch.resolution, generator=g) * 2 - 1
    with torch.no_grad():
        w = model.mapping_f(z)
        ws = w[:, None].repeat(1, arch.num_ws, 1)
        e = model.encoder(x)
        return {"w": w, "img": model.decoder(ws, noise_mode="const"), "e": e, "d": model.mapping_d(e)}


# --------------------------------------------------------------------------- round trips


def test_native_round_trip_random_model(tmp_path, tiny_model):
    path = tmp_path / "m.safetensors"
    tiny_model.save_native(path)
    cfg = read_native_config(path)
    assert cfg["type"] == "stylealae" and cfg["kind"] == "generator"
    assert set(cfg["provides"]) == {"generator", "encoder", "discriminator"}
    assert ALAEArch.from_dict(cfg["architecture"]) == tiny_model.arch
    back = ALAEModel.from_checkpoint(path)
    for part in tiny_model.parts:
        a, b = getattr(tiny_model, part).state_dict(), getattr(back, part).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(back.dlatent_avg, tiny_model.dlatent_avg)


@pytest.mark.parametrize("resolution", [16, 128])
def test_official_import_of_random_model(tmp_path, tiny_arch, perturb, resolution):
    """Effective-weight (official) export -> import reproduces the network (incl. fused 128 px layers)."""
    arch = tiny_arch(resolution, latent_size=8, start_channels=2, max_channels=4)
    model = perturb(ALAEModel.random(arch, seed=1))
    path = tmp_path / "official.pth"
    torch.save(_official_dict(model), path)
    assert sniff_official(path)
    loaded = ALAEModel.from_checkpoint(path)
    assert loaded.arch == arch and loaded.source == "official" and loaded.which == "ema"
    ref, out = _outputs(model), _outputs(loaded)
    for k in ref:
        assert torch.allclose(ref[k], out[k], atol=1e-5, rtol=1e-5), k
    # Official tensors are effective weights: the stored explicit-LR weight times its scale.
    fc = model.mapping_f.map_blocks[0].fc
    off = torch.load(path, weights_only=True)["models"]["mapping_fl_s"]
    assert torch.allclose(off["map_blocks.0.fc.weight"], fc.weight * fc.scale)
    assert torch.allclose(off["map_blocks.0.fc.bias"], fc.bias * 0.1)


def test_convert_official_to_native_is_exact(tmp_path, alae_ckpt, official_model):
    dst = tmp_path / "alae.safetensors"
    convert_official(alae_ckpt, dst)
    cfg = read_native_config(dst)
    assert cfg["sets"] == ["ema", "live"] and cfg["source_format"] == "alae_official"
    native = ALAEModel.from_checkpoint(dst)
    assert native.source == "native"
    for part in official_model.parts:
        a, b = getattr(official_model, part).state_dict(), getattr(native, part).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), part
    assert torch.equal(native.dlatent_avg, official_model.dlatent_avg)
    live_off = ALAEModel.from_checkpoint(alae_ckpt, which="live")
    live_nat = ALAEModel.from_checkpoint(dst, which="live")
    assert all(torch.equal(a, b) for a, b in zip(live_off.parameters(), live_nat.parameters()))
    # The converted file builds the components as the original does.
    G = ganedit.build("generator", {"type": "stylealae", "params": {"checkpoint": str(dst)}})
    assert G.img_resolution == 128 and G.num_ws == 12


def test_checkpoint_format_registered(alae_ckpt, alae_dir, tmp_path):
    reg = load_registry()
    fmt = [f for f in reg.formats if f.name == "alae_official"]
    assert len(fmt) == 1 and fmt[0].dist == "ganedit-stylealae"
    assert reg.sniff(alae_ckpt).name == "alae_official"
    assert not sniff_official(alae_dir / "cases.pt")
    assert not sniff_official(alae_dir / "README.md")
    dst = tmp_path / "conv.safetensors"
    fmt[0].convert(alae_ckpt, dst)
    assert not sniff_official(dst)
    assert read_native_config(dst)["type"] == "stylealae"


def test_official_config_sets_architecture(tmp_path, alae_ckpt, alae_dir):
    model = ALAEModel.from_checkpoint(alae_ckpt, official_config=alae_dir / "config.json")
    assert model.arch.mapping_layers == 3 and model.arch.resolution == 128
    bad = tmp_path / "bad.yaml"
    bad.write_text("MODEL:\n  LAYER_COUNT: 6\n  START_CHANNEL_COUNT: 4\n  MAX_CHANNEL_COUNT: 16\n"
                   "  LATENT_SPACE_SIZE: 64\n  MAPPING_LAYERS: 3\n")
    with pytest.raises(CheckpointError, match=r"checkpoint\.pth.*shape"):
        ALAEModel.from_checkpoint(alae_ckpt, official_config=bad)


# --------------------------------------------------------------------------- real-checkpoint quirks


@pytest.mark.parametrize("zip_format", [True, False])
def test_pickled_tracker_objects_are_inert(tmp_path, tiny_model, zip_format, monkeypatch):
    """Real training files pickle ``tracker.RunningMeanTorch``; they load without the class or its code."""
    mod = types.ModuleType("tracker")

    class RunningMeanTorch:
        def __init__(self):
            self.values = [torch.ones(3)]

    RunningMeanTorch.__module__ = "tracker"
    RunningMeanTorch.__qualname__ = "RunningMeanTorch"
    mod.RunningMeanTorch = RunningMeanTorch
    monkeypatch.setitem(sys.modules, "tracker", mod)
    data = _official_dict(tiny_model)
    data["auxiliary"]["tracker"] = {"tracks": collections.OrderedDict(loss=RunningMeanTorch()), "epochs": [1]}
    path = tmp_path / "real.pth"
    torch.save(data, path, _use_new_zipfile_serialization=zip_format)
    monkeypatch.delitem(sys.modules, "tracker")
    loaded = ALAEModel.from_checkpoint(path)
    ref, out = _outputs(tiny_model), _outputs(loaded)
    assert all(torch.allclose(ref[k], out[k], atol=1e-5) for k in ref)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Harmless:
    """A pickled callable from an importable module: mapped to an inert placeholder, never called."""

    def __reduce__(self):
        return (shutil.rmtree, ("/definitely/not/there",))


def test_pickled_code_is_never_executed(tmp_path, tiny_model):
    marker = tmp_path / "pwned"
    evil = _Evil()
    evil.marker = marker
    data = _official_dict(tiny_model)
    data["auxiliary"]["payload"] = evil
    path = tmp_path / "evil.pth"
    torch.save(data, path)
    with pytest.raises(CheckpointError, match=r"evil\.pth: refused to load.*system"):
        ALAEModel.from_checkpoint(path)
    assert not marker.exists()
    data["auxiliary"]["payload"] = _Harmless()
    torch.save(data, path)
    assert ALAEModel.from_checkpoint(path).arch == tiny_model.arch


def test_ema_falls_back_to_live_with_warning(tmp_path, tiny_model):
    data = _official_dict(tiny_model)
    data["models"] = {k: v for k, v in data["models"].items() if not k.endswith("_s")}
    path = tmp_path / "live_only.pth"
    torch.save(data, path)
    with pytest.warns(UserWarning, match="no EMA copy"):
        model = ALAEModel.from_checkpoint(path)
    assert model.which == "live"


def test_models_subdict_accepted(tmp_path, tiny_model):
    path = tmp_path / "models_only.pth"
    torch.save(_official_dict(tiny_model)["models"], path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ALAEModel.from_checkpoint(path).arch == tiny_model.arch


# --------------------------------------------------------------------------- bad input


def test_missing_checkpoint(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(CheckpointError, match=r"nope\.pth: checkpoint not found"):
        ALAEModel.from_checkpoint(missing)
    with pytest.raises(ConfigError, match=r"checkpoint.*file not found.*nope\.pth"):
        ganedit.build("generator", {"type": "stylealae", "params": {"checkpoint": str(missing)}})


def test_foreign_torch_checkpoint(tmp_path):
    path = tmp_path / "rosinality.pt"
    torch.save({"g_ema": {"style.1.weight": torch.zeros(2, 2)}, "latent_avg": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=r"rosinality\.pt: not an official ALAE checkpoint.*g_ema"):
        ganedit.build("generator", {"type": "stylealae", "params": {"checkpoint": str(path)}})
    assert not sniff_official(path)


def test_foreign_native_checkpoint(tmp_path):
    path = tmp_path / "sg2.safetensors"
    save_native(path, {"w": torch.zeros(1)}, {"kind": "generator", "type": "stylegan2"})
    with pytest.raises(CheckpointError, match=r"sg2\.safetensors.*'stylegan2', expected 'stylealae'"):
        ganedit.build("encoder", {"type": "stylealae", "params": {"checkpoint": str(path)}})


def test_truncated_checkpoints(tmp_path, alae_ckpt, tiny_native):
    cut = tmp_path / "cut.pth"
    data = alae_ckpt.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pth: not a readable torch checkpoint"):
        ganedit.build("generator", {"type": "stylealae", "params": {"checkpoint": str(cut)}})
    cut_native = tmp_path / "cut.safetensors"
    data = tiny_native.read_bytes()
    cut_native.write_bytes(data[: len(data) - 100])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors"):
        ALAEModel.from_checkpoint(cut_native)
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=r"junk\.pth"):
        ALAEModel.from_checkpoint(junk)


def test_missing_network_and_wrong_shapes(tmp_path, tiny_model):
    data = _official_dict(tiny_model)
    enc_only = {k: v for k, v in data["models"].items() if k.startswith("discriminator")}
    path = tmp_path / "enc_only.pth"
    torch.save({"models": enc_only}, path)
    ALAEModel.from_checkpoint(path, parts=("encoder",))
    with pytest.raises(CheckpointError, match=r"enc_only\.pth: official checkpoint has no 'mapping_fl_s'"):
        ALAEModel.from_checkpoint(path, parts=("mapping_f", "decoder"))
    bad = _official_dict(tiny_model)
    bad["models"]["generator_s"]["decode_block.1.conv_2.weight"] = torch.zeros(3, 3, 3, 3)
    path = tmp_path / "bad_shape.pth"
    torch.save(bad, path)
    with pytest.raises(CheckpointError, match=r"bad_shape\.pth.*generator_s.*decode_block\.1\.conv_2\.weight"):
        ALAEModel.from_checkpoint(path)


def test_params_must_agree_with_checkpoint(tiny_native):
    with pytest.raises(CheckpointError, match=r"latent_size=32 \(checkpoint has 16\)"):
        ganedit.build("generator", {"type": "stylealae",
                                    "params": {"checkpoint": str(tiny_native), "latent_size": 32}})
    G = ganedit.build("generator", {"type": "stylealae",
                                    "params": {"checkpoint": str(tiny_native), "resolution": 16}})
    assert G.img_resolution == 16


def test_native_file_without_live_set(tiny_native):
    with pytest.raises(CheckpointError, match=r"no 'live' weights"):
        ALAEModel.from_checkpoint(tiny_native, which="live")


def test_cli_convert(tmp_path, alae_ckpt, official_model):
    from ganedit.cli import main

    dst = tmp_path / "cli.safetensors"
    assert main(["convert", str(alae_ckpt), str(dst)]) == 0
    native = ALAEModel.from_checkpoint(dst, parts=("mapping_f",))
    assert all(torch.equal(a, b) for a, b in zip(native.mapping_f.parameters(),
                                                 official_model.mapping_f.parameters()))
