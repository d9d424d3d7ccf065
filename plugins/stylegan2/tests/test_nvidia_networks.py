"""NVIDIA stylegan2-ada pickles rebuilt as ganedit networks: parity with NVIDIA's outputs and
honouring (or refusing) what the pickle records."""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import pytest
import torch

from ganedit.io.checkpoint import CheckpointError
from ganedit.testing import fixtures_dir
from ganedit_stylegan2.networks import Discriminator, Generator
from ganedit_stylegan2.nvidia import build_nvidia_networks, is_nvidia_pickle, load_nvidia_pickle
from ganedit_stylegan2.restricted_pickle import EasyDict, ModuleRecord, restricted_load

FIXTURE = fixtures_dir() / "stylegan2_ada_nvidia"

# README of the fixture: legitimate float32 differences stay below ~5e-6 (images) / 7e-7 (logits).
TOL_IMG = 1e-4
TOL_LATENT = 2e-5
TOL_LARGE_REL = 1e-5  # img_ws_large reaches ~2e3; float32 rounding there is ~1e-3


def _need_fixture() -> Path:
    if not FIXTURE.is_dir():
        pytest.skip(f"fixture folder {FIXTURE} is absent")
    return FIXTURE


@pytest.fixture(scope="module")
def nv_cases() -> dict:
    return torch.load(_need_fixture() / "cases.pt", map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def nets() -> dict:
    return build_nvidia_networks(_need_fixture() / "network.pkl")


def _max_err(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def _ws(g: Generator, z: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
    """NVIDIA's ``G.mapping(z, None, truncation_psi, truncation_cutoff)`` with ganedit's Generator."""
    ws = g.mapping(z)[:, None].repeat(1, g.num_ws, 1)
    return g.truncate(ws, psi, cutoff)


# ------------------------------------------------------------------------------ parity


@torch.no_grad()
def test_generator_parity_with_nvidia(nets, nv_cases):
    g = nets["G_ema"]
    errs = {
        "ws": _max_err(_ws(g, nv_cases["z"]), nv_cases["ws"]),
        "ws_trunc": _max_err(_ws(g, nv_cases["z"], 0.7), nv_cases["ws_trunc"]),
        "ws_trunc_cutoff": _max_err(_ws(g, nv_cases["z"], 0.7, 4), nv_cases["ws_trunc_cutoff"]),
        "w_avg": _max_err(g.w_avg, nv_cases["w_avg"]),
    }
    no_noise = g.synthesis(nv_cases["ws"], noise_mode="none")
    img_errs = {
        "img": _max_err(g.synthesis(nv_cases["ws"], noise_mode="const"), nv_cases["img"]),
        "img_trunc": _max_err(g.synthesis(nv_cases["ws_trunc"], noise_mode="const"), nv_cases["img_trunc"]),
        "img_noise_none": _max_err(no_noise, nv_cases["img_noise_none"]),
        "img_ws_mixed": _max_err(g.synthesis(nv_cases["ws_mixed"], noise_mode="const"), nv_cases["img_ws_mixed"]),
    }
    large = g.synthesis(nv_cases["ws_large"], noise_mode="const")
    large_err = _max_err(large, nv_cases["img_ws_large"])
    large_tol = TOL_LARGE_REL * nv_cases["img_ws_large"].abs().max().item()
    print("\nNVIDIA parity (max abs error):", {**errs, **img_errs, "img_ws_large": large_err})
    assert all(e <= TOL_LATENT for e in errs.values()), errs
    assert all(e <= TOL_IMG for e in img_errs.values()), img_errs
    assert large_err <= large_tol, (large_err, large_tol)
    # Sanity: the checks can fail (the noise buffers matter).
    assert _max_err(no_noise, nv_cases["img"]) > 0.1


@torch.no_grad()
def test_non_ema_generator_parity(nets, nv_cases):
    g = nets["G"]
    ws_err = _max_err(_ws(g, nv_cases["z"]), nv_cases["ws_G"])
    img_err = _max_err(g.synthesis(nv_cases["ws_G"], noise_mode="const"), nv_cases["img_G"])
    print(f"\nG (non-EMA): ws {ws_err:.2e} img {img_err:.2e}")
    assert ws_err <= TOL_LATENT and img_err <= TOL_IMG
    assert _max_err(nets["G_ema"].style[1].weight, g.style[1].weight) > 0  # really the non-EMA weights


@torch.no_grad()
def test_discriminator_parity_with_nvidia(nets, nv_cases):
    d = nets["D"]
    err8 = _max_err(d(nv_cases["d_input"]), nv_cases["d_logits"])  # two interleaved mbstd groups of 4
    err4 = _max_err(d(nv_cases["img"]), nv_cases["d_logits_fake"])  # one group of 4
    print(f"\nD logits: batch 8 {err8:.2e}, batch 4 {err4:.2e}")
    assert err8 <= TOL_LATENT and err4 <= TOL_LATENT
    # Consecutive instead of interleaved groups would be off by ~3e-3: the test can tell.
    permuted = d(nv_cases["d_input"][[0, 4, 1, 5, 2, 6, 3, 7]])[[0, 2, 4, 6, 1, 3, 5, 7]]
    assert _max_err(permuted, nv_cases["d_logits"]) > 1e-4


def test_specs_are_complete_and_rebuild(nv_cases):
    specs = load_nvidia_pickle(_need_fixture() / "network.pkl")
    assert list(specs) == ["G_ema", "G", "D"]
    gkw, gsd = specs["G_ema"]
    assert gkw == {"size": 64, "style_dim": 64, "z_dim": 64, "n_mlp": 4, "lr_mlp": 0.01, "channel_multiplier": 2,
                   "blur_kernel": [1.0, 3.0, 3.0, 1.0],
                   "channels": {"4": 64, "8": 64, "16": 64, "32": 64, "64": 32}, "conv_clamp": None}
    dkw, dsd = specs["D"]
    assert dkw["mbstd_group_size"] == 4 and dkw["mbstd_num_channels"] == 1 and dkw["conv_clamp"] is None
    g, d = Generator(**gkw), Discriminator(**dkw)
    assert g.arch.model_dump(mode="json") == gkw and d.arch.model_dump(mode="json") == dkw
    g.load_state_dict(gsd, strict=True)
    d.load_state_dict(dsd, strict=True)
    assert all(t.dtype == torch.float32 for t in (*gsd.values(), *dsd.values()))
    # NVIDIA's noise_const buffers become noises.noise_j in layer order.
    for j, name in enumerate(nv_cases["noise_const_names"]):
        assert torch.equal(gsd[f"noises.noise_{j}"][0, 0], nv_cases["noise_const"][name])


def test_loading_leaves_global_rng_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    build_nvidia_networks(_need_fixture() / "network.pkl", keys=("G_ema",))
    assert torch.equal(torch.get_rng_state(), state)


def test_sniff():
    assert is_nvidia_pickle(_need_fixture() / "network.pkl")
    assert not is_nvidia_pickle(_need_fixture() / "cases.pt")


# ------------------------------------------------------------------------------ crafted variants


def _records() -> dict:
    return restricted_load(_need_fixture() / "network.pkl")


def _write_nvidia_pickle(path: Path, data, monkeypatch, module_src: str = "# placeholder") -> Path:
    """Write records from :func:`restricted_load` back in NVIDIA's persistent-object format.

    A writer needs importable ``torch_utils.persistence`` / ``dnnlib.util`` names for the globals it
    emits; empty stand-in modules exist in ``sys.modules`` only while this test writes.
    """

    def _reconstruct_persistent_obj(meta):  # never called: the loader substitutes its own
        raise AssertionError("NVIDIA persistence code must not run")

    class EasyDictStandIn(dict):
        pass

    persistence = types.ModuleType("torch_utils.persistence")
    _reconstruct_persistent_obj.__module__ = persistence.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    EasyDictStandIn.__module__, EasyDictStandIn.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDictStandIn
    for name, mod in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                      ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)):
        monkeypatch.setitem(sys.modules, name, mod)

    class Writer(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, ModuleRecord):
                meta = {"type": "class", "version": 6, "module_src": module_src,
                        "class_name": obj.class_name, "state": obj.state}
                return _reconstruct_persistent_obj, (meta,)
            if isinstance(obj, EasyDict):
                return EasyDictStandIn, (), None, None, iter(obj.items())
            return NotImplemented

    with open(path, "wb") as fh:
        Writer(fh, protocol=4).dump(data)
    return path


def _layers(rec: ModuleRecord, *class_names: str):
    return [sub for _, sub in rec.named_records() if sub.class_name in class_names]


def test_module_src_is_never_executed(tmp_path, monkeypatch, nv_cases):
    """``module_src`` is what NVIDIA's loader would ``exec``; ours must never look at it."""
    marker = tmp_path / "marker"
    src = f"open({str(marker)!r}, 'w').write('pwned')\nraise SystemExit(1)\n"
    path = _write_nvidia_pickle(tmp_path / "net.pkl", _records(), monkeypatch, module_src=src)
    assert is_nvidia_pickle(path)
    nets = build_nvidia_networks(path, keys=("G_ema",))
    assert not marker.exists()
    with torch.no_grad():
        assert _max_err(nets["G_ema"].synthesis(nv_cases["ws"]), nv_cases["img"]) <= TOL_IMG


def test_bare_generator_pickle(tmp_path, monkeypatch):
    path = _write_nvidia_pickle(tmp_path / "g.pkl", _records()["G_ema"], monkeypatch)
    assert list(load_nvidia_pickle(path)) == ["G_ema"]
    with pytest.raises(CheckpointError, match="holds no 'D' network"):
        build_nvidia_networks(path, keys=("D",))


@torch.no_grad()
def test_conv_clamp_is_honoured(tmp_path, monkeypatch, nv_cases):
    data = _records()
    for rec in _layers(data["G_ema"], "SynthesisLayer", "ToRGBLayer"):
        rec.state["conv_clamp"] = 256
    for rec in _layers(data["D"], "Conv2dLayer"):
        if rec.state["activation"] == "lrelu":  # NVIDIA never clamps the linear skip convs
            rec.state["conv_clamp"] = 256
    path = _write_nvidia_pickle(tmp_path / "clamped.pkl", data, monkeypatch)
    specs = load_nvidia_pickle(path)
    assert specs["G_ema"][0]["conv_clamp"] == 256.0 and specs["D"][0]["conv_clamp"] == 256.0
    assert specs["G"][0]["conv_clamp"] is None  # only G_ema was changed
    nets = build_nvidia_networks(path)
    g, d = nets["G_ema"], nets["D"]
    # Ordinary activations stay far below 256: outputs unchanged.
    assert _max_err(g.synthesis(nv_cases["ws"]), nv_cases["img"]) <= TOL_IMG
    assert _max_err(d(nv_cases["d_input"]), nv_cases["d_logits"]) <= TOL_LATENT
    # The large-w probe: each of the 5 ToRGB outputs is clamped to +-256 before the skip sum.
    large = g.synthesis(nv_cases["ws_large"])
    assert nv_cases["img_ws_large"].abs().max() > 5 * 256 >= large.abs().max()
    assert _max_err(large, nv_cases["img_ws_large"]) > 100


def test_mixed_conv_clamp_is_refused(tmp_path, monkeypatch):
    data = _records()
    data["G_ema"].submodule("synthesis.b32.conv1").state["conv_clamp"] = 256
    path = _write_nvidia_pickle(tmp_path / "mixed.pkl", data, monkeypatch)
    with pytest.raises(CheckpointError, match=r"mixed\.pkl \[G_ema\]: layers disagree on conv_clamp"):
        load_nvidia_pickle(path)


@torch.no_grad()
def test_fp16_layers_run_in_fp32(tmp_path, monkeypatch, nv_cases):
    data = _records()
    for net in ("G_ema", "D"):
        for rec in _layers(data[net], "SynthesisBlock", "DiscriminatorBlock"):
            if rec.state["resolution"] >= 16:
                rec.state["use_fp16"] = True
    data["G_ema"].state["_init_kwargs"]["synthesis_kwargs"]["num_fp16_res"] = 3
    nets = build_nvidia_networks(_write_nvidia_pickle(tmp_path / "fp16.pkl", data, monkeypatch))
    assert _max_err(nets["G_ema"].synthesis(nv_cases["ws"]), nv_cases["img"]) <= TOL_IMG
    assert _max_err(nets["D"](nv_cases["d_input"]), nv_cases["d_logits"]) <= TOL_LATENT


@torch.no_grad()
@pytest.mark.parametrize("group", [2, None])
def test_mbstd_group_size_is_honoured(tmp_path, monkeypatch, nv_cases, group):
    data = _records()
    data["D"].submodule("b4.mbstd").state["group_size"] = group
    specs = load_nvidia_pickle(_write_nvidia_pickle(tmp_path / "mbstd.pkl", data, monkeypatch))
    assert specs["D"][0]["mbstd_group_size"] == group
    d = Discriminator(**specs["D"][0])
    d.load_state_dict(specs["D"][1])
    # A different grouping changes the logits by ~1e-3 (fixture README), far above float noise.
    assert _max_err(d(nv_cases["d_input"]), nv_cases["d_logits"]) > 1e-4


@torch.no_grad()
def test_layers_without_noise(tmp_path, monkeypatch, nv_cases):
    """NVIDIA layers built with ``use_noise=False`` add nothing: equal to ``noise_mode='none'``."""
    data = _records()
    for rec in _layers(data["G_ema"], "SynthesisLayer"):
        rec.state["use_noise"] = False
        del rec.state["_parameters"]["noise_strength"]
        del rec.state["_buffers"]["noise_const"]
    nets = build_nvidia_networks(_write_nvidia_pickle(tmp_path / "nonoise.pkl", data, monkeypatch), keys=("G_ema",))
    assert _max_err(nets["G_ema"].synthesis(nv_cases["ws"], noise_mode="const"), nv_cases["img_noise_none"]) <= TOL_IMG
    assert _max_err(nets["G_ema"].synthesis(nv_cases["ws"], noise_mode="random"), nv_cases["img_noise_none"]) <= TOL_IMG


def _set(path: str, key: str, value):
    def edit(data):
        net, _, sub = path.partition(".")
        data[net].submodule(sub).state[key] = value
    return edit


def _rename_class(path: str, name: str):
    def edit(data):
        net, _, sub = path.partition(".")
        data[net].submodule(sub).class_name = name
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set("G_ema.", "c_dim", 10), r"\[G_ema\]: conditional generator \(c_dim=10\)"),
    (_set("D.", "c_dim", 10), r"\[D\]: conditional discriminator"),
    (_set("G_ema.synthesis.b64", "architecture", "resnet"), r"synthesis architecture 'resnet'.*only 'skip'"),
    (_set("G_ema.synthesis.b16", "architecture", "orig"), r"synthesis architecture 'orig'"),
    (_set("D.b32", "architecture", "skip"), r"discriminator architecture 'skip'.*only 'resnet'"),
    (_set("G_ema.", "img_channels", 1), r"img_channels=1"),
    (_set("G_ema.synthesis.b8.conv0", "activation", "relu"), r"activation 'relu'"),
    (_set("D.b4.mbstd", "num_channels", 3), r"b4\.conv\.weight.*expected \[64, 67, 3, 3\]"),
    (_rename_class("G_ema.synthesis.b4", "SynthesisInput"), r"unsupported module .*SynthesisInput.*StyleGAN3"),
    (_set("G_ema.synthesis.b8.conv0", "up", "two"), r"\[G_ema\]: malformed network record \(ValueError"),
], ids=["G-c_dim", "D-c_dim", "G-resnet", "G-orig", "D-skip", "G-channels", "G-activation", "D-mbstd-mismatch",
        "stylegan3-class", "malformed-attr"])
