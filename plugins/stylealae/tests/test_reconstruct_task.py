"""The reconstruction path G(E(x)) and the ``alae_reconstruct`` task on a tiny native model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import ganedit
import ganedit_stylealae.plugin as alae_plugin
from ganedit import Edit, Editor, Generator, Params
from ganedit.config import ConfigError, read_yaml, validate_config
from ganedit.testing import make_registry
from ganedit_stylealae.components import StyleALAEEncoder, StyleALAEGenerator
from ganedit_stylealae.mixing import mix_styles, mixing_grid, official_style_ranges
from ganedit_stylealae.reconstruct import reconstruct

REPO = Path(__file__).resolve().parents[3]


class FineSwapEditor(Editor, name="fine_swap"):
    """Test editor: every image takes the last two style slots of the next one (needs per-slot ws)."""

    class Params(Params):
        pass

    def __init__(self, params: Params):
        self.params = params

    def edit(self, generator: Generator, latent: ganedit.Latent, context: Any = None) -> list[Edit]:
        ws = latent.ws.clone()
        ws[:, -2:] = latent.ws.roll(1, dims=0)[:, -2:]
        return [Edit("fine swap", generator.generate(ganedit.Latent.wplus(ws), "const"))]


class StructureOnlyGenerator(StyleALAEGenerator, name="structure_only"):
    @classmethod
    def latent_spaces(cls, params: Any = None) -> tuple[str, ...]:
        return ("structure_texture",)


class _TestPlugin:
    DIST = "test-alae"
    __name__ = "test_alae"

    @ganedit.hookimpl
    def register_components(self, register) -> None:
        register(FineSwapEditor, StructureOnlyGenerator)


@pytest.fixture()
def registry():
    return make_registry(alae_plugin, _TestPlugin())


@pytest.fixture()
def image_dir(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(3):
        arr = (torch.rand(24, 24, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(d / f"img{i}.png")
    return d


def _config(native: Path, **extra: Any) -> dict:
    spec = {"type": "stylealae", "params": {"checkpoint": str(native)}}
    return {"task": "alae_reconstruct", "seed": 3, "device": "cpu", "encoder": spec, "generator": spec, **extra}


def test_reconstruct_helper(tiny_model):
    E, G = StyleALAEEncoder(tiny_model), StyleALAEGenerator(tiny_model)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        latent, rec = reconstruct(E, G, x, "const")
        assert torch.equal(rec, G.synthesis(E.encode(x).ws, "const"))
        _, r1 = reconstruct(E, G, x, "random", torch.Generator().manual_seed(1))
        _, r2 = reconstruct(E, G, x, "random", torch.Generator().manual_seed(1))
        _, r3 = reconstruct(E, G, x, "random", torch.Generator().manual_seed(2))
    assert latent.space == "w" and torch.equal(r1, r2) and not torch.equal(r1, r3)


def test_mixing_rule():
    ws = torch.arange(3 * 6 * 2, dtype=torch.float32).view(3, 6, 2)
    mixed = mix_styles(ws, ws.flip(0), [1, 3])
    assert torch.equal(mixed[:, [0, 2, 4, 5]], ws[:, [0, 2, 4, 5]])
    assert torch.equal(mixed[:, [1, 3]], ws.flip(0)[:, [1, 3]])
    grid = mixing_grid(ws, [0])
    assert grid.shape == (9, 6, 2) and torch.equal(grid[1 * 3 + 2, 0], ws[2, 0])
    assert torch.equal(grid[1 * 3 + 2, 1:], ws[1, 1:])
    assert official_style_ranges(8) == {"coarse": [0, 1, 2, 3], "middle": [4, 5, 6, 7], "fine": []}
    assert official_style_ranges(12)["fine"] == [8, 9, 10, 11]


def test_task_writes_grids_and_metrics(tmp_path, tiny_native, image_dir, registry):
    out = tmp_path / "run"
    cfg = _config(tiny_native, images=str(image_dir), procedural=[[1, 2], [3, 4]],
                  editors=[{"type": "fine_swap"}], max_mixing_images=3)
    summary = ganedit.run(cfg, output=out, registry=registry, quiet=True)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"] == summary
    assert summary["num_images"] == 5 and summary["resolution"] == 16 and summary["noise_mode"] == "random"
    names = [m["image"] for m in metrics["images"]]
    assert names == ["img0", "img1", "img2", "procedural_1_2", "procedural_3_4"]
    for m in metrics["images"]:
        assert 0 < m["psnr"] < 100 and -1 <= m["ssim"] <= 1
    assert abs(summary["psnr"] - sum(m["psnr"] for m in metrics["images"]) / 5) < 1e-4
    # tiny model: 6 style slots -> coarse 0-3, middle 4-5, no fine grid
    assert summary["style_mixing"] == {"coarse": [0, 1, 2, 3], "middle": [4, 5]}
    images = out / "images"
    grid = Image.open(images / "reconstruction_grid.png")
    assert grid.size == (2 + 5 * 18, 2 + 2 * 18)  # 5 columns, inputs over reconstructions
    mix = Image.open(images / "style_mixing_coarse.png")
    assert mix.size == (2 + 4 * 18, 2 + 4 * 18)  # (1 + 3) x (1 + 3) cells
    assert not (images / "style_mixing_fine.png").exists()
    assert (images / "reconstructions" / "procedural_3_4.png").is_file()
    assert summary["edits"][0]["label"] == "fine swap"
    assert (out / summary["edits"][0]["file"]).is_file()
    # Same seed -> same numbers (noise comes from the run-seeded generator); another seed differs.
    fast = {**cfg, "editors": [], "style_mixing": False}
    again = ganedit.run(fast, output=tmp_path / "run2", registry=registry, quiet=True)
    assert again["psnr"] == summary["psnr"]
    other = ganedit.run({**fast, "seed": 4}, output=tmp_path / "run3", registry=registry, quiet=True)
    assert other["psnr"] != summary["psnr"]


def _full_registry():
    reg = ganedit.load_registry()
    if "style_mixing" not in reg.names("editor"):
        pytest.skip("no 'style_mixing' editor registered (owned by the inversion plugin)")
    return reg


def test_shipped_config(tmp_path, tiny_native):
    registry = _full_registry()
    path = REPO / "configs" / "alae_reconstruct.yaml"
    raw = read_yaml(path)
    assert raw["generator"]["params"]["checkpoint"] == "assets/models/stylealae_32.safetensors"
    for slot in ("encoder", "generator"):
        raw[slot]["params"]["checkpoint"] = str(tiny_native)
    cfg = validate_config(raw, registry=registry, source=str(path))
    summary = ganedit.run(cfg, output=tmp_path / "shipped", registry=registry, quiet=True)
    assert summary["num_images"] == 6
    assert [e["label"] for e in summary["edits"]] == ["mix_seed7_coarse", "mix_seed7_middle"]


def test_style_mixing_editor_with_encoded_sources(tmp_path, tiny_native, image_dir, tiny_model):
    """The generic editor's image ``sources`` are encoded by E through the task's editing context."""
    registry = _full_registry()
    source = image_dir / "img1.png"
    cfg = _config(tiny_native, images=str(image_dir / "img0.png"), style_mixing=False, noise_mode="const",
                  editors=[{"type": "style_mixing", "params": {"sources": [str(source)], "layers": [[4, 5]]}}])
    summary = ganedit.run(cfg, output=tmp_path / "mix", registry=registry, quiet=True)
    assert [e["label"] for e in summary["edits"]] == ["mix_img1_L4-5"]
    E, G = StyleALAEEncoder(tiny_model), StyleALAEGenerator(tiny_model)
    from ganedit.io.images import load_image, tensor_to_pil

    with torch.no_grad():
        ws = E.encode(load_image(image_dir / "img0.png", 16)[None]).ws
        ws[:, 4:] = E.encode(load_image(source, 16)[None]).ws[:, 4:]
        expected = tensor_to_pil(G.synthesis(ws, "const")[0])
    grid = Image.open(tmp_path / "mix" / summary["edits"][0]["file"])
    cell = grid.crop((2, 2 + 18, 18, 2 + 18 + 16))  # second row: the edit
    diff = np.abs(np.asarray(cell, dtype=np.int16) - np.asarray(expected, dtype=np.int16))
    assert diff.max() <= 1  # 8-bit rounding of equal floats


def test_config_errors(tmp_path, tiny_native, registry):
    with pytest.raises(ConfigError, match="give images"):
        validate_config(_config(tiny_native), registry=registry)
    bad = _config(tiny_native, procedural=[[1, 2]])
    bad["generator"] = {"type": "structure_only", "params": {"checkpoint": str(tiny_native)}}
    with pytest.raises(ConfigError, match=r"generator.*accepts \['structure_texture'\].*outputs 'w'"):
        validate_config(bad, registry=registry)
    with pytest.raises(FileNotFoundError, match="no image files match"):
        ganedit.run(_config(tiny_native, images=str(tmp_path / "none" / "*.png")), output=tmp_path / "x",
                    registry=registry, quiet=True)


def test_shipped_encoder_near_perfect_chain(tmp_path, monkeypatch):
    """configs/alae_near_inversion.yaml: the StyleALAE encoder seeds near_perfect on the bundled
    model; a few tweak steps already improve on the encoder's one pass."""
    pytest.importorskip("ganedit_inversion")
    root = Path(__file__).resolve().parents[3]
    if not (root / "assets" / "models" / "stylealae_32.safetensors").is_file():
        pytest.skip("the bundled model assets/models/stylealae_32.safetensors is absent")
    monkeypatch.chdir(root)
    cfg = ganedit.load_config("configs/alae_near_inversion.yaml")
    assert cfg.params.inverter.params.initial.type == "encoder"
    raw = yaml.safe_load((root / "configs" / "alae_near_inversion.yaml").read_text())
    raw.update(device="cpu", editors=[], save_generator="none",
               inputs=["assets/images/procedural/procedural_301_302.png"])
    raw["inverter"]["params"]["steps"] = 8
    summary = ganedit.run(raw, output=tmp_path / "chain", quiet=True)
    assert summary["num_ok"] == 1
    assert summary["psnr_initial"] > 17.0            # the encoder's reconstruction (18.75 dB on this image)
    assert summary["psnr_final"] > summary["psnr_initial"] + 0.5
    assert summary["steps"] == 8


