"""Run option ``precision`` on the invert task: bf16 runs, stays finite and reaches fp32's PSNR;
options the task does not use are named, not silently ignored."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import ganedit
from ganedit.io.images import save_image
from ganedit.testing import torch_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with torch_threads(1):
        yield


def _config(checkpoint: Path, image: Path, **extra) -> dict:
    cfg = {
        "task": "invert", "seed": 0, "device": "cpu",
        "generator": {"type": "stylegan2", "params": {"checkpoint": str(checkpoint)}},
        "inverter": {"type": "pti", "params": {
            "steps": 15, "lr": 3e-3, "stop": {"metric": "psnr", "threshold": 60},
            "initial": {"type": "optimization", "params": {"space": "w", "steps": 15, "w_avg_samples": 200,
                                                           "optimize_noise": False, "keep_noise": False}}}},
        "editors": [],
        "inputs": [str(image)],
    }
    cfg.update(extra)
    return cfg


def test_bf16_inversion_is_finite_and_reaches_the_fp32_psnr(tiny_checkpoint, make_target, tmp_path, capsys):
    image = tmp_path / "target.png"
    save_image(image, make_target(3)[0])
    psnrs = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / precision
        ganedit.run(_config(tiny_checkpoint, image, precision=precision), output=out, quiet=True)
        (record,) = json.loads((out / "metrics.json").read_text())["images"]
        assert record["status"] == "ok" and math.isfinite(record["psnr_final"])
        psnrs[precision] = record["psnr_final"]
    assert psnrs["bf16"] != psnrs["fp32"]  # the option took effect
    assert psnrs["bf16"] == pytest.approx(psnrs["fp32"], abs=1.0)

    ganedit.run(_config(tiny_checkpoint, image, compile=True), output=tmp_path / "compiled", quiet=False)
    assert "compile: true had no effect" in capsys.readouterr().err


def test_channels_last_changes_layouts_not_results(tiny_checkpoint, make_target, tmp_path):
    """invert on CPU runs the networks NHWC by default (about 1.1x faster); off gives the same
    inversion up to the rounding of another convolution algorithm."""
    image = tmp_path / "target.png"
    save_image(image, make_target(3)[0])
    psnrs = {}
    for cl in (True, False):
        out = tmp_path / f"cl_{cl}"
        ganedit.run(_config(tiny_checkpoint, image, channels_last=cl), output=out, quiet=True)
        (record,) = json.loads((out / "metrics.json").read_text())["images"]
        assert record["status"] == "ok"
        psnrs[cl] = record["psnr_final"]
    assert psnrs[True] == pytest.approx(psnrs[False], abs=0.05)
