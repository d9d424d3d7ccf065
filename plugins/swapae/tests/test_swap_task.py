"""The ``swapae_swap`` task end to end on a tiny native model, and its shipped config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import ganedit
from ganedit.config import ConfigError, load_config
from ganedit.io.images import load_image, save_image
from ganedit.testing import ToyPlugin, make_registry, repo_root


def test_swap_task_run(tiny, tiny_path, tmp_path):
    g = torch.Generator().manual_seed(0)
    img_dir = tmp_path / "inputs"
    for i in range(2):
        save_image(img_dir / f"s{i}.png", torch.rand(3, 32, 32, generator=g) * 2 - 1)
    config = {
        "task": "swapae_swap",
        "seed": 0,
        "device": "cpu",
        "encoder": {"type": "swapae", "params": {"checkpoint": str(tiny_path)}},
        "generator": {"type": "swapae", "params": {"checkpoint": str(tiny_path)}},
        "structure_images": [str(img_dir)],
        "procedural": {"structure": [[1, 2]], "texture": [[3, 4], [5, 6]]},
        "editors": [
            {"type": "texture_interpolation", "params": {"strengths": [0, 1]}},
            {"type": "region_texture", "params": {"regions": [{"shape": "left", "texture_index": 1}]}},
        ],
    }
    out = tmp_path / "run"
    summary = ganedit.run(config, output=out, quiet=True)
    assert summary["num_structure"] == 3 and summary["num_texture"] == 2 and summary["resolution"] == 32
    assert "swap_psnr_vs_truth" in summary and summary["reconstruction_psnr"] > 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"]["editors"][0]["edits"] == [
        "interp_00_proc_s3_t4_0", "interp_00_proc_s3_t4_1", "interp_01_proc_s5_t6_0", "interp_01_proc_s5_t6_1"]
    assert sum(r["kind"] == "swap" for r in metrics["images"]) == 2  # procedural x procedural pairs only
    images = out / "images"
    grid = load_image(images / "swap_grid.png")
    assert grid.shape == (3, 4 * 34 + 2, 3 * 34 + 2)  # (1 + 3 structures) x (1 + 2 textures), 2 px gaps
    assert (images / "edits" / "1_region_texture" / "grid.png").is_file()

    # A written swap is the generator's output for (structure 0, texture 1), up to 8-bit rounding.
    E, G = tiny.encoder, tiny.generator
    with torch.no_grad():
        s = E.encode(load_image(img_dir / "s0.png", 32)[None])
        from ganedit.data import render

        t = E.encode(render(5, 6, 32, 2)[None])
        ref = G.generate(ganedit.Latent.structure_texture(s.structure, t.texture))[0].clamp(-1, 1)
    written = load_image(images / "swaps" / "00_s0__01_proc_s5_t6.png")
    assert (written - ref).abs().max() <= 1.01 / 127.5
    # Interpolation at 0 is the reconstruction, at 1 the swap (same files, same rounding).
    interp1 = load_image(images / "edits" / "0_texture_interpolation" / "00_s0" / "interp_01_proc_s5_t6_1.png")
    assert (interp1 - written).abs().max() <= 1.01 / 127.5
    assert json.loads((out / "plugins.json").read_text())["used"]["ganedit-swapae"]


def test_swap_task_validation(tiny_path):
    from ganedit_swapae import plugin

    reg = make_registry(plugin, ToyPlugin())
    base = {"task": "swapae_swap",
            "encoder": {"type": "swapae", "params": {"checkpoint": str(tiny_path)}},
            "generator": {"type": "toy", "params": {}},
            "procedural": {"structure": [[1, 2]], "texture": [[3, 4]]}}
    from ganedit.config import validate_config

    with pytest.raises(ConfigError, match="does not accept 'structure_texture'"):
        validate_config(base, registry=reg)
    base["generator"] = {"type": "swapae", "params": {}}
    base["procedural"] = {"structure": [[1, 2]]}
    with pytest.raises(ConfigError, match="give texture_images or procedural.texture"):
        validate_config(base, registry=reg)
    base["texture_images"] = ["/nonexistent/folder"]
    with pytest.raises(ConfigError, match="file or folder not found"):
        validate_config(base, registry=reg)


def test_shipped_config_validates(monkeypatch):
    if not (repo_root() / "assets" / "models" / "swapae_64.safetensors").is_file():
        pytest.skip("the bundled model assets/models/swapae_64.safetensors is absent (see docs/models.md)")
    monkeypatch.chdir(repo_root())
    cfg = load_config("configs/swapae_swap.yaml")
    assert cfg.task == "swapae_swap"
    assert cfg.params.generator.params.checkpoint == Path("assets/models/swapae_64.safetensors")
    assert [e.type for e in cfg.params.editors] == ["texture_interpolation", "region_texture"]


def test_shipped_config_runs_on_the_bundled_model(monkeypatch, tmp_path):
    """``configs/swapae_swap.yaml`` as shipped: every output is written and, on its twelve held-out
    pairs, the bundled model's swaps are closer to the ground truth than both trivial baselines:
    "output B" (B's texture on B's layout) and "output A" (A unchanged)."""
    if not (repo_root() / "assets" / "models" / "swapae_64.safetensors").is_file():
        pytest.skip("the bundled model assets/models/swapae_64.safetensors is absent (see docs/models.md)")
    from ganedit.metrics import psnr
    from ganedit_swapae import BUNDLED_DRAWING

    monkeypatch.chdir(repo_root())
    out = tmp_path / "run"
    summary = ganedit.run("configs/swapae_swap.yaml", output=out, device="cpu", quiet=True)
    assert summary["num_structure"] == 4 and summary["num_texture"] == 3 and summary["resolution"] == 64
    assert summary["reconstruction_psnr"] > 20.0
    proc = load_config("configs/swapae_swap.yaml").params.procedural
    assert (tuple(proc.patterns), proc.shape_labels, proc.palette) == (
        BUNDLED_DRAWING["patterns"], BUNDLED_DRAWING["shape_labels"], BUNDLED_DRAWING["palette"])
    # the baselines as the task reports them, recomputed from the factors
    truths = [proc.render(s, tt, 64)[None] for s, _ in proc.structure for _, tt in proc.texture]
    output_a = [float(psnr(proc.render(s, ts, 64)[None], t)[0])
                for (s, ts), t in zip([f for f in proc.structure for _ in proc.texture], truths)]
    output_b = [float(psnr(proc.render(*f, 64)[None], t)[0])
                for f, t in zip([f for _ in proc.structure for f in proc.texture], truths)]
    assert summary["output_a_psnr_vs_truth"] == pytest.approx(sum(output_a) / len(output_a), abs=1e-4)
    assert summary["output_b_psnr_vs_truth"] == pytest.approx(sum(output_b) / len(output_b), abs=1e-4)
    assert summary["swap_psnr_vs_truth"] > summary["output_b_psnr_vs_truth"] + 1.0
    assert summary["swap_psnr_vs_truth"] > summary["output_a_psnr_vs_truth"] + 1.0
    assert (out / "images" / "swap_grid.png").is_file()
    assert (out / "images" / "edits" / "1_region_texture" / "grid.png").is_file()
