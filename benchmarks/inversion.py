"""Inversion benchmark on the bundled 64 px StyleGAN2 and sample images (CPU). Not a test.

Runs the ``invert`` task once per method on the same images and generator, with no editors:

* ``optimization``: W+ latent optimisation with noise maps (NVIDIA projector schedule), no tuning;
* ``pti``: Pivotal Tuning Inversion with the released defaults (W pivot 450 steps, 350 tuning
  steps at lr 3e-4; LPIPS replaced by the Laplacian pyramid when the weights are absent);
* ``near_perfect``: the inverter of ``configs/near_inversion.yaml`` exactly as shipped;
* ``--extra literal``: ``near_perfect`` with the literal global GAN term only (``global_anchor: 0``),
  to show what the anchor adds;
* ``--extra no_noise``: ``near_perfect`` tuning the weights only (``tune_noise: false``);
* ``initial``: the config's nested starting inverter alone (e.g. an encoder's one pass).

``--config`` and ``--images`` point it at other models, e.g. the StyleALAE encoder chain.

Reports per method and image group (``real`` = off-manifold photos, ``generated`` = samples of the
model): PSNR, SSIM, LPIPS (when its weights exist), locality_mae (seeded noise, and with the
constant noise buffers), steps and seconds per image. Every image of every method runs in one
process, sequentially, with ``--threads`` torch threads.

Usage::

    python benchmarks/inversion.py                       # markdown table on stdout
    python benchmarks/inversion.py --threads 1 --json bench.json --extra literal no_noise
    python benchmarks/inversion.py --config configs/alae_near_inversion.yaml \
        --images procedural=assets/images/procedural --methods initial near_perfect
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml

import ganedit
from ganedit.io.images import list_images

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "near_inversion.yaml"
GROUPS = {"real": ROOT / "assets" / "images" / "real", "generated": ROOT / "assets" / "images" / "generated"}


def method_specs(near: dict[str, Any], extra: list[str]) -> dict[str, dict[str, Any]]:
    """Inverter specs of the compared methods."""
    specs = {
        "optimization": {"type": "optimization", "params": {
            "space": "w+", "steps": 1000, "optimize_noise": True, "keep_noise": True}},
        "pti": {"type": "pti", "params": {}},
        "near_perfect": copy.deepcopy(near),
    }
    if "initial" in near.get("params", {}):
        specs["initial"] = copy.deepcopy(near["params"]["initial"])
    variants = {"literal": {"global_anchor": 0.0}, "no_noise": {"tune_noise": False}}
    for name in extra:
        spec = copy.deepcopy(near)
        spec["params"].update(variants[name])
        specs[f"near_perfect_{name}"] = spec
    return specs


def run_method(name: str, spec: dict[str, Any], base: dict[str, Any], inputs: list[str],
               output: Path) -> list[dict[str, Any]]:
    cfg = {"task": "invert", "seed": base.get("seed", 0), "device": "cpu", "generator": base["generator"],
           "inverter": spec, "editors": [], "inputs": inputs, "save_generator": "none", "save_latent": False,
           "resume": False}
    out = output / name
    ganedit.run(cfg, output=out, quiet=True)
    return json.loads((out / "metrics.json").read_text())["images"]


def summarize(records: list[dict[str, Any]], group_of: dict[str, str]) -> dict[str, dict[str, Any]]:
    keys = ("psnr_initial", "psnr_final", "ssim_final", "lpips_final", "locality_mae", "locality_mae_const",
            "steps", "seconds")
    out: dict[str, dict[str, Any]] = {}
    for group in sorted(set(group_of.values())):
        ok = [r for r in records if r.get("status") == "ok" and group_of.get(r["path"]) == group]
        row: dict[str, Any] = {"images": len(ok),
                               "failed": sum(1 for r in records if r.get("status") != "ok"
                                             and group_of.get(r["path"]) == group)}
        for k in keys:
            vals = [float(r[k]) for r in ok if r.get(k) is not None]
            if vals:
                row[k] = statistics.fmean(vals)
                if k == "psnr_final":
                    row["psnr_final_min"] = min(vals)
                if k == "seconds":
                    row["seconds_max"] = max(vals)
        out[group] = row
    return out


def fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def markdown(results: dict[str, dict[str, dict[str, Any]]], per_image: dict[str, list[dict[str, Any]]]) -> str:
    lines = ["| method | images | PSNR initial | PSNR final (mean / min) | SSIM | LPIPS | locality_mae "
             "(seeded noise) | locality_mae (const noise) | steps | s / image (mean / max) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for method, groups in results.items():
        for group, row in groups.items():
            lines.append(
                f"| {method} | {group} ({row['images']}) | {fmt(row.get('psnr_initial'))} | "
                f"{fmt(row.get('psnr_final'))} / {fmt(row.get('psnr_final_min'))} | {fmt(row.get('ssim_final'), 3)} | "
                f"{fmt(row.get('lpips_final'), 3)} | {fmt(row.get('locality_mae'), 4)} | "
                f"{fmt(row.get('locality_mae_const'), 4)} | {fmt(row.get('steps'), 0)} | "
                f"{fmt(row.get('seconds'), 1)} / {fmt(row.get('seconds_max'), 1)} |")
    lines += ["", "| method | image | PSNR initial | PSNR final | SSIM | locality_mae | steps | seconds |",
              "|---|---|---|---|---|---|---|---|"]
    for method, records in per_image.items():
        for r in records:
            if r.get("status") != "ok":
                lines.append(f"| {method} | {r['name']} | failed: {r.get('error', '')[:60]} |||||")
                continue
            lines.append(f"| {method} | {r['name']} | {fmt(r['psnr_initial'])} | {fmt(r['psnr_final'])} | "
                         f"{fmt(r['ssim_final'], 3)} | {fmt(r.get('locality_mae'), 4)} | {r['steps']} | "
                         f"{fmt(r['seconds'], 1)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG, help="near_perfect config (generator + inverter)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--output", type=Path, default=ROOT / "runs" / "bench_inversion")
    ap.add_argument("--methods", nargs="*", default=None,
                    help="subset of: optimization pti near_perfect initial (and the --extra variants)")
    ap.add_argument("--images", nargs="*", default=None, metavar="NAME=DIR",
                    help="image groups (default: real=assets/images/real generated=assets/images/generated)")
    ap.add_argument("--extra", nargs="*", default=[], choices=["literal", "no_noise"],
                    help="near_perfect variants to add: literal GAN global term, weights-only tuning")
    ap.add_argument("--json", type=Path, default=None, help="write all numbers here")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    base = yaml.safe_load(args.config.read_text())
    dirs = GROUPS if args.images is None else {k: Path(v) for k, v in (g.split("=", 1) for g in args.images)}
    groups = {g: [str(p) for p in list_images(d)] for g, d in dirs.items() if d.is_dir()}
    inputs = [p for paths in groups.values() for p in paths]
    if not inputs:
        print(f"no images under {', '.join(str(d) for d in dirs.values())}", file=sys.stderr)
        return 1
    group_of = {p: g for g, paths in groups.items() for p in paths}
    specs = method_specs(base["inverter"], args.extra)
    if args.methods:
        unknown = sorted(set(args.methods) - set(specs))
        if unknown:
            print(f"unknown methods {unknown}; choose from {sorted(specs)}", file=sys.stderr)
            return 2
        specs = {k: specs[k] for k in args.methods}
    else:
        specs.pop("initial", None)

    results, per_image = {}, {}
    started = time.time()
    for name, spec in specs.items():
        t0 = time.time()
        records = run_method(name, spec, base, inputs, args.output)
        per_image[name] = records
        results[name] = summarize(records, group_of)
        print(f"[bench] {name}: {time.time() - t0:.0f} s", file=sys.stderr)
    info = {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
            "machine": platform.machine(), "total_seconds": time.time() - started,
            "generator": base["generator"], "methods": specs}
    table = markdown(results, per_image)
    print(table)
    if args.json:
        args.json.write_text(json.dumps({"info": info, "summary": results, "images": per_image}, indent=2,
                                        default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