def test_shipped_config_on_the_bundled_model(tmp_path, monkeypatch):
    """``configs/alae_reconstruct.yaml`` as shipped, on the bundled model: held-out reconstruction above
    the bound its model card states (measured 17.53 dB / SSIM 0.267; the stage-1 official model: 13.7 /
    0.07; the target 18 / 0.5 and what limits it: docs/models.md), well above painting each image
    its mean colour (15.66 dB / 0.21), and the latent reciprocity of the method intact (E inverts
    G's own samples far better than real images)."""
    from ganedit.data import render
    from ganedit.metrics import psnr, ssim
    from ganedit_stylealae.model import ALAEModel

    bundled = REPO / "assets" / "models" / "stylealae_32.safetensors"
    if not bundled.is_file():
        pytest.skip("the bundled model assets/models/stylealae_32.safetensors is absent")
    registry = _full_registry()
    monkeypatch.chdir(REPO)
    raw = read_yaml(REPO / "configs" / "alae_reconstruct.yaml")
    raw.update(device="cpu", editors=[], style_mixing=False)
    summary = ganedit.run(raw, output=tmp_path / "shipped", registry=registry, quiet=True)
    x = torch.stack([render(s, t, 32) for s, t in raw["procedural"]])
    mean_colour = x.mean((2, 3), keepdim=True).expand_as(x)
    reference = float(psnr(mean_colour, x).mean())          # 15.66 dB, SSIM 0.21
    assert summary["num_images"] == 6
    assert summary["psnr"] > 17.3 and summary["ssim"] > 0.24, (summary["psnr"], summary["ssim"])
    assert summary["psnr"] > reference + 1.5
    # The method, not a plain autoencoder: F's samples G(F(z)) re-encode to their w.
    model = ALAEModel.from_checkpoint(bundled).eval()
    with torch.no_grad():
        w = model.mapping_f(torch.randn(16, model.arch.latent_size, generator=torch.Generator().manual_seed(1)))
        fakes = model.decoder(w[:, None].repeat(1, model.arch.num_ws, 1), None, 1.0, "const")
        rec = model.decoder(model.encoder(fakes)[:, None].repeat(1, model.arch.num_ws, 1), None, 1.0, "const")
    assert float(psnr(rec, fakes).mean()) > 22.0
    assert float(ssim(rec, fakes).mean()) > 0.7
