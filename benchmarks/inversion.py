"""Inversion benchmark on the bundled 64 px StyleGAN2 and sample images (CPU). Not a test.

Runs the ``invert`` task once per method on the same images and generator, with the config's
editors (``--no-edits`` to skip them):

* ``optimization``: W+ latent optimisation with noise maps (NVIDIA projector schedule), no tuning:
  its ``edit_drift`` is 0 by construction (the edits run on the unchanged generator);
* ``pti``: Pivotal Tuning Inversion with the released defaults (W pivot 450 steps, 350 tuning
  steps at lr 3e-4; LPIPS replaced by the Laplacian pyramid when the weights are absent) and its
  locality regulariser ON (alpha 30 scaled by ``sqrt(num_ws * w_dim / (18 * 512))`` to this
  generator's code size, as docs/inversion.md says);
* ``near_perfect``: the inverter of ``configs/near_inversion.yaml`` exactly as shipped;
* ``--extra`` variants of it (:data:`VARIANTS`): ``literal`` (the literal global GAN term, no
  anchor), ``weights_only`` (no noise maps), ``no_edit`` (without the edit-consistency term),
  ``gate`` (the paper's 1_p gate at p = 0.5 with L_global on every step), ``previous`` (the default
  before: every synthesis layer tuned, adversarial terms every 4th step, 600 steps);
* ``initial``: the config's nested starting inverter alone (e.g. an encoder's one pass).

``--config`` and ``--images`` point it at other models, e.g. the StyleALAE encoder chain.

Reports per method and image group (by default one group per ``inputs`` entry of the config):
PSNR, PSNR with the generator's constant noise instead of the image's own maps (how much the maps
carry), SSIM, LPIPS (when its weights exist), edit_drift (how much the tweak changed the edits),
locality_mae (seeded noise, and with the constant noise buffers), steps and seconds per image.
Every image of every method runs in one process, sequentially, with ``--threads`` torch threads;
the load average is recorded (the machine may be shared).

Usage::

    python benchmarks/inversion.py                       # markdown table on stdout
    python benchmarks/inversion.py --threads 1 --json bench.json --extra literal weights_only no_edit
    python benchmarks/inversion.py --config configs/alae_near_inversion.yaml \
        --images procedural=assets/images/procedural --methods initial near_perfect --no-edits
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
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
#: near_perfect variants (``--extra``): overrides of the config's inverter params.
VARIANTS: dict[str, dict[str, Any]] = {
    "literal": {"global_anchor": 0.0},
    "weights_only": {"tune_noise": False},
    "no_edit": {"edit_weight": 0.0},
    "gate": {"local_probability": 0.5, "global_every": 1},
    # the default before issue 15's third session: every synthesis layer tuned, adversarial terms and
    # D update every 4th step, 600-step limit
    "previous": {"tune": "synthesis", "adversarial_every": 4, "steps": 600},
}


def pti_locality_alpha(generator: dict[str, Any]) -> float:
    """PTI's alpha (30 for 18 x 512 FFHQ codes) scaled to this generator's code size."""
    g = ganedit.build("generator", generator)
    return 30.0 * math.sqrt(g.num_ws * g.w_dim / (18 * 512))


def method_specs(near: dict[str, Any], extra: list[str], generator: dict[str, Any] | None = None
                 ) -> dict[str, dict[str, Any]]:
    """Inverter specs of the compared methods."""
    locality: dict[str, Any] = {"enabled": True}
    if generator is not None:
        locality["alpha"] = round(pti_locality_alpha(generator), 3)
    specs = {
        "optimization": {"type": "optimization", "params": {
            "space": "w+", "steps": 1000, "optimize_noise": True, "keep_noise": True}},
        "pti": {"type": "pti", "params": {"locality": locality}},
        "near_perfect": copy.deepcopy(near),
    }
    if "initial" in near.get("params", {}):
        specs["initial"] = copy.deepcopy(near["params"]["initial"])
    for name in extra:
        spec = copy.deepcopy(near)
        spec["params"].update(VARIANTS[name])
        specs[f"near_perfect_{name}"] = spec
    return specs


def run_method(name: str, spec: dict[str, Any], base: dict[str, Any], inputs: list[str],
               output: Path, edits: bool = True, resume: bool = False) -> list[dict[str, Any]]:
    cfg = {"task": "invert", "seed": base.get("seed", 0), "device": "cpu", "generator": base["generator"],
           "inverter": spec, "editors": base.get("editors", []) if edits else [], "inputs": inputs,
           "save_generator": "none", "save_latent": False, "resume": resume}
    out = output / name
    ganedit.run(cfg, output=out, quiet=True)
    return json.loads((out / "metrics.json").read_text())["images"]


def config_groups(base: dict[str, Any]) -> dict[str, Path]:
    """One image group per ``inputs`` entry of the config, named by its last path component."""
    entries = base.get("inputs", [])
    entries = [entries] if isinstance(entries, str) else list(entries)
    return {Path(e).name or e: (ROOT / e if not Path(e).is_absolute() else Path(e)) for e in entries}


def summarize(records: list[dict[str, Any]], group_of: dict[str, str]) -> dict[str, dict[str, Any]]:
    keys = ("psnr_initial", "psnr_final", "psnr_const_noise", "ssim_final", "lpips_final", "edit_drift", "edit_drift_local",
            "locality_mae", "locality_mae_const", "steps", "seconds", "cpu_seconds")
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
    lines = ["| method | images | PSNR initial | PSNR final (mean / min) | PSNR const noise | SSIM | LPIPS | "
             "edit_drift (local bound) | locality_mae (seeded noise) | locality_mae (const noise) | steps | s / image (mean / max) | "
             "CPU s / image |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for method, groups in results.items():
        for group, row in groups.items():
            lines.append(
                f"| {method} | {group} ({row['images']}) | {fmt(row.get('psnr_initial'))} | "
                f"{fmt(row.get('psnr_final'))} / {fmt(row.get('psnr_final_min'))} | "
                f"{fmt(row.get('psnr_const_noise'))} | {fmt(row.get('ssim_final'), 3)} | "
                f"{fmt(row.get('lpips_final'), 3)} | {fmt(row.get('edit_drift'), 3)} ({fmt(row.get('edit_drift_local'), 2)}) | "
                f"{fmt(row.get('locality_mae'), 4)} | "
                f"{fmt(row.get('locality_mae_const'), 4)} | {fmt(row.get('steps'), 0)} | "
                f"{fmt(row.get('seconds'), 1)} / {fmt(row.get('seconds_max'), 1)} | {fmt(row.get('cpu_seconds'), 1)} |")
    lines += ["", "| method | image | PSNR initial | PSNR final | SSIM | edit_drift | locality_mae | locality_mae "
              "(const) | steps | seconds |", "|---|---|---|---|---|---|---|---|---|---|"]
    for method, records in per_image.items():
        for r in records:
            if r.get("status") != "ok":
                lines.append(f"| {method} | {r['name']} | failed: {r.get('error', '')[:60]} |||||||")
                continue
            lines.append(f"| {method} | {r['name']} | {fmt(r['psnr_initial'])} | {fmt(r['psnr_final'])} | "
                         f"{fmt(r['ssim_final'], 3)} | {fmt(r.get('edit_drift'), 3)} | {fmt(r.get('locality_mae'), 4)} | "
                         f"{fmt(r.get('locality_mae_const'), 4)} | {r['steps']} | {fmt(r['seconds'], 1)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", type=Path, default=CONFIG, help="near_perfect config (generator + inverter)")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    ap.add_argument("--output", type=Path, default=ROOT / "runs" / "bench_inversion")
    ap.add_argument("--methods", nargs="*", default=None,
                    help="subset of: optimization pti near_perfect initial (and the --extra variants)")
    ap.add_argument("--images", nargs="*", default=None, metavar="NAME=DIR",
                    help="image groups (default: one per `inputs` entry of the config)")
    ap.add_argument("--extra", nargs="*", default=[], choices=sorted(VARIANTS),
                    help="near_perfect variants to add (see VARIANTS)")
    ap.add_argument("--no-edits", action="store_true", help="run without the config's editors (no edit_drift)")
    ap.add_argument("--resume", action="store_true", help="keep the images a previous run of the same method "
                    "and settings finished in --output (their recorded times are kept too)")
    ap.add_argument("--json", type=Path, default=None, help="write all numbers here")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    base = yaml.safe_load(args.config.read_text())
    dirs = config_groups(base) if args.images is None else \
        {k: Path(v) for k, v in (g.split("=", 1) for g in args.images)}
    groups = {g: [str(p) for p in list_images(d)] for g, d in dirs.items() if d.exists()}
    inputs = [p for paths in groups.values() for p in paths]
    if not inputs:
        print(f"no images under {', '.join(str(d) for d in dirs.values())}", file=sys.stderr)
        return 1
    group_of = {p: g for g, paths in groups.items() for p in paths}
    specs = method_specs(base["inverter"], args.extra, base["generator"])
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
    load = {"start": os.getloadavg()}
    for name, spec in specs.items():
        t0 = time.time()
        records = run_method(name, spec, base, inputs, args.output, edits=not args.no_edits, resume=args.resume)
        per_image[name] = records
        results[name] = summarize(records, group_of)
        load[name] = os.getloadavg()
        print(f"[bench] {name}: {time.time() - t0:.0f} s, load average {load[name][0]:.1f}", file=sys.stderr)
    info = {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
            "machine": platform.machine(), "cpus": os.cpu_count(), "total_seconds": time.time() - started,
            "load_average": load, "generator": base["generator"], "editors": base.get("editors", []),
            "methods": specs}
    table = markdown(results, per_image)
    print(table)
    if args.json:
        args.json.write_text(json.dumps({"info": info, "summary": results, "images": per_image}, indent=2,
                                        default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
