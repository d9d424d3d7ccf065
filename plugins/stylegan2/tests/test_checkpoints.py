"""rosinality loading variants, native format round trip, conversion and bad-input errors."""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

import ganedit
from ganedit.io.checkpoint import CheckpointError, load_native, read_native_config, save_native
from ganedit.latent import Latent
from ganedit.testing import fixtures_dir, make_registry

from ganedit_stylegan2 import plugin as sg2_plugin
from ganedit_stylegan2.checkpoints import estimate_w_avg, load_checkpoint, sniff_format
from ganedit_stylegan2.native import load_stylegan2_native, save_stylegan2_native
from ganedit_stylegan2.rosinality import convert_rosinality, load_rosinality

IMG_TOL = 1e-4


def err(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def train_layout(raw: dict, with_args: bool = True) -> dict:
    """The fixture as a real train.py file: Namespace args, optimizer states, no latent_avg."""
    out = {k: raw[k] for k in ("g", "d", "g_ema")}
    out["g_optim"] = {"state": {}, "param_groups": [{"lr": 0.0016, "betas": (0.0, 0.99), "params": [0, 1]}]}
    out["d_optim"] = {"state": {}, "param_groups": [{"lr": 0.0019, "betas": (0.0, 0.99), "params": [0]}]}
    out["ada_aug_p"] = 0.0
    if with_args:
        a = raw["args"]
        out["args"] = argparse.Namespace(arch="stylegan2", size=a["size"], latent=a["latent"], n_mlp=a["n_mlp"],
                                         channel_multiplier=a["channel_multiplier"], batch=16, r1=10.0,
                                         path="/data/ffhq.lmdb", iter=800000)
    return out


@torch.no_grad()
def test_namespace_args_load_through_allowlist(tmp_path, raw_checkpoint, cases):
    path = tmp_path / "train.pt"
    torch.save(train_layout(raw_checkpoint), path)
    # Plain weights_only refuses the Namespace; the loader allows exactly that class.
    with pytest.raises(Exception):
        torch.load(path, weights_only=True)
    ckpt = load_rosinality(path)
    assert ckpt.g_ema is not None and ckpt.g is not None and ckpt.d is not None
    assert ckpt.metadata["args"]["path"] == "/data/ffhq.lmdb"
    assert "g_optim" in ckpt.metadata["ignored_keys"]
    g = ckpt.g_ema
    assert err(g.synthesis(g.styles_to_ws([cases["z"]]), noise_mode="const"), cases["img_z"]) <= IMG_TOL
    assert err(ckpt.d(cases["d_img8"]), cases["d_out8"]) <= 2e-5
    # No latent_avg: w_avg is the documented fixed-seed estimate, close to the reference's own estimate.
    assert torch.equal(g.w_avg, estimate_w_avg(g))
    assert torch.equal(load_rosinality(path).g_ema.w_avg, g.w_avg)  # deterministic
    assert err(g.w_avg, cases["latent_avg"]) < 0.1


@torch.no_grad()
def test_architecture_inferred_from_shapes_without_args(tmp_path, raw_checkpoint, cases):
    path = tmp_path / "noargs.pt"
    raw = train_layout(raw_checkpoint, with_args=False)
    raw["latent_avg"] = raw_checkpoint["latent_avg"]
    torch.save(raw, path)
    ckpt = load_rosinality(path)
    g = ckpt.g_ema
    assert (g.size, g.style_dim, g.z_dim, g.n_mlp) == (64, 64, 64, 4)
    assert g.channels == {4: 32, 8: 32, 16: 32, 32: 32, 64: 16}
    assert ckpt.d.channels == g.channels and ckpt.d.mbstd_num_channels == 1
    img = g.synthesis(g.truncate(g.styles_to_ws([cases["z"]]), 0.7), noise_mode="const")
    assert err(img, cases["img_trunc"]) <= IMG_TOL


@torch.no_grad()
def test_bare_generator_state_dict(tmp_path, raw_checkpoint, cases):
    path = tmp_path / "bare.pt"
    torch.save(raw_checkpoint["g_ema"], path)
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(path)}})
    assert err(G.generate(Latent("z", {"z": cases["z"]})), cases["img_z"]) <= IMG_TOL


