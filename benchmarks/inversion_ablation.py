"""Ablations of a near_perfect tweak on the bundled 64 px StyleGAN2 (CPU). Not a test.

Inverts held-out drawings with the inverter of ``configs/near_inversion.yaml`` (plus JSON overrides of
its params), then reports PSNR, ``edit_drift`` (the config's editors, as the ``invert`` task measures
it), its perfectly local bound, ``locality_mae`` (seeded noise) and CPU seconds. With ``--ablate``
it also undoes parts of the finished tweak one at a time and measures again: the image's noise maps
replaced by the original's constant buffers (or zeros), the noise strengths or the other weights
back to the original's, and each resolution's layers reverted / kept alone (StyleGAN2 64 px layer
names). This is how docs/inversion.md locates where the drift comes from.

Usage::

    python benchmarks/inversion_ablation.py --images heldout_0 heldout_3 --ablate
    python benchmarks/inversion_ablation.py --images heldout_0 --set '{"edit_weight": 1.0, "edit_every": 2}'
    python benchmarks/inversion_ablation.py --images heldout_0 --set '{"tune": "synthesis", "adversarial_every": 4, "steps": 600}'
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

import ganedit
from ganedit.io.images import load_image
from ganedit.metrics import psnr

from ganedit_inversion.generator_ops import edit_drift, local_drift_bound, locality_latents, locality_mae, with_noise

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "near_inversion.yaml"
#: the bundled 64 px StyleGAN2's synthesis layers by resolution (parameter-name prefixes)
GROUPS = {"4-8 px": ("net.input", "net.conv1", "net.to_rgb1", "net.convs.0", "net.convs.1", "net.to_rgbs.0"),
          "16 px": ("net.convs.2", "net.convs.3", "net.to_rgbs.1"),
          "32 px": ("net.convs.4", "net.convs.5", "net.to_rgbs.2"),
          "64 px": ("net.convs.6", "net.convs.7", "net.to_rgbs.3")}


def measure(original: Any, tuned: Any, noise: Any, ws: torch.Tensor, edits: list[Any], target: torch.Tensor,
            z: torch.Tensor) -> dict[str, Any]:
    """PSNR of the image, mean edit_drift (and per edit), locality_mae of ``tuned`` with ``noise``."""
    with torch.no_grad():
        rec = with_noise(tuned, noise).synthesis(ws)
    drifts = [d for d in (edit_drift(original, tuned, ws, e.latent.ws, noise) for e in edits) if d is not None]
    return {"psnr": round(float(psnr(rec, target).mean()), 2), "edit_drift": round(sum(drifts) / len(drifts), 3),
            "drifts": [round(d, 2) for d in drifts], "locality_mae": round(locality_mae(original, tuned, z), 4)}


def reverted(original: Any, tuned: Any, undo: Any) -> Any:
    """A copy of ``tuned`` with the parameters whose names satisfy ``undo`` set back to the original's."""
    out = copy.deepcopy(tuned)
    before = dict(original.named_parameters())
    with torch.no_grad():
        for name, prm in out.named_parameters():
            if undo(name):
                prm.copy_(before[name])
    return out


def ablations(original: Any, tuned: Any, noise: Any, ws: torch.Tensor, edits: list[Any], target: torch.Tensor,
              z: torch.Tensor) -> dict[str, dict[str, Any]]:
    rows = {}
    if noise is not None:
        rows["image maps -> original constant buffers"] = measure(
            original, tuned, [b.clone() for b in original.noise_buffers()], ws, edits, target, z)
        rows["image maps -> zero"] = measure(
            original, tuned, [torch.zeros_like(b) for b in original.noise_buffers()], ws, edits, target, z)
    rows["noise strengths -> original"] = measure(
        original, reverted(original, tuned, lambda n: "noise" in n), noise, ws, edits, target, z)
    rows["weights except noise strengths -> original"] = measure(
        original, reverted(original, tuned, lambda n: "noise" not in n), noise, ws, edits, target, z)
    for group, prefixes in GROUPS.items():
        rows[f"{group} layers reverted"] = measure(
            original, reverted(original, tuned, lambda n, p=prefixes: n.startswith(p)), noise, ws, edits, target, z)
        rows[f"only the {group} layers' change kept"] = measure(
            original, reverted(original, tuned, lambda n, p=prefixes: not n.startswith(p)), noise, ws, edits,
            target, z)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--images", nargs="+", default=["heldout_0", "heldout_3"],
                    help="names in assets/images/heldout, or image paths")
    ap.add_argument("--set", default="{}", help="JSON overrides of the inverter params")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ablate", action="store_true", help="also undo parts of each finished tweak")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    raw = yaml.safe_load(a.config.read_text())
    spec = raw["generator"]
    if "checkpoint" in spec.get("params", {}):
        spec = copy.deepcopy(spec)
        spec["params"]["checkpoint"] = str(ROOT / spec["params"]["checkpoint"])
    original = ganedit.build("generator", spec).eval()
    editors = [ganedit.build("editor", e) for e in raw.get("editors", [])]
    z = locality_latents(original, 16, 0)
    params = copy.deepcopy(raw["inverter"]["params"])
    params.update({"seed": a.seed, **json.loads(a.set)})
    for image in a.images:
        path = Path(image) if "/" in image else ROOT / "assets" / "images" / "heldout" / f"{image}.png"
        target = load_image(path, original.img_resolution, "center_crop")[None]
        inverter = ganedit.build("inverter", {"type": raw["inverter"]["type"], "params": params})
        c0 = time.process_time()
        result = inverter.invert(original, target, discriminator=original.discriminator())
        cpu = time.process_time() - c0
        tuned, noise, ws = result.generator, result.noise, result.latent.ws
        edits = [e for ed in editors for e in ed.edit(with_noise(tuned, noise), result.latent)]
        bounds = [b for b in (local_drift_bound(original, target, ws, e.latent.ws, noise) for e in edits)
                  if b is not None]
        row = {"image": path.stem, "steps": result.metrics["steps"], "cpu_s": round(cpu, 1),
               "psnr_start": round(result.history["psnr"][0], 2), "edit_drift_local": round(sum(bounds) / len(bounds), 3),
               **measure(original, tuned, noise, ws, edits, target, z)}
        print(json.dumps(row), flush=True)
        if a.ablate:
            for name, values in ablations(original, tuned, noise, ws, edits, target, z).items():
                print(json.dumps({"image": path.stem, "ablation": name, **values}), flush=True)


if __name__ == "__main__":
    main()
