"""How far a generator reaches the held-out drawings, and what that does to near_perfect (issue 15).

Not a test. For each generator checkpoint (a file the ``stylegan2`` generator loads, or a
``stylegan2_train`` run's ``checkpoints/last.pt``, whose EMA generator and discriminator are used),
it runs ``configs/near_inversion.yaml`` on held-out drawings (``--images``; default the textured
``assets/images/heldout`` of ``stylegan2_64``) with only the generator and the images swapped:

* ``--start``: the config's start inverter alone (W+ optimisation: 300 steps as shipped now, 100 in
  the textured-generator runs of docs/benchmarks.md), i.e. how close the
  generator's own latent space gets to each drawing before any tweak (the residual the tweak must
  carry);
* ``--near-perfect``: the whole shipped inverter and editors (PSNR, edit_drift, locality, steps,
  seconds), as ``benchmarks/inversion.py`` reports them.

Usage (one torch thread, as the other inversion benchmarks)::

    python benchmarks/generator_reach.py --threads 1 --start --near-perfect \\
        bundled=assets/models/stylegan2_64.safetensors more=runs/sg2_more/stylegan2.safetensors

The numbers and the training runs behind them are in docs/benchmarks.md ("The generator's
reach").
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "near_inversion.yaml"
HELDOUT = "assets/images/heldout"


def native_file(path: Path, like: Path, tmp: Path) -> Path:
    """``path`` itself, or for a training checkpoint (``last.pt``) a native file of its EMA generator
    (truncation centre estimated, as the trainer's export does) and its discriminator."""
    if path.suffix != ".pt":
        return path
    from ganedit.io.checkpoint import safe_torch_load
    from ganedit_stylegan2.checkpoints import load_checkpoint
    from ganedit_stylegan2.native import save_stylegan2_native
    from ganedit_stylegan2.networks import Discriminator, Generator, estimate_w_avg

    ckpt = safe_torch_load(path)
    ref = load_checkpoint(like)
    g = Generator.from_arch(ref.generator("ema").arch)
    g.load_state_dict(ckpt["ema"]["g_ema"])
    g.w_avg.copy_(estimate_w_avg(g))
    d = Discriminator.from_arch(ref.discriminator().arch)
    d.load_state_dict(ckpt["modules"]["d"])
    out = tmp / f"{path.parent.parent.name}_{ckpt['step']}.safetensors"
    save_stylegan2_native(out, g_ema=g.eval(), d=d.eval(), metadata={"steps": int(ckpt["step"])})
    return out


def run_one(checkpoint: Path, out: Path, start_only: bool, threads: int, images: str = HELDOUT) -> dict[str, Any]:
    """``near_inversion.yaml`` on ``images`` (the held-out drawings) with ``checkpoint`` as the generator."""
    import yaml

    import ganedit

    cfg = yaml.safe_load(CONFIG.read_text())
    cfg["generator"]["params"]["checkpoint"] = str(checkpoint)
    cfg["inputs"] = [images]
    if start_only:
        cfg["inverter"] = cfg["inverter"]["params"]["initial"]
        cfg["editors"] = []
    cfg.pop("save_generator", None)
    ganedit.run(cfg, output=out, quiet=True, overrides=[f"threads={threads}", "resume=false"])
    metrics = json.loads((out / "metrics.json").read_text())
    rows = [r for r in metrics["images"] if r.get("status", "ok") == "ok"]
    mean = lambda key: statistics.mean(r[key] for r in rows) if rows and key in rows[0] else None  # noqa: E731
    return {"psnr": mean("psnr_final"), "psnr_min": min(r["psnr_final"] for r in rows),
            "edit_drift": mean("edit_drift"), "edit_drift_local": mean("edit_drift_local"),
            "locality_mae": mean("locality_mae"), "locality_mae_const": mean("locality_mae_const"),
            "steps": mean("steps"), "seconds": mean("seconds"),
            "per_image": {r["name"]: {k: r.get(k) for k in ("psnr_final", "edit_drift", "steps", "seconds")}
                          for r in rows}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoints", nargs="+", metavar="NAME=PATH")
    ap.add_argument("--start", action="store_true", help="the start inverter alone")
    ap.add_argument("--near-perfect", action="store_true", help="the whole shipped inverter and editors")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--like", type=Path, default=ROOT / "assets" / "models" / "stylegan2_64.safetensors",
                    help="a file of the same architecture (for last.pt checkpoints)")
    ap.add_argument("--output", type=Path, default=ROOT / "runs" / "generator_reach")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--images", default=HELDOUT,
                    help="folder of test images (default: the held-out drawings); for a generator trained on "
                         "another procedural domain, that domain's held-out drawings")
    a = ap.parse_args()
    if not (a.start or a.near_perfect):
        ap.error("choose --start and/or --near-perfect")
    torch.set_num_threads(a.threads)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in a.checkpoints:
            name, _, path = spec.partition("=")
            if not path:
                ap.error(f"expected NAME=PATH, got {spec!r}")
            ckpt = native_file(Path(path), a.like, Path(tmp))
            for kind, on in (("start", a.start), ("near_perfect", a.near_perfect)):
                if on:
                    r = run_one(ckpt, a.output / name / kind, kind == "start", a.threads, a.images)
                    results.setdefault(name, {})[kind] = r
                    print(f"{name} {kind}: PSNR {r['psnr']:.2f} (min {r['psnr_min']:.2f})"
                          + (f", edit_drift {r['edit_drift']:.3f} (local bound {r['edit_drift_local']:.2f}), "
                             f"locality {r['locality_mae']:.4f} / {r['locality_mae_const']:.4f}, "
                             f"steps {r['steps']:.0f}, {r['seconds']:.1f} s/image" if kind == "near_perfect" else ""),
                          flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
