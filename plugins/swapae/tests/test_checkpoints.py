"""Official checkpoint loading (opt.txt / shape inference / overrides), native format, convert,
and clear errors for bad inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import ganedit
from ganedit.io.checkpoint import CheckpointError, read_native_config, save_native
from ganedit.config import ConfigError
from ganedit_swapae.checkpoint import (convert_official, is_official_checkpoint, load_official, load_swapae,
                                       read_opt_txt, save_swapae)


def _copy(src: Path, dst_dir: Path, with_opt: bool) -> Path:
    dst = dst_dir / "latest_checkpoint.pth"
    shutil.copyfile(src, dst)
    if with_opt:
        shutil.copyfile(src.parent / "opt.txt", dst_dir / "opt.txt")
    return dst


def _outputs(model, cases, fixed_noise) -> dict[str, torch.Tensor]:
    model.generator.set_fixed_noise(fixed_noise)
    with torch.no_grad():
        sp, gl = model.encoder(cases["x1"][:2])
        return {"sp": sp, "gl": gl, "rec": model.generator(sp, gl), "d": model.discriminator(cases["x1"][:2]),
                "p": model.patch_discriminator(cases["patch_real_crops"][:1], cases["patch_mix_crops"][:1])}


def test_opt_txt_parsing(official_dir):
    opt = read_opt_txt(official_dir / "opt.txt")
    assert opt["crop_size"] == 64 and opt["netE_scale_capacity"] == 0.25
    assert opt["use_antialias"] is True and opt["preprocess_crop_padding"] is None
    assert opt["netG_use_noise"] is True and opt["easy_label"] == ""


def test_without_opt_txt_shapes_decide(official_ckpt, tmp_path, official, cases, fixed_noise):
    """No opt.txt: the same networks come out of the tensor shapes (crop size from D's head)."""
    path = _copy(official_ckpt, tmp_path, with_opt=False)
    model = load_official(path)
    assert model.generator.img_resolution == 64 and model.discriminator.arch.resolution == 64
    assert model.patch_discriminator.sampling.num_crops == 8  # not in the shapes: official default
    a, b = _outputs(model, cases, fixed_noise), _outputs(official, cases, fixed_noise)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_config_overrides(official_ckpt):
    G = ganedit.build("generator", {"type": "swapae", "params": {"checkpoint": str(official_ckpt),
                                                                 "use_noise": False, "noise_seed": 3}})
    assert G.noise_layers() == [f"HeadResnetBlock{i}.conv{j}" for i in (0, 1) for j in (1, 2)]
    P = ganedit.build("discriminator", {"type": "swapae_patch", "params": {"checkpoint": str(official_ckpt),
                                                                          "patch_num_crops": 4}})
    assert P.sampling.num_crops == 4
    with pytest.raises(CheckpointError, match=r"latest_checkpoint\.pth.*global_code_ch is 64 in the weights but "
                                              r"128 in the config"):
        ganedit.build("encoder", {"type": "swapae", "params": {"checkpoint": str(official_ckpt),
                                                               "global_code_ch": 128}})


def test_opt_txt_mismatch_is_an_error(official_ckpt, tmp_path):
    path = _copy(official_ckpt, tmp_path, with_opt=True)
    opt = tmp_path / "opt.txt"
    opt.write_text(opt.read_text().replace("netE_num_downsampling_sp: 3 ", "netE_num_downsampling_sp: 4 "))
    with pytest.raises(CheckpointError) as err:
        load_swapae(path, parts=("generator",))
    msg = str(err.value)
    assert str(path) in msg and "opt.txt" in msg and "num_downsampling_sp is 3 in the weights but 4" in msg
    opt.write_text(opt.read_text().replace("crop_size: 64 ", "crop_size: 128 "))
    with pytest.raises(CheckpointError, match="resolution is 64 in the weights but 128 in opt.txt"):
        load_swapae(path, parts=("discriminator",))


def test_missing_truncated_foreign(official_ckpt, tmp_path):
    spec = lambda p: {"type": "swapae", "params": {"checkpoint": str(p)}}  # noqa: E731
    missing = tmp_path / "nope_checkpoint.pth"
    # a missing file is a config error, named with its path, before anything is built
    with pytest.raises(ConfigError, match=r"generator\.params\.checkpoint \(swapae\): file not found: .*nope_checkpoint\.pth"):
        ganedit.build("generator", spec(missing))

    truncated = tmp_path / "truncated_checkpoint.pth"
    truncated.write_bytes(official_ckpt.read_bytes()[: 600_000])
    with pytest.raises(CheckpointError, match=r"truncated_checkpoint\.pth"):
        ganedit.build("encoder", spec(truncated))

    foreign = tmp_path / "rosinality.pt"
    torch.save({"g_ema": {"conv1.weight": torch.zeros(1)}, "d": {}}, foreign)
    with pytest.raises(CheckpointError, match=r"rosinality\.pt: not an official SwapAE checkpoint"):
        ganedit.build("encoder", spec(foreign))

    other_native = tmp_path / "other.safetensors"
    save_native(other_native, {"w": torch.zeros(2)}, {"kind": "generator", "type": "stylegan2"})
    with pytest.raises(CheckpointError, match=r"other\.safetensors: checkpoint is a 'generator'/'stylegan2'"):
        ganedit.build("generator", spec(other_native))

    # E and G only: asking for the patch discriminator names what is missing.
    state = torch.load(official_ckpt, weights_only=True)
    eg = tmp_path / "eg_checkpoint.pth"
    torch.save({k: v for k, v in state.items() if k.startswith(("E.", "G."))}, eg)
    with pytest.raises(CheckpointError, match=r"eg_checkpoint\.pth: has no patch_discriminator weights"):
        ganedit.build("discriminator", {"type": "swapae_patch", "params": {"checkpoint": str(eg)}})

    # A tensor of the wrong shape.
    bad = dict(state)
    bad["G.ToRGB.conv.weight"] = torch.zeros(1, 3, 15, 1, 1)
    badp = tmp_path / "bad_checkpoint.pth"
    torch.save(bad, badp)
    with pytest.raises(CheckpointError, match=r"bad_checkpoint\.pth: generator tensor 'ToRGB.conv.weight' has shape"):
        load_swapae(badp, parts=("generator",))
    # A missing tensor.
    del bad["G.ToRGB.conv.weight"]
    torch.save(bad, badp)
    with pytest.raises(CheckpointError, match=r"bad_checkpoint\.pth: generator weights do not fit.*missing"):
        load_swapae(badp, parts=("generator",))


def test_sniff_and_convert_round_trip(official_ckpt, tmp_path, official, cases, fixed_noise):
    reg = ganedit.load_registry()
    fmt = reg.sniff(official_ckpt)
    assert fmt is not None and fmt.name == "swapae_official"
    assert is_official_checkpoint(official_ckpt)
    dst = tmp_path / "swapae.safetensors"
    fmt.convert(official_ckpt, dst)
    assert not is_official_checkpoint(dst)
    cfg = read_native_config(dst)
    assert cfg["kind"] == "autoencoder" and cfg["type"] == "swapae"
    assert set(cfg["parts"]) == {"encoder", "generator", "discriminator", "patch_discriminator"}
    native = load_swapae(dst)
    a, b = _outputs(native, cases, fixed_noise), _outputs(official, cases, fixed_noise)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # Native through the registry, fixed noise kept in the file.
    official.generator.set_fixed_noise(fixed_noise)
    save_swapae(dst, official)
    G = ganedit.build("generator", {"type": "swapae", "params": {"checkpoint": str(dst)}})
    with torch.no_grad():
        assert torch.equal(G(cases["sp1"], cases["gl1"]), official.generator(cases["sp1"], cases["gl1"]))
        assert (G(cases["sp1"], cases["gl1"]) - cases["rec"]).abs().max() < 1e-4


def test_cli_convert(official_ckpt, tmp_path):
    from ganedit.cli import main

    dst = tmp_path / "cli.safetensors"
    assert main(["convert", str(official_ckpt), str(dst)]) == 0
    assert read_native_config(dst)["type"] == "swapae"


def test_convert_keeps_official_fixed_noise(official_ckpt, tmp_path, fixed_noise, cases):
    """A state dict saved after the official fix_noise() has G.*.noise.fixed_noise entries."""
    state = torch.load(official_ckpt, weights_only=True)
    for k, v in fixed_noise.items():
        state[f"G.{k}.fixed_noise"] = v
    src = tmp_path / "fixed_checkpoint.pth"
    torch.save(state, src)
    shutil.copyfile(official_ckpt.parent / "opt.txt", tmp_path / "opt.txt")
    dst = tmp_path / "fixed.safetensors"
    convert_official(src, dst)
    G = load_swapae(dst, parts=("generator",)).generator
    with torch.no_grad():
        assert (G(cases["sp1"], cases["gl1"]) - cases["rec"]).abs().max() < 1e-4


def test_tiny_native_round_trip(tiny, tiny_path):
    loaded = load_swapae(tiny_path)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        sp, gl = tiny.encoder(x)
        sp2, gl2 = loaded.encoder(x)
        assert torch.equal(sp, sp2) and torch.equal(gl, gl2)
        assert sp.shape == (2, 4, 8, 8) and gl.shape == (2, 32)
        assert torch.equal(tiny.generator(sp, gl), loaded.generator(sp, gl))
        assert torch.equal(tiny.discriminator(x), loaded.discriminator(x))
        crops = tiny.patch_discriminator.sample_crops(x, torch.Generator().manual_seed(0))
        assert crops.shape == (2, 2, 3, 16, 16)
        assert torch.equal(tiny.patch_discriminator(crops, crops), loaded.patch_discriminator(crops, crops))
    # Only some parts stored: the others are reported missing.
    part = tiny_path.parent / "encoder_only.safetensors"
    save_swapae(part, encoder=tiny.encoder)
    assert load_swapae(part, parts=("encoder",)).encoder is not None
    with pytest.raises(CheckpointError, match=r"encoder_only\.safetensors: has no generator weights"):
        load_swapae(part, parts=("generator",))
