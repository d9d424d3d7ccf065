"""Swap accuracy against known factors, SwapAE vs TCP region editing, and CPU speed (not a test).

The procedural dataset draws structure (layout) and texture (per-region colours and patterns)
from independent seeds, so the ground truth of a swap is known:
``truth(A, B) = render(structure_seed(A), texture_seed(B))``. This script reports, on held-out
procedural pairs (dataset seed ``--seed``, disjoint from the seed-0 training stream):

1. **Global swap** per model: L1, PSNR and SSIM of ``G(C_A, S_B)`` against the truth, next to the
   trivial baselines "output A" (right structure, wrong texture) and "output B" (right texture,
   wrong structure), and the reconstruction of A for reference. A useful model beats both. The
   structure alone: the layout misfit, how much of an output's pixel variance A's regions leave
   unexplained, whatever the colours (gradients and anti-aliased edges keep the truth above 0).
   The colours alone: the palette transfer, how far the swap's region colours moved from A's
   palette to the truth's. And the model's co-occurrence patch discriminator (when the file has
   one): P(real) of crops of B, of the swap and of A against reference crops of B, which shows
   whether the critic that should carry texture into the texture code judges texture at all.
2. **Region editing, TCP vs SwapAE**: the mask ``M`` is the largest shape of A's layout (known from
   the factors); both models render ``G(C_A, M * S_B + (1 - M) * S_A)`` through the spatial style
   map (the ``tcp_region`` editor's computation) and are compared with the truth
   ``M * truth(A, B) + (1 - M) * A``: L1 inside the mask (stylization), L1 outside (background kept),
   leakage outside against the model's own reconstruction, whole-image PSNR, and the code
   consistency of the global swap, ``L1(E(I_g)) vs (C_A, S_B)`` (TCP's L_CC, unweighted).
3. **CPU speed at 64 px**: training images/s (a few steps of ``configs/swapae_train.yaml`` and,
   when a SwapAE checkpoint is given, ``configs/tcp_train.yaml``; data rendering included) and swap
   inference images/s (encode A and B, decode, batch 16, no grad).

Usage (models default to the bundled ``assets/models/*_64.safetensors``)::

    python benchmarks/swap_factors.py                         # markdown tables on stdout
    python benchmarks/swap_factors.py --swapae runs/a/swapae.safetensors --tcp runs/b/tcp.safetensors
    python benchmarks/swap_factors.py --pairs 256 --json swap_factors.json --no-train-speed
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- data


def make_pairs(n: int, resolution: int, seed: int, patterns: tuple[str, ...] | None = None,
               shape_labels: str = "order", well_posed: bool = True,
               palette: str = "per_region") -> dict[str, Any]:
    """``n`` held-out (A, B) pairs: images, truths and the largest-shape masks of A's layouts.

    ``patterns`` / ``shape_labels`` / ``palette`` draw the images like the model's training data.
    With ``well_posed`` and per-region palettes, a pair is kept only if every texture slot of A's
    layout is visible in B: otherwise the truth paints some of A's regions with a texture that B
    never shows, which no swap can know. With a shared palette every region of B shows its whole
    texture, so every pair is well posed. Candidates are taken in dataset order, so the pairs are
    a fixed function of the arguments."""
    from ganedit.data import PATTERNS, ProceduralDataset

    ds = ProceduralDataset(resolution, length=1 << 30, seed=seed, patterns=patterns or PATTERNS,
                           shape_labels=shape_labels, palette=palette)  # type: ignore[arg-type]
    well_posed = well_posed and palette == "per_region"
    fa: list[tuple[int, int]] = []
    fb: list[tuple[int, int]] = []
    masks, layouts = [], []
    i = 0
    while len(fa) < n:
        (sa, ta), (sb, tb) = ds.factors(i), ds.factors(i + 1)
        i += 2
        labels_a, labels_b = ds.labels(sa), ds.labels(sb)
        if well_posed and not set(labels_a.unique().tolist()) <= set(labels_b.unique().tolist()):
            continue
        k = max(range(2, 5), key=lambda lab: int((labels_a == lab).sum()))
        masks.append((labels_a == k).float()[None])
        layouts.append(labels_a)
        fa.append((sa, ta))
        fb.append((sb, tb))
    return {
        "A": torch.stack([ds.render(*f) for f in fa]),
        "B": torch.stack([ds.render(*f) for f in fb]),
        "truth": torch.stack([ds.render(sa, tb) for (sa, _), (_, tb) in zip(fa, fb)]),
        "mask": torch.stack(masks),
        "layout": torch.stack(layouts),
        "candidates": i // 2,
        "filtered": well_posed,  # pairs were dropped to keep only well-posed ones
    }


def scores(x: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    from ganedit.metrics import psnr, ssim

    return {"l1": float((x - truth).abs().mean()), "psnr": float(psnr(x, truth).mean()),
            "ssim": float(ssim(x, truth).mean())}


def layout_misfit(x: torch.Tensor, layout: torch.Tensor) -> float:
    """How badly A's layout explains ``x`` regardless of colours: the fraction of each image's pixel
    variance left within A's regions (1 - R^2 of per-region means), averaged over images. Texture
    independent, so it measures the structure of a swap (gradients and anti-aliased edges keep the
    truth itself above 0)."""
    out = []
    for img, lab in zip(x, layout):
        flat, ids = img.flatten(1), lab.flatten()
        fitted = torch.zeros_like(flat)
        for k in ids.unique():
            sel = ids == k
            fitted[:, sel] = flat[:, sel].mean(1, keepdim=True)
        total = ((flat - flat.mean(1, keepdim=True)) ** 2).sum()
        out.append(float(((flat - fitted) ** 2).sum() / total.clamp_min(1e-12)))
    return sum(out) / len(out)


def region_means(x: torch.Tensor, layout: torch.Tensor) -> torch.Tensor:
    """Mean colour of every region of every image's layout, ``[N_regions, 3]``."""
    return torch.stack([x[i][:, layout[i] == k].mean(1) for i in range(x.shape[0]) for k in layout[i].unique()])


