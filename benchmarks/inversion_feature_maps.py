"""A control for issue 15's edit drift: the inversion residual stored as free per-image features
instead of a generator tweak (CPU). Not a test, and not a method ganedit ships.

For each held-out drawing ``x``, the config's starting inverter gives ``w``; the generator stays
frozen, and per-channel offsets ``[1, C, r, r]`` (one per channel of the chosen layers, where the
noise is injected: the single-channel noise maps widened to every channel) are fitted with the
config's reconstruction loss until the config's PSNR threshold. Edits are the config's editors.
Reported: PSNR, steps, seconds (start latent included), and two drifts of every edit ``e``:

* ``edit_drift`` as the ``invert`` task defines it: both generators render the image's own maps.
  With the weights untouched it is 0 by construction, whatever the maps hold;
* ``drift_vs_original``: the displayed edit ``G(e; maps) - G(w; maps)`` against the ORIGINAL
  generator's own edit ``G(e) - G(w)`` (its constant noise): how far the edited image is from
  "the target plus the original's edit", which a residual carried along unchanged would meet.

``--shipped`` runs the shipped ``near_perfect`` on the same images for comparison (its two drifts
nearly agree, since its maps show little through the original's noise strengths).

Usage::

    python benchmarks/inversion_feature_maps.py --threads 1 --images heldout_0 heldout_3 --layers 7 8 --shipped
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
import yaml

import ganedit
from ganedit.io.images import load_image
from ganedit.latent import Latent
from ganedit.metrics import psnr
from ganedit_inversion.generator_ops import edit_drift, fit_targets, local_drift_bound, synthesize, with_noise
from ganedit_inversion.losses import ReconstructionLoss, ReconstructionParams

ROOT = Path(__file__).resolve().parents[1]


class FeatureMaps:
    """The frozen generator rendering one image's per-channel maps (what the editors see)."""

    def __init__(self, generator, maps: list[torch.Tensor]):
        self.generator, self.maps = generator, maps

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        return synthesize(self.generator, ws, "const", [m.expand(ws.shape[0], -1, -1, -1) for m in self.maps])


def fit_feature_maps(generator, target: torch.Tensor, ws: torch.Tensor, layers: list[int], params: dict,
                     threshold: float, steps: int, lr: float) -> tuple[list[torch.Tensor], int]:
    """Per-channel offsets at the noise inputs of ``layers`` (frozen generator), fitted until PSNR >=
    ``threshold``; returns every layer's maps (the generator's own buffers elsewhere) and the steps."""
    buffers = generator.noise_buffers()
    convs = [generator.net.conv1, *generator.net.convs]
    offsets = {}
    for i in layers:
        strength = float(convs[i].noise.weight.detach())
        channels = convs[i].conv.out_channel
        offsets[i] = (torch.zeros(1, channels, *buffers[i].shape[-2:], requires_grad=True), strength)
    loss_fn = ReconstructionLoss(ReconstructionParams(**params))
    opt = torch.optim.Adam([o for o, _ in offsets.values()], lr=lr)

    def maps() -> list[torch.Tensor]:
        # conv + s * (buffer + o / s) = conv + s * buffer + o: the offset o added where the noise is
        return [buffers[i] + offsets[i][0] / offsets[i][1] if i in offsets else buffers[i]
                for i in range(len(buffers))]

    step = 0
    for step in range(steps + 1):
        recon = synthesize(generator, ws, "const", maps())
        if float(psnr(recon.detach(), target)) >= threshold or step == steps:
            break
        loss = loss_fn(recon, target).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return [m.detach() for m in maps()], step


def drifts(original, shown, edit_source, ws: torch.Tensor, target: torch.Tensor, editors, maps, tuned=None
           ) -> dict[str, float]:
    """Mean edit_drift (the task's), drift against the original's own edit, and the local bound."""
    out = {"edit_drift": [], "drift_vs_original": [], "edit_drift_local": []}
    for editor in editors:
        for edit in editor.edit(edit_source, Latent("w+", {"ws": ws})):
            e = edit.latent.ws
            out["edit_drift"].append(edit_drift(original, tuned if tuned is not None else original, ws, e, maps))
            with torch.no_grad():
                k = e.shape[0]
                d_shown = shown.synthesis(e) - shown.synthesis(ws.expand(k, -1, -1))
                d_orig = original.synthesis(e, noise_mode="const") - \
                    original.synthesis(ws.expand(k, -1, -1), noise_mode="const")
            out["drift_vs_original"].append(float((d_shown - d_orig).norm() / d_orig.norm()))
            out["edit_drift_local"].append(local_drift_bound(original, target, ws, e, None))
    return {k: sum(v) / len(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "near_inversion.yaml")
    ap.add_argument("--folder", type=Path, default=ROOT / "assets" / "images" / "heldout")
    ap.add_argument("--images", nargs="+", default=["heldout_0", "heldout_3"])
    ap.add_argument("--layers", nargs="+", type=int, default=[7, 8],
                    help="noise layers that get offsets (7 8: the two 64 px layers of the bundled model)")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--shipped", action="store_true", help="also run the shipped near_perfect")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = yaml.safe_load(a.config.read_text())
    generator = ganedit.build("generator", cfg["generator"]).eval().requires_grad_(False)
    editors = [ganedit.build("editor", e) for e in cfg["editors"]]
    inv = cfg["inverter"]["params"]
    threshold = float(inv["stop"]["threshold"])
    rows = []
    for name in a.images:
        path = next(a.folder.glob(f"{name}.*"))
        target = fit_targets(load_image(path, generator.img_resolution, "center_crop")[None], generator, "bench")
        torch.manual_seed(0)
        t0 = time.process_time()
        start = ganedit.build("inverter", inv["initial"]).invert(generator, target)
        ws = start.latent.ws.detach()
        maps, steps = fit_feature_maps(generator, target, ws, a.layers, inv.get("losses", {}), threshold,
                                       a.steps, a.lr)
        seconds = time.process_time() - t0
        shown = FeatureMaps(generator, maps)
        with torch.no_grad():
            value = float(psnr(shown.synthesis(ws), target))
        row = {"image": name, "method": f"feature maps at layers {a.layers}", "psnr": value, "steps": steps,
               "cpu_s": seconds, **drifts(generator, shown, generator, ws, target, editors, maps)}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if a.shipped:
            torch.manual_seed(0)
            t0 = time.process_time()
            result = ganedit.build("inverter", cfg["inverter"]).invert(generator, target)
            seconds = time.process_time() - t0
            ws = result.latent.ws.detach()
            shown = with_noise(result.generator, result.noise)
            with torch.no_grad():
                value = float(psnr(shown.synthesis(ws), target))
            row = {"image": name, "method": "near_perfect (shipped)", "psnr": value,
                   "steps": result.metrics["steps"], "cpu_s": seconds,
                   **drifts(generator, shown, shown, ws, target, editors, result.noise, result.generator)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    print("\n| image | method | PSNR | edit_drift (task) | drift vs original's edit | local bound | steps | CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['image']} | {r['method']} | {r['psnr']:.2f} | {r['edit_drift']:.3f} | "
              f"{r['drift_vs_original']:.3f} | {r['edit_drift_local']:.2f} | {r['steps']} | {r['cpu_s']:.1f} |")
    if a.json:
        a.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