def test_args_disagreeing_with_tensors(tmp_path, raw_checkpoint):
    raw = dict(raw_checkpoint)
    raw["args"] = dict(raw["args"], size=256)
    path = tmp_path / "lying_args.pt"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match=r"lying_args\.pt: args\.size=256 but"):
        load_rosinality(path)


def test_swagan_refused(tmp_path, raw_checkpoint):
    raw = dict(raw_checkpoint)
    raw["args"] = dict(raw["args"], arch="swagan")
    path = tmp_path / "swagan.pt"
    torch.save(raw, path)
    with pytest.raises(CheckpointError, match="only 'stylegan2'"):
        load_rosinality(path)


# --------------------------------------------------------------------------- bad input


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("this is not a checkpoint\n")
    with pytest.raises(CheckpointError, match=r"notes\.pt: not a StyleGAN2 checkpoint \(expected"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"notes\.pt: not a readable torch checkpoint"):
        load_checkpoint(path, "rosinality")
    with pytest.raises(CheckpointError, match=r"notes\.pt: .*safetensors"):
        load_checkpoint(path, "native")


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_truncated_checkpoint(tmp_path, rosi_dir):
    data = (rosi_dir / "checkpoint.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut\.pt: not a readable torch checkpoint \(truncated"):
        load_checkpoint(path)


def test_truncated_native(tmp_path, rosi_dir):
    full = tmp_path / "full.safetensors"
    convert_rosinality(rosi_dir / "converted_style.pt", full)
    data = full.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) - 1000])
    with pytest.raises(CheckpointError, match=r"cut\.safetensors: truncated or corrupt"):
        load_checkpoint(cut)


@pytest.mark.parametrize("content, expected", [
    ({"models": {"generator": {"w": torch.zeros(2)}}, "auxiliary": {}}, r"found keys: models, auxiliary"),
    ({"G": OrderedDict(x=torch.zeros(1)), "E": OrderedDict(y=torch.zeros(1))}, r"found keys: G, E"),
    ({"g_ema": OrderedDict(weight=torch.zeros(3))}, r"'g_ema' is not a StyleGAN2 generator state dict"),
    ({"g_ema": [1, 2, 3]}, r"'g_ema' is a list, expected a state dict"),
    (torch.zeros(3), r"the file holds a Tensor"),
])
def test_other_architecture(tmp_path, content, expected):
    path = tmp_path / "foreign.pt"
    torch.save(content, path)
    with pytest.raises(CheckpointError, match=r"foreign\.pt: .*" + expected):
        load_checkpoint(path)
    assert not sg2_plugin.sniff_rosinality(path)


@pytest.mark.parametrize("folder, name", [("alae_official", "checkpoint.pth"),
                                          ("swapae_official", "latest_checkpoint.pth")])
def test_other_fixture_checkpoints_refused(folder, name):
    path = fixtures_dir() / folder / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.") + ": not a rosinality StyleGAN2"):
        load_checkpoint(path)
    assert not sg2_plugin.sniff_rosinality(path)


def test_shape_mismatch(tmp_path, raw_checkpoint):
    g = OrderedDict(raw_checkpoint["g_ema"])
    g["convs.1.conv.weight"] = torch.zeros(1, 32, 16, 3, 3)
    path = tmp_path / "mismatch.pt"
    torch.save({"g_ema": g}, path)
    with pytest.raises(CheckpointError, match=r"mismatch\.pt: 'g_ema' has shape mismatches: "
                                              r"convs\.1\.conv\.weight \(1, 32, 16, 3, 3\) vs expected"):
        load_checkpoint(path)
    g = OrderedDict(raw_checkpoint["g_ema"])
    del g["conv1.noise.weight"]
    torch.save({"g_ema": g}, path)
    with pytest.raises(CheckpointError, match=r"does not match the StyleGAN2 architecture \(missing conv1\.noise"):
        load_checkpoint(path)