def palette_transfer(x: torch.Tensor, data: dict[str, Any]) -> float:
    """How far a swap's region colours moved from A's palette to the truth's: ``1 - d(x, truth) /
    d(A, truth)`` on the mean colour of each region of A's layout (1: B's palette fully taken,
    0: A's colours kept), whatever the layout's sharpness."""
    truth = region_means(data["truth"], data["layout"])
    moved = (region_means(x, data["layout"]) - truth).abs().mean()
    return float(1 - moved / (region_means(data["A"], data["layout"]) - truth).abs().mean())


def masked_l1(x: torch.Tensor, y: torch.Tensor, m: torch.Tensor) -> float:
    """Mean absolute error over the pixels where ``m`` is 1 (all channels)."""
    return float(((x - y).abs() * m).sum() / (m.sum() * x.shape[1]).clamp_min(1))


# ----------------------------------------------------------------------------- models


def load_model(kind: str, path: Path) -> tuple[torch.nn.Module, torch.nn.Module]:
    import ganedit

    spec = {"type": kind, "params": {"checkpoint": str(path)}}
    enc = ganedit.build("encoder", spec).eval()
    gen = ganedit.build("generator", spec).eval()
    return enc, gen


@torch.no_grad()
def evaluate(enc: torch.nn.Module, gen: torch.nn.Module, data: dict[str, Any], batch: int = 16) -> dict[str, Any]:
    from ganedit_tcp.losses import code_consistency_loss, default_map_size, region_style_map

    outs: dict[str, list[torch.Tensor]] = {"swap": [], "rec": [], "region": [], "rec_truth": []}
    cc: list[float] = []
    n = data["A"].shape[0]
    for i in range(0, n, batch):
        a, b, m = data["A"][i:i + batch], data["B"][i:i + batch], data["mask"][i:i + batch]
        c_a, s_a = enc(a)
        _, s_b = enc(b)
        swap = gen(c_a, s_b, noise_mode="const")
        c_g, s_g = enc(swap)
        cc.append(float(code_consistency_loss(c_g, s_g, c_a, s_b)) * a.shape[0])
        size = default_map_size(a.shape[-2:], c_a.shape[-2:])
        outs["swap"].append(swap)
        outs["rec"].append(gen(c_a, s_a, noise_mode="const"))
        outs["rec_truth"].append(gen(*enc(data["truth"][i:i + batch]), noise_mode="const"))
        outs["region"].append(gen(c_a, region_style_map(s_a, s_b, m, size), noise_mode="const"))
    swap, rec, region = (torch.cat(outs[k]).clamp(-1, 1) for k in ("swap", "rec", "region"))
    swap_scores = scores(swap, data["truth"])
    swap_scores["layout_misfit"] = layout_misfit(swap, data["layout"])
    swap_scores["palette_transfer"] = palette_transfer(swap, data)
    # what a swap could reach through this model's reconstructions: its reconstruction of the truth
    swap_scores["palette_transfer_ceiling"] = palette_transfer(torch.cat(outs["rec_truth"]).clamp(-1, 1), data)
    m = data["mask"]
    region_truth = m * data["truth"] + (1 - m) * data["A"]
    return {
        "swap": swap_scores,
        "reconstruction": scores(rec, data["A"]),
        "region": {
            "l1_inside": masked_l1(region, region_truth, m),
            "l1_outside": masked_l1(region, region_truth, 1 - m),
            "leak_outside_vs_own_rec": masked_l1(region, rec, 1 - m),
            "psnr": scores(region, region_truth)["psnr"],
        },
        "code_consistency": sum(cc) / n,
        # how much B's texture code changes the output at all (0: the texture pathway is unused)
        "texture_effect": float((swap - rec).abs().mean()),
    }