def test_unsupported_variants_are_refused(tmp_path, monkeypatch, edit, message):
    data = _records()
    edit(data)
    path = _write_nvidia_pickle(tmp_path / "variant.pkl", data, monkeypatch)
    with pytest.raises(CheckpointError, match=message):
        load_nvidia_pickle(path)


def test_tensorflow_pickle_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "tf.pkl"
    path.write_bytes(b"\x80\x02cdnnlib.tflib.network\nNetwork\n)\x81}b.")
    with pytest.raises(CheckpointError, match="TensorFlow-era StyleGAN2 pickle.*legacy.py"):
        load_nvidia_pickle(path)


def test_nan_weights_are_refused_naming_the_tensor(tmp_path, monkeypatch):
    """A pickle whose weights hold NaN (a diverged snapshot) is refused, naming network and tensor,
    by loading and by ``ganedit convert`` alike (issue 13)."""
    from ganedit_stylegan2.plugin import convert_nvidia

    data = _records()
    rec = next(sub for _, sub in data["G_ema"].named_records() if sub.state.get("_parameters"))
    name = next(k for k, v in rec.state["_parameters"].items() if v is not None and v.is_floating_point())
    rec.state["_parameters"][name] = rec.state["_parameters"][name].clone().fill_(float("nan"))
    path = _write_nvidia_pickle(tmp_path / "nan.pkl", data, monkeypatch)
    with pytest.raises(CheckpointError, match=rf"{path}: tensor 'G_ema\.[\w.]+' holds \d+ non-finite value\(s\) \(NaN\)"):
        load_nvidia_pickle(path)
    with pytest.raises(CheckpointError, match="non-finite"):
        convert_nvidia(path, tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()
    # `ganedit validate` reads it through the format's converter (torch's safe loader cannot)
    from ganedit.io.checkpoint import DamagedWeightsError, check_weights_file
    from ganedit.registry import load_registry

    assert check_weights_file(_need_fixture() / "network.pkl", load_registry()) == "stylegan2-nvidia"
    with pytest.raises(DamagedWeightsError, match=rf"{path}: tensor 'G_ema\.[\w.]+' holds"):
        check_weights_file(path, load_registry())