def test_pickle_with_arbitrary_globals_refused(tmp_path, raw_checkpoint):
    path = tmp_path / "evil.pt"
    torch.save({"g_ema": raw_checkpoint["g_ema"], "made": datetime.date(2020, 1, 1)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt: refused to load"):
        load_checkpoint(path)


def test_nvidia_loader_unavailable(tmp_path, monkeypatch):
    import pickle

    path = tmp_path / "network.pkl"
    path.write_bytes(pickle.dumps({"G_ema": None}, protocol=4))
    assert sniff_format(path) == "nvidia"
    monkeypatch.setitem(sys.modules, "ganedit_stylegan2.nvidia", None)
    with pytest.raises(CheckpointError, match=r"network\.pkl: the NVIDIA stylegan2-ada pickle loader is unavailable"):
        load_checkpoint(path)


# --------------------------------------------------------------------------- native format and convert


@torch.no_grad()
def test_convert_round_trip_through_registry(tmp_path, rosi_dir, rosi_ckpt, cases):
    src = rosi_dir / "checkpoint.pt"
    reg = make_registry(sg2_plugin)
    fmt = reg.sniff(src)
    assert fmt is not None and fmt.name == "stylegan2-rosinality"
    dst = tmp_path / "g.safetensors"
    fmt.convert(src, dst)
    assert reg.sniff(dst) is None  # native files are not re-converted
    assert sniff_format(dst) == "native"
    cfg = read_native_config(dst)
    assert cfg["kind"] == "generator" and cfg["type"] == "stylegan2"
    assert set(cfg["architecture"]) == {"g_ema", "g", "d"}
    assert cfg["architecture"]["g_ema"]["channels"] == {"4": 32, "8": 32, "16": 32, "32": 32, "64": 16}
    assert cfg["metadata"]["source_format"] == "rosinality"
    tensors, _ = load_native(dst, expect={"type": "stylegan2"})
    assert {k.split(".")[0] for k in tensors} == {"g_ema", "g", "d"}
    assert "g_ema.w_avg" in tensors and "g.noises.noise_8" in tensors

    back = load_stylegan2_native(dst)
    for role in ("g_ema", "g"):
        a, b = getattr(rosi_ckpt, role), getattr(back, role)
        ws = a.styles_to_ws([cases["z"]])
        assert torch.equal(a.synthesis(ws, noise_mode="const"), b.synthesis(ws, noise_mode="const"))
        assert torch.equal(a.w_avg, b.w_avg)
    assert torch.equal(rosi_ckpt.d(cases["d_img8"]), back.d(cases["d_img8"]))

    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(dst), "format": "native"}})
    assert err(G.synthesis(G.mapping(cases["z"], 0.7)), cases["img_trunc"]) <= IMG_TOL
    D = ganedit.build("discriminator", {"type": "stylegan2", "params": {"checkpoint": str(dst)}})
    assert err(D(cases["d_img"]), cases["d_out"]) <= 2e-5


@torch.no_grad()
def test_component_save_round_trip(tmp_path, rosi_dir, cases):
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(rosi_dir / "checkpoint.pt")}})
    G.noise_buffers()[0].mul_(-1)  # tuned state must survive saving
    out = tmp_path / "tuned.safetensors"
    G.save(out)
    G2 = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(out)}})
    ws = G.mapping(cases["z"])
    assert torch.equal(G.synthesis(ws), G2.synthesis(ws))
    assert G2.discriminator() is not None


def test_native_of_another_type_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_native(path, {"x": torch.zeros(2)}, {"kind": "generator", "type": "swapae", "architecture": {}})
    with pytest.raises(CheckpointError, match=r"other\.safetensors: not a StyleGAN2 checkpoint"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match=r"type='swapae', expected 'stylegan2'"):
        load_checkpoint(path, "native")