@torch.no_grad()
def critic_check(path: Path, enc: torch.nn.Module, gen: torch.nn.Module, data: dict[str, Any],
                 seed: int = 0) -> dict[str, float] | None:
    """Does the stored co-occurrence patch discriminator judge patches against the reference?
    Mean P(real) of crops of B itself, of the swap ``G(C_A, S_B)`` and of another real image (A),
    each scored against reference crops of B. A critic that uses its reference rates A's crops
    low; one that only tells generated from real rates A like B. None: no patch D in the file."""
    from ganedit.io.checkpoint import CheckpointError
    from ganedit_swapae.checkpoint import load_swapae

    try:
        dpatch = load_swapae(path, parts=("patch_discriminator",), require=False).patch_discriminator
    except CheckpointError:  # not a SwapAE file (a TCP file stores no discriminators)
        return None
    if dpatch is None:
        return None
    dpatch.eval()
    g = torch.Generator().manual_seed(seed)
    b = data["B"]
    swap = gen(enc(data["A"])[0], enc(b)[1], noise_mode="const")
    ref = dpatch.sample_crops(b, g)
    return {name: float(torch.sigmoid(dpatch(ref, dpatch.sample_crops(q, g))).mean())
            for name, q in (("B", b), ("swap", swap), ("A", data["A"]))}


