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
               palette: str = "per_region", texture_palette: str | None = None) -> dict[str, Any]:
    """``n`` held-out (A, B) pairs: images, truths, the largest-shape masks of A's layouts, and
    ``A_other``, A's layout with another texture (for the structure leak).

    ``patterns`` / ``shape_labels`` / ``palette`` draw the images like the model's training data.
    ``texture_palette`` (default ``palette``) draws B, and so the truth, from another family: a
    swap of textures between two procedural families. With ``well_posed`` and per-region palettes,
    a pair is kept only if every texture slot of A's layout is visible in B: otherwise the truth
    paints some of A's regions with a texture that B never shows, which no swap can know. With a
    shared or global palette every region of B tells the whole texture, so every pair is well
    posed. Candidates are taken in dataset order, so the pairs are a fixed function of the
    arguments."""
    from ganedit.data import PATTERNS, ProceduralDataset

    def dataset(pal: str) -> ProceduralDataset:
        return ProceduralDataset(resolution, length=1 << 30, seed=seed, patterns=patterns or PATTERNS,
                                 shape_labels=shape_labels, palette=pal)  # type: ignore[arg-type]

    ds_a = dataset(palette)
    ds_b = dataset(texture_palette or palette)
    well_posed = well_posed and (texture_palette or palette) == "per_region"
    fa: list[tuple[int, int]] = []
    fb: list[tuple[int, int]] = []
    other: list[int] = []
    masks, layouts = [], []
    i = 0
    while len(fa) < n:
        (sa, ta), (sb, tb) = ds_a.factors(i), ds_b.factors(i + 1)
        i += 2
        labels_a, labels_b = ds_a.labels(sa), ds_b.labels(sb)
        if well_posed and not set(labels_a.unique().tolist()) <= set(labels_b.unique().tolist()):
            continue
        k = max(range(2, 5), key=lambda lab: int((labels_a == lab).sum()))
        masks.append((labels_a == k).float()[None])
        layouts.append(labels_a)
        fa.append((sa, ta))
        fb.append((sb, tb))
        other.append(ds_a.factors((1 << 29) + len(fa))[1])  # a texture seed no pair uses
    return {
        "A": torch.stack([ds_a.render(*f) for f in fa]),
        "A_other": torch.stack([ds_a.render(sa, t) for (sa, _), t in zip(fa, other)]),
        "B": torch.stack([ds_b.render(*f) for f in fb]),
        "truth": torch.stack([ds_b.render(sa, tb) for (sa, _), (_, tb) in zip(fa, fb)]),
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

    outs: dict[str, list[torch.Tensor]] = {"swap": [], "rec": [], "region": [], "rec_truth": [], "swap_other": []}
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
        # the same swap from A's layout painted with another texture: ideally identical
        outs["swap_other"].append(gen(enc(data["A_other"][i:i + batch])[0], s_b, noise_mode="const"))
        outs["rec"].append(gen(c_a, s_a, noise_mode="const"))
        outs["rec_truth"].append(gen(*enc(data["truth"][i:i + batch]), noise_mode="const"))
        outs["region"].append(gen(c_a, region_style_map(s_a, s_b, m, size), noise_mode="const"))
    swap, swap_other, rec, region = (torch.cat(outs[k]).clamp(-1, 1) for k in ("swap", "swap_other", "rec", "region"))
    swap_scores = output_scores(swap, data)
    swap_scores["structure_leak"] = float((swap - swap_other).abs().mean())
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


def output_scores(x: torch.Tensor, data: dict[str, Any]) -> dict[str, float]:
    """Scores of an output against the truth: L1, PSNR, SSIM, layout misfit, palette transfer."""
    out = scores(x, data["truth"])
    out["layout_misfit"] = layout_misfit(x, data["layout"])
    out["palette_transfer"] = palette_transfer(x, data)
    return out


def baseline_scores(data: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The rows every model is compared with: output A (right layout, wrong texture), output B
    (right texture, wrong layout) and the truth. Their structure leak is how much the output
    moves when A's texture changes: all of it for output A, none for output B and the truth."""
    rows = {name: output_scores(data[name], data) for name in ("truth", "A", "B")}
    rows["A"]["structure_leak"] = float((data["A"] - data["A_other"]).abs().mean())
    rows["B"]["structure_leak"] = rows["truth"]["structure_leak"] = 0.0
    return rows


def auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """Area under the ROC curve of scores that should rank ``positive`` above ``negative``
    (Mann-Whitney; ties count half): 0.5 is chance, 1 a perfect separation."""
    pos, neg = positive.flatten()[:, None], negative.flatten()[None, :]
    return float((pos > neg).float().mean() + 0.5 * (pos == neg).float().mean())


@torch.no_grad()
def critic_check(path: Path, enc: torch.nn.Module, gen: torch.nn.Module, data: dict[str, Any],
                 seed: int = 0) -> dict[str, float] | None:
    """Does the stored co-occurrence patch discriminator tell B's texture from the swap's? Its
    logits for crops of B itself, of the swap ``G(C_A, S_B)`` and of another real image (A), each
    scored against reference crops of B (with the model's aggregation setting), and the AUC of B's
    crops against the swap's (``auc_swap``: 0.5, the critic cannot tell them apart) and against
    A's (``auc_other``: whether it uses its reference at all). None: no patch D in the file."""
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
    logits = {name: dpatch(ref, dpatch.sample_crops(q, g)) for name, q in (("B", b), ("swap", swap), ("A", data["A"]))}
    return {"auc_swap": auc(logits["B"], logits["swap"]), "auc_other": auc(logits["B"], logits["A"]),
            **{f"p_real_{k}": float(torch.sigmoid(v).mean()) for k, v in logits.items()}}


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


def swap_table(title: str, part: dict[str, Any]) -> list[str]:
    """Markdown rows of one family's swap table: the truth, the two baselines, each model's swap,
    then each model's reconstruction of A."""
    lines = [title, "",
             "| output | L1 vs truth | PSNR | SSIM | layout misfit | palette transfer | structure leak |",
             "|---|---|---|---|---|---|---|"]
    names = {"truth": "truth", "A": "baseline: output A (right layout, wrong texture)",
             "B": "baseline: output B (right texture, wrong layout)"}
    rows = [(names[k], v) for k, v in part["baselines"].items()]
    rows += [(f"{name}: swap G(C_A, S_B)", r["swap"]) for name, r in part["models"].items()]
    for label, s in rows:
        psnr = "inf" if s["l1"] == 0 else fmt(s["psnr"], 2)
        lines.append(f"| {label} | {fmt(s['l1'])} | {psnr} | {fmt(s['ssim'])} | {fmt(s['layout_misfit'])} | "
                     f"{fmt(s['palette_transfer'], 2)} | {fmt(s['structure_leak'])} |")
    for name, r in part["models"].items():
        s = r["reconstruction"]
        lines.append(f"| {name}: reconstruction of A (vs A) | {fmt(s['l1'])} | {fmt(s['psnr'], 2)} | "
                     f"{fmt(s['ssim'])} | | | |")
    return lines


def describe(part: dict[str, Any]) -> str:
    kept = (f"well-posed: kept {part['pairs']} of the first {part['candidates']} candidate pairs"
            if part["filtered"] else "all pairs")
    texture = part["texture_palette"]
    family = (f"palette {part['palette']}" if texture == part["palette"] else
              f"A drawn with palette {part['palette']}, B and the truth with palette {texture}")
    return (f"{part['pairs']} held-out procedural pairs ({part['resolution']} px, patterns: "
            f"{', '.join(part['patterns'])}; shape labels: {part['shape_labels']}; {family}; {kept})")


#: The acceptance thresholds of the bundled SwapAE (issue 16): the swap beats output B by this
#: many dB, with at most this structure leak and at least this palette transfer.
THRESHOLDS = {"margin_over_output_b_db": 1.0, "structure_leak_max": 0.10, "palette_transfer_min": 0.6}


def acceptance(part: dict[str, Any], name: str = "SwapAE") -> dict[str, Any] | None:
    """The thresholds, each measured and checked, for model ``name`` (None: not evaluated)."""
    if name not in part["models"]:
        return None
    s, base = part["models"][name]["swap"], part["baselines"]
    margin_b, margin_a = s["psnr"] - base["B"]["psnr"], s["psnr"] - base["A"]["psnr"]
    return {
        "margin_over_output_b_db": margin_b, "margin_over_output_a_db": margin_a,
        "structure_leak": s["structure_leak"], "palette_transfer": s["palette_transfer"],
        "passed": {"beats_output_b": margin_b >= THRESHOLDS["margin_over_output_b_db"],
                   "beats_output_a": margin_a >= THRESHOLDS["margin_over_output_b_db"],
                   "structure_leak": s["structure_leak"] <= THRESHOLDS["structure_leak_max"],
                   "palette_transfer": s["palette_transfer"] >= THRESHOLDS["palette_transfer_min"]},
    }


def report(results: dict[str, Any]) -> str:
    lines = swap_table(f"## Swap accuracy on {describe(results)}", results)
    acc = results.get("acceptance")
    if acc:
        mark = {True: "pass", False: "FAIL"}
        p = acc["passed"]
        lines += ["", f"SwapAE thresholds: swap - output B {acc['margin_over_output_b_db']:+.2f} dB (>= +1.0: "
                  f"{mark[p['beats_output_b']]}); swap - output A {acc['margin_over_output_a_db']:+.2f} dB "
                  f"({mark[p['beats_output_a']]}); structure leak {acc['structure_leak']:.3f} (<= 0.10: "
                  f"{mark[p['structure_leak']]}); palette transfer {acc['palette_transfer']:.2f} (>= 0.6: "
                  f"{mark[p['palette_transfer']]})."]
    if results["models"]:
        lines += ["", "## Palette transfer ceiling and the co-occurrence critic", "",
                  "Ceiling: the palette transfer of the model's reconstruction of the truth (what a swap "
                  "could reach through it). Critic: the model's patch discriminator scoring crops against "
                  "reference crops of B; AUC of B's crops against the swap's (0.5: it cannot tell them "
                  "apart) and against A's (whether it uses its reference).", "",
                  "| model | palette transfer | ceiling | critic AUC: B vs swap | critic AUC: B vs A |",
                  "|---|---|---|---|---|"]
        for name, r in results["models"].items():
            c = r.get("critic") or {}
            cells = " | ".join(fmt(c[k]) if k in c else "n/a" for k in ("auc_swap", "auc_other"))
            lines.append(f"| {name} | {fmt(r['swap']['palette_transfer'], 2)} | "
                         f"{fmt(r['swap']['palette_transfer_ceiling'], 2)} | {cells} |")
        lines += ["", "## Region editing (B's style inside A's largest shape)", "",
                  "| model | L1 inside mask (stylization) | L1 outside mask | leak outside vs own rec | PSNR | "
                  "code consistency L_CC |", "|---|---|---|---|---|---|"]
        for name, r in results["models"].items():
            g = r["region"]
            lines.append(f"| {name} | {fmt(g['l1_inside'])} | {fmt(g['l1_outside'])} | "
                         f"{fmt(g['leak_outside_vs_own_rec'])} | {fmt(g['psnr'], 2)} | {fmt(r['code_consistency'])} |")
    second = results.get("second_family")
    if second:
        lines += [""] + swap_table(f"## Another family (not trained on): {describe(second)}", second)
    if results["speed"]:
        lines += ["", f"## CPU speed at {results['resolution']} px ({results['threads']} threads)", "",
                  "| measurement | images/s |", "|---|---|"]
        for k, v in results["speed"].items():
            lines.append(f"| {k} | {fmt(v, 2)} |")
    for note in results["notes"]:
        lines.append(f"\n_{note}_")
    return "\n".join(lines)


def run_family(args: argparse.Namespace, patterns: tuple[str, ...], texture_palette: str | None,
               models: dict[str, tuple[Path, torch.nn.Module, torch.nn.Module]], critic: bool) -> dict[str, Any]:
    """Pairs of one family (B drawn with ``texture_palette``), the baselines and every model's scores."""
    data = make_pairs(args.pairs, args.resolution, args.seed, patterns, args.shape_labels, not args.all_pairs,
                      args.palette, texture_palette)
    part: dict[str, Any] = {
        "pairs": args.pairs, "resolution": args.resolution, "seed": args.seed, "patterns": list(patterns),
        "shape_labels": args.shape_labels, "palette": args.palette, "texture_palette": texture_palette or args.palette,
        "filtered": data["filtered"], "candidates": data["candidates"],
        "baselines": baseline_scores(data), "models": {},
    }
    for name, (path, enc, gen) in models.items():
        part["models"][name] = evaluate(enc, gen, data)
        part["models"][name]["checkpoint"] = str(path)
        if critic:
            part["models"][name]["critic"] = critic_check(path, enc, gen, data)
    return part


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
    parser.add_argument("--second-palette", choices=(*PALETTES, "none"), default="shared",
                        help="also score swaps whose texture source B (and truth) is drawn with this palette, a "
                             "family the models were not trained on ('none': skip)")
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
    models: dict[str, tuple[Path, torch.nn.Module, torch.nn.Module]] = {}
    notes = []
    for name, kind, path in (("SwapAE", "swapae", args.swapae), ("TCP", "tcp", args.tcp)):
        if path.is_file():
            models[name] = (path, *load_model(kind, path))
        else:
            notes.append(f"{name}: no checkpoint at {path}, skipped")
    results: dict[str, Any] = {
        **run_family(args, patterns, None, models, critic=True),
        "threads": args.threads, "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
        "speed": {}, "notes": notes,
    }
    results["acceptance"] = acceptance(results)
    if args.second_palette != "none":
        results["second_family"] = run_family(args, patterns, args.second_palette, models, critic=False)
    for name, (_, enc, gen) in models.items():
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
