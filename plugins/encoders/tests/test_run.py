"""`ganedit run` of the chain users run: e4e encoder -> near_perfect generator tweak -> GANSpace and
InterFaceGAN-style direction edits, on the official e4e fixture (64 px decoder) on CPU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

import ganedit
from ganedit.cli import main
from ganedit.io.images import load_image, save_image
from ganedit.metrics import psnr

from ganedit_inversion import load_latent


def ganspace_npz(G, path, components: int = 4) -> None:
    """A GANSpace --use_w decomposition of G's mapped w, in GANSpace's .npz layout."""
    z = torch.randn(2000, G.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        w = G.mapping(z, 1.0, None)[:, 0].double()
    mean = w.mean(0)
    comp = torch.linalg.svd(w - mean, full_matrices=False)[2][:components]
    std = ((w - mean) @ comp.T).std(0)
    np.savez_compressed(path, lat_comp=comp[:, None].float().numpy(), lat_mean=mean[None].float().numpy(),
                        lat_stdev=std.float().numpy())


@pytest.fixture(params=["official_fixture", "tiny_random"])
def e4e_source(request, tmp_path):
    """(e4e checkpoint, a face image file): the official e4e fixture (64 px decoder) when
    ../shared is present, and always a tiny random e4e file in the official layout (16 px)."""
    if request.param == "official_fixture":
        folder = request.getfixturevalue("e4e_psp_dir")
        cases = request.getfixturevalue("load_cases")("e4e")
        image = cases["x_uint8"][0].float() / 127.5 - 1
        ckpt = folder / "e4e" / "checkpoint.pt"
    else:
        ckpt = request.getfixturevalue("official_file")("Encoder4Editing", seed=7)
        image = torch.rand(3, 48, 48, generator=torch.Generator().manual_seed(2)) * 2 - 1
    save_image(tmp_path / "faces" / "face0.png", image)
    return ckpt, tmp_path / "faces"


def test_e4e_near_perfect_ganspace_direction(e4e_source, tmp_path):
    ckpt, faces = e4e_source
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(ckpt)}})
    res = G.img_resolution
    ganspace_npz(G, tmp_path / "ganspace.npz")
    boundary = torch.randn(1, G.w_dim, generator=torch.Generator().manual_seed(1))
    np.save(tmp_path / "smile.npy", (boundary / boundary.norm()).numpy())  # InterFaceGAN layout [1, w_dim]

    encoder = {"type": "e4e", "params": {"checkpoint": str(ckpt)}}
    config = {
        "task": "invert", "seed": 0, "device": "cpu", "threads": 1,
        "generator": {"type": "stylegan2", "params": {"checkpoint": str(ckpt)}},  # the e4e file's decoder
        "inverter": {"type": "near_perfect", "params": {
            "initial": {"type": "encoder", "params": {"encoder": encoder}},
            "steps": 6, "global_every": 2, "adversarial_every": 2, "stop": {"metric": "psnr", "threshold": 60},
            # the e4e file holds no image discriminator: a small random one for the adversarial terms
            "discriminator": {"type": "stylegan2", "params": {
                "resolution": res, "channels": {2**i: 16 for i in range(2, res.bit_length())}, "seed": 3}}}},
        "editors": [
            {"type": "ganspace", "params": {"path": str(tmp_path / "ganspace.npz"), "edits": [
                {"component": 0, "sigmas": [-2.0, 2.0]},
                {"component": 1, "layers": [3], "sigmas": [5.0], "label": "c1_layer3"}]}},
            {"type": "direction", "params": {"path": str(tmp_path / "smile.npy"), "strengths": [3.0]}},
        ],
        "inputs": str(faces),
    }
    (tmp_path / "chain.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    assert main(["run", str(tmp_path / "chain.yaml"), "--output", str(out), "--quiet"]) == 0

    record = json.loads((out / "metrics.json").read_text())["images"][0]
    assert record["status"] == "ok", record
    assert record["edits"] == ["ganspace0_-2", "ganspace0_+2", "c1_layer3_+5", "smile_+3"]
    for label in record["edits"] + ["target", "initial", "final", "grid"]:
        assert (out / "images" / "face0" / f"{label}.png").is_file(), label
    assert 1 <= record["steps"] <= 6 and record["psnr_final"] > record["psnr_initial"]

    # The starting point is exactly the e4e encoding of the target (resized to 256 inside).
    target = load_image(faces / "face0.png", res, "center_crop")[None]
    E = ganedit.build("encoder", encoder)
    with torch.no_grad():
        code = E.encode(target)
        assert float(psnr(G.generate(code), target)) == pytest.approx(record["psnr_initial"], abs=1e-3)
    saved = load_latent(out / record["latent"])
    assert torch.allclose(saved.ws, code.ws, atol=1e-5)


def stand_ins(root, e4e_file, cases) -> None:
    """The files configs/ffhq_e4e_*.yaml expect, as small stand-ins: the official e4e fixture
    (64 px decoder, 10 styles of width 24) for e4e_ffhq_encode.pt, random directions and GANSpace
    components of width 24, one face."""
    import shutil

    models = root / "pretrained_models"
    (models / "editings" / "interfacegan_directions").mkdir(parents=True)
    (models / "editings" / "ganspace_pca").mkdir(parents=True)
    shutil.copy(e4e_file, models / "e4e_ffhq_encode.pt")
    g = torch.Generator().manual_seed(0)
    for name in ("age", "smile"):
        d = torch.randn(1, 24, generator=g)
        torch.save(d / d.norm(), models / "editings" / "interfacegan_directions" / f"{name}.pt")
    comp = torch.randn(60, 1, 24, generator=g)
    torch.save({"mean": torch.zeros(1, 24), "comp": comp / comp.norm(dim=-1, keepdim=True),
                "std": torch.rand(60, generator=g) + 0.5}, models / "editings" / "ganspace_pca" / "ffhq_pca.pt")
    save_image(root / "inputs" / "faces" / "face0.png", cases["x_uint8"][0].float() / 127.5 - 1)


def test_shipped_ffhq_configs_run_on_stand_ins(e4e_psp_dir, load_cases, tmp_path, monkeypatch):
    """configs/ffhq_e4e_pti.yaml runs end to end once its files exist (here: fixture stand-ins, 3 PTI
    steps); the near-perfect twin validates with them."""
    from ganedit.config import load_config
    from ganedit.registry import set_registry
    from ganedit.testing import repo_root

    stand_ins(tmp_path, e4e_psp_dir / "e4e" / "checkpoint.pt", load_cases("e4e"))
    monkeypatch.chdir(tmp_path)
    set_registry(None)
    configs = repo_root() / "configs"
    (tmp_path / "pretrained_models" / "stylegan2-ffhq-config-f.pkl").write_bytes(b"")  # existence is what validation checks
    assert load_config(configs / "ffhq_e4e_near.yaml").params.inverter.type == "near_perfect"
    out = tmp_path / "run"
    assert main(["run", str(configs / "ffhq_e4e_pti.yaml"), "--output", str(out), "--quiet", "--device", "cpu",
                 "--set", "inverter.params.steps=3", "--set", "threads=1"]) == 0
    record = json.loads((out / "metrics.json").read_text())["images"][0]
    assert record["status"] == "ok", record
    assert record["edits"][:5] == ["age_-3", "age_+3", "smile_-2", "smile_+2", "eye_openness_+20"]
    assert record["steps"] == 3 and (out / record["generator"]).is_file()