@torch.no_grad()
def swap_speed(enc: torch.nn.Module, gen: torch.nn.Module, resolution: int, batch: int = 16,
               repeats: int = 3) -> float:
    """Swap inference images/s: encode A and B, decode G(C_A, S_B)."""
    x = torch.rand(batch, 3, resolution, resolution) * 2 - 1
    y = torch.rand(batch, 3, resolution, resolution) * 2 - 1

    def once() -> None:
        c, _ = enc(x)
        _, s = enc(y)
        gen(c, s, noise_mode="const")

    once()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        once()
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def train_speed(config: Path, steps: int, batch: int, overrides: list[str]) -> float:
    """Training images/s of ``config`` over ``steps`` iterations (first iteration included)."""
    import ganedit

    with tempfile.TemporaryDirectory() as tmp:
        summary = ganedit.run(str(config), output=tmp, device="cpu", quiet=True, overrides=[
            f"steps={steps}", f"batch_size={batch}", "num_workers=0", "sample_every=0", "checkpoint_every=0",
            "log_every=1", "resume=false", *overrides])
    return float(summary["images_per_sec"])


# ----------------------------------------------------------------------------- report


def fmt(v: float, nd: int = 3) -> str:
    return f"{v:.{nd}f}"


def report(results: dict[str, Any]) -> str:
    kept = (f"well-posed: kept {results['pairs']} of the first {results['candidates']} candidate pairs"
            if results["filtered"] else
            "all pairs" + (", each well posed with a shared palette" if results["palette"] == "shared" else ""))
    lines = [f"## Swap accuracy on {results['pairs']} held-out procedural pairs ({results['resolution']} px, "
             f"patterns: {', '.join(results['patterns'])}; shape labels: {results['shape_labels']}; "
             f"palette: {results['palette']}; {kept})", "",
             "| output | L1 vs truth | PSNR | SSIM | layout misfit (A's regions) |", "|---|---|---|---|---|"]
    base = results["baselines"]
    lines.append(f"| truth | 0 | inf | 1 | {fmt(results['truth_layout_misfit'])} |")
    for key in ("A", "B"):
        b = base[key]
        lines.append(f"| baseline: output {key} | {fmt(b['l1'])} | {fmt(b['psnr'], 2)} | {fmt(b['ssim'])} | "
                     f"{fmt(b['layout_misfit'])} |")
    for name, r in results["models"].items():
        s = r["swap"]
        lines.append(f"| {name}: swap G(C_A, S_B) | {fmt(s['l1'])} | {fmt(s['psnr'], 2)} | {fmt(s['ssim'])} | "
                     f"{fmt(s['layout_misfit'])} |")
    for name, r in results["models"].items():
        s = r["reconstruction"]
        lines.append(f"| {name}: reconstruction of A (vs A) | {fmt(s['l1'])} | {fmt(s['psnr'], 2)} | {fmt(s['ssim'])} | |")
    for name, r in results["models"].items():
        lines.append(f"| {name}: texture effect, L1(swap, reconstruction of A) | {fmt(r['texture_effect'])} | | | |")
    if results["models"]:
        lines += ["", "## Palette transfer and the co-occurrence critic", "",
                  "Palette transfer: how far the swap's region colours moved from A's palette to the truth's "
                  "(1 = all the way); ceiling: the same for the model's reconstruction of the truth. "
                  "Critic: mean P(real) the model's patch discriminator gives crops of B, of the swap and of A, "
                  "each against reference crops of B (a critic that uses its reference rates A low).", "",
                  "| model | palette transfer | ceiling | critic: B | critic: swap | critic: A |",
                  "|---|---|---|---|---|---|"]
        for name, r in results["models"].items():
            c = r.get("critic") or {}
            cells = " | ".join(fmt(c[k]) if k in c else "n/a" for k in ("B", "swap", "A"))
            lines.append(f"| {name} | {fmt(r['swap']['palette_transfer'], 2)} | "
                         f"{fmt(r['swap']['palette_transfer_ceiling'], 2)} | {cells} |")
    if results["models"]:
        lines += ["", "## Region editing (B's style inside A's largest shape)", "",
                  "| model | L1 inside mask | L1 outside mask | leak outside vs own rec | PSNR | code consistency L_CC |",
                  "|---|---|---|---|---|---|"]
        for name, r in results["models"].items():
            g = r["region"]
            lines.append(f"| {name} | {fmt(g['l1_inside'])} | {fmt(g['l1_outside'])} | "
                         f"{fmt(g['leak_outside_vs_own_rec'])} | {fmt(g['psnr'], 2)} | {fmt(r['code_consistency'])} |")
    if results["speed"]:
        lines += ["", f"## CPU speed at {results['resolution']} px ({results['threads']} threads)", "",
                  "| measurement | images/s |", "|---|---|"]
        for k, v in results["speed"].items():
            lines.append(f"| {k} | {fmt(v, 2)} |")
    for note in results["notes"]:
        lines.append(f"\n_{note}_")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from ganedit.data import PALETTES
    from ganedit_swapae import BUNDLED_DRAWING

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--swapae", type=Path, default=REPO / "assets/models/swapae_64.safetensors")
    parser.add_argument("--tcp", type=Path, default=REPO / "assets/models/tcp_64.safetensors")
    parser.add_argument("--pairs", type=int, default=64, help="held-out (A, B) pairs")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--seed", type=int, default=1, help="procedural dataset seed (training uses 0)")
    parser.add_argument("--patterns", default=",".join(BUNDLED_DRAWING["patterns"]),
                        help="comma-separated texture patterns of the pairs (the bundled models' training data; "
                             "'all' for every pattern)")
    parser.add_argument("--shape-labels", choices=("order", "kind"), default=BUNDLED_DRAWING["shape_labels"],
                        help="texture slot of a shape (the bundled models' training data: kind)")
    parser.add_argument("--palette", choices=PALETTES, default=BUNDLED_DRAWING["palette"],
                        help="texture palette of the pairs (the bundled models' training data)")
    parser.add_argument("--all-pairs", action="store_true",
                        help="keep pairs where B does not show every texture A's layout needs")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--train-steps", type=int, default=6)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--no-train-speed", action="store_true", help="skip the training-speed runs")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    from ganedit.data import PATTERNS, check_patterns

    patterns = PATTERNS if args.patterns == "all" else check_patterns(args.patterns.split(","))
    data = make_pairs(args.pairs, args.resolution, args.seed, patterns, args.shape_labels, not args.all_pairs,
                      args.palette)
    results: dict[str, Any] = {
        "pairs": args.pairs, "resolution": args.resolution, "seed": args.seed, "threads": args.threads,
        "patterns": list(patterns), "shape_labels": args.shape_labels, "palette": args.palette,
        "filtered": data["filtered"], "candidates": data["candidates"],
        "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "baselines": {name: dict(scores(data[name], data["truth"]), layout_misfit=layout_misfit(data[name], data["layout"]))
                      for name in ("A", "B")},
        "truth_layout_misfit": layout_misfit(data["truth"], data["layout"]),
        "models": {}, "speed": {}, "notes": [],
    }
    for name, kind, path in (("SwapAE", "swapae", args.swapae), ("TCP", "tcp", args.tcp)):
        if not path.is_file():
            results["notes"].append(f"{name}: no checkpoint at {path}, skipped")
            continue
        enc, gen = load_model(kind, path)
        results["models"][name] = evaluate(enc, gen, data)
        results["models"][name]["checkpoint"] = str(path)
        results["models"][name]["critic"] = critic_check(path, enc, gen, data)
        results["speed"][f"{name} swap inference (batch 16)"] = swap_speed(enc, gen, args.resolution)
    if not args.no_train_speed:
        results["speed"][f"SwapAE training (configs/swapae_train.yaml, batch {args.train_batch})"] = train_speed(
            REPO / "configs/swapae_train.yaml", args.train_steps, args.train_batch, [])
        if args.swapae.is_file():
            results["speed"][f"TCP training (configs/tcp_train.yaml, batch {args.train_batch})"] = train_speed(
                REPO / "configs/tcp_train.yaml", args.train_steps, args.train_batch,
                [f"init_checkpoint={args.swapae}"])
    print(report(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