def test_native_with_bad_architecture(tmp_path, rosi_ckpt):
    path = tmp_path / "bad.safetensors"
    save_stylegan2_native(path, g_ema=rosi_ckpt.g_ema)
    tensors, cfg = load_native(path)
    cfg["architecture"]["g_ema"]["n_mlp"] = 3
    save_native(path, tensors, {k: v for k, v in cfg.items() if k != "format_version"})
    with pytest.raises(CheckpointError, match=r"bad\.safetensors: 'g_ema' tensors does not match the StyleGAN2 "
                                              r"architecture \(unexpected style\.4\.(bias|weight)"):
        load_checkpoint(path)
    cfg["architecture"]["g_ema"]["n_mlp"] = 4
    cfg["architecture"]["g_ema"]["size"] = 128
    save_native(path, tensors, {k: v for k, v in cfg.items() if k != "format_version"})
    with pytest.raises(CheckpointError, match=r"channels table misses resolutions \[128\]"):
        load_checkpoint(path)
    cfg["architecture"]["g_ema"]["size"] = 100
    save_native(path, tensors, {k: v for k, v in cfg.items() if k != "format_version"})
    with pytest.raises(CheckpointError, match=r"invalid g_ema \(config\) architecture .*power of two"):
        load_checkpoint(path)


def test_which_train_missing(tmp_path, rosi_dir):
    with pytest.raises(CheckpointError, match=r"converted_style\.pt: rosinality checkpoint has no g \(training"):
        ganedit.build("generator", {"type": "stylegan2", "params": {
            "checkpoint": str(rosi_dir / "converted_style.pt"), "which": "train"}})


def test_metadata_is_json(tmp_path, raw_checkpoint):
    path = tmp_path / "train.pt"
    torch.save(train_layout(raw_checkpoint), path)
    dst = tmp_path / "native.safetensors"
    convert_rosinality(path, dst)
    meta = read_native_config(dst)["metadata"]
    json.dumps(meta)
    assert meta["args"]["iter"] == 800000 and meta["latent_avg"].startswith("estimated")
    assert Path(meta["source_file"]).name == "train.pt"


# --------------------------------------------------------------------------- NVIDIA bridge (component level)


@torch.no_grad()
def test_nvidia_pickle_through_component_and_convert(tmp_path):
    pytest.importorskip("ganedit_stylegan2.nvidia")
    folder = fixtures_dir() / "stylegan2_ada_nvidia"
    if not (folder / "network.pkl").is_file():
        pytest.skip(f"NVIDIA fixture not found at {folder}")
    pkl = folder / "network.pkl"
    nv = torch.load(folder / "cases.pt", weights_only=True)
    assert sniff_format(pkl) == "nvidia"
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(pkl)}})
    ws = G.mapping(nv["z"], truncation_psi=0.7, truncation_cutoff=4)
    assert err(ws, nv["ws_trunc_cutoff"]) <= 1e-5
    assert err(G.synthesis(G.mapping(nv["z"])), nv["img"]) <= IMG_TOL
    assert G.discriminator() is not None
    # convert -> native keeps G_ema, G and D and their outputs exactly.
    reg = make_registry(sg2_plugin)
    fmt = reg.sniff(pkl)
    assert fmt is not None and fmt.name == "stylegan2-nvidia"
    dst = tmp_path / "nv.safetensors"
    fmt.convert(pkl, dst)
    G2 = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(dst)}})
    ws = G.mapping(nv["z"])
    assert torch.equal(G.synthesis(ws), G2.synthesis(ws))
    assert torch.equal(G.w_avg, G2.w_avg)
    Gt = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(dst), "which": "train"}})
    assert err(Gt.synthesis(Gt.mapping(nv["z"])), nv["img_G"]) <= IMG_TOL


@torch.no_grad()
def test_cli_convert(tmp_path, rosi_dir, cases, capsys):
    cli = pytest.importorskip("ganedit.cli")
    dst = tmp_path / "cli.safetensors"
    assert cli.main(["convert", str(rosi_dir / "converted_style.pt"), str(dst)]) == 0
    assert "stylegan2-rosinality" in capsys.readouterr().out
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(dst)}})
    assert err(G.generate(Latent.wplus(cases["wplus"])), cases["img_wplus"]) <= IMG_TOL
    assert G.discriminator() is None
