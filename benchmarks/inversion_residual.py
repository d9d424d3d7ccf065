"""Why near_perfect's edit drift is high on the held-out drawings: drift against the size of the
inversion residual (CPU). Not a test.

For each held-out drawing ``x``, the config's starting inverter gives ``w`` on the original generator;
the targets ``G(w) + a * (x - G(w))`` (``a`` in ``--scales``; 1 = the drawing itself) move from the
generator's own image toward the drawing. Each is saved as an 8-bit PNG and inverted with the
config's ``invert`` task (inverter and editors as shipped), so the only thing that changes is how
far the target is from what the generator reaches. Reported per target: start PSNR, final PSNR,
``edit_drift``, ``edit_drift_local`` (the drift of a perfectly local tweak: the residual over the
edit's effect), their ratio, locality and steps.

Usage::

    python benchmarks/inversion_residual.py --threads 1 --scales 0.25 0.5 1 --images heldout_0 heldout_1
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
from pathlib import Path

import torch
import yaml

import ganedit
from ganedit.io.images import load_image, save_image

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=ROOT / "configs" / "near_inversion.yaml")
    ap.add_argument("--folder", type=Path, default=ROOT / "assets" / "images" / "heldout")
    ap.add_argument("--images", nargs="+", default=["heldout_0", "heldout_1"], help="image names in --folder")
    ap.add_argument("--scales", nargs="+", type=float, default=[0.25, 0.5, 1.0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--output", type=Path, default=ROOT / "runs" / "bench_residual")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    base = yaml.safe_load(args.config.read_text())
    generator = ganedit.build("generator", base["generator"]).eval()
    initial = ganedit.build("inverter", base["inverter"]["params"]["initial"])
    targets = args.output / "targets"
    targets.mkdir(parents=True, exist_ok=True)
    scale_of: dict[str, tuple[str, float]] = {}
    for name in args.images:
        x = load_image(args.folder / f"{name}.png", generator.img_resolution, base.get("resize", "center_crop"))[None]
        start = initial.invert(generator, x)
        with torch.no_grad():
            gw = generator.generate(start.latent, noise_mode="const")
        for a in args.scales:
            stem = f"{name}_a{round(a * 100):03d}"
            save_image(targets / f"{stem}.png", (gw + a * (x - gw)).clamp(-1, 1)[0])
            scale_of[stem] = (name, a)

    cfg = copy.deepcopy(base)
    cfg.update(device="cpu", inputs=[str(targets)], save_generator="none", resume=False)
    ganedit.run(cfg, output=args.output / "run", quiet=True)
    records = json.loads((args.output / "run" / "metrics.json").read_text())["images"]

    rows = []
    for r in records:
        name, a = scale_of[r["name"]]
        rows.append({"image": name, "scale": a, **{k: r.get(k) for k in (
            "psnr_initial", "psnr_final", "edit_drift", "edit_drift_local", "locality_mae", "steps", "cpu_seconds")}})
    print("| image | a | PSNR start | PSNR final | edit_drift | edit_drift_local | ratio | locality_mae | steps | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in sorted(rows, key=lambda r: (r["image"], r["scale"])):
        ratio = row["edit_drift"] / row["edit_drift_local"] if row["edit_drift_local"] else None
        print(f"| {row['image']} | {row['scale']:g} | {row['psnr_initial']:.2f} | {row['psnr_final']:.2f} | "
              f"{row['edit_drift']:.3f} | {row['edit_drift_local']:.3f} | {ratio:.2f} | {row['locality_mae']:.4f} | "
              f"{row['steps']} | {row['cpu_seconds']:.1f} |")
    for a in args.scales:
        sel = [r for r in rows if r["scale"] == a]
        print(f"a = {a:g}: mean edit_drift {statistics.fmean(r['edit_drift'] for r in sel):.3f}, mean local bound "
              f"{statistics.fmean(r['edit_drift_local'] for r in sel):.3f}, mean locality "
              f"{statistics.fmean(r['locality_mae'] for r in sel):.4f}", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
