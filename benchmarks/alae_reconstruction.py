"""Where StyleALAE's reconstruction error comes from (not a test): one row of measurements per model.

For each model (a native ``.safetensors`` file, a training checkpoint ``.pt``, or a run folder,
which stands for its ``checkpoints/step-*.pt`` snapshots and ``last.pt``, giving a curve):

* **held-out G(E(x))**: PSNR / SSIM on the six images of ``configs/alae_reconstruct.yaml`` with the
  config's noise (``random``, seeded by the run seed 0, so the numbers equal ``ganedit run``'s) and
  with ``const`` noise; the same on 64 more held-out images (procedural dataset seed 1) and on 64
  training images (seed 0, the first 64 of the training stream): a train/held-out gap would mean
  overfitting, equal numbers mean the held-out images are drawn like the training data;
* **fakes G(E(G(w)))**: w = F(z), the reconstruction of the generator's own images and the latent
  reciprocity error ``mean((E(G(w)) - w)^2)`` relative to the per-dimension variance of w: what
  step 3 of the training loop optimises. Good numbers here and poor ones on real images mean the
  encoder works on G's images and the gap is G's coverage of the data (or E's generalisation);
* **references** without any model, on the same six images: every pixel painted with the image's
  mean colour, every region of the (known) layout painted with its mean colour (perfect layout, no
  pattern), and the image box-downscaled to 8 px and bilinearly upscaled: what a reconstruction
  must beat to carry more than the colours, and roughly what a given PSNR / SSIM means here;
* **best linear codes** (``--pca-images N``, default 4,000, 0 skips): the images projected on the
  top K principal components of N training images (K = 64, StyleALAE's latent size, and larger):
  what the best *linear* K-number code reconstructs. A plain autoencoder can beat it only by being
  non-linear; a network that stays below it is limited by its training, not by the latent size;
* **G's reach** (``--optimise-steps N``): the best single w (and per-slot w+) for each of the six
  images, found by N Adam steps on the pixel MSE from E(x) (const noise). If even this stays
  below a target, no encoder can reach it with this generator.

**w+ encoder control** (``--wplus-encoder STEPS``, ours): the model's E with a zero-initialised
linear head that gives each style slot its own w from E's per-block terms, E and head trained on
the pixel error with G frozen: how much of G's per-slot reach an encoder recovers.

**Autoencoder control** (``--autoencoder START,MAX,LATENT,LR``, repeatable): E and G of that width
trained from scratch as a plain autoencoder, ``mean((G(E(x)) - x)^2)`` on the training stream only
(no GAN, no reciprocity; Adam betas (0, 0.99), batch 16, ``--autoencoder-steps`` iterations, fixed
32 px): how fast the networks themselves learn these images, whatever the ALAE objective.

Usage::

    python benchmarks/alae_reconstruction.py                               # the bundled model
    python benchmarks/alae_reconstruction.py runs/alae_a runs/alae_b/stylealae.safetensors
    python benchmarks/alae_reconstruction.py --optimise-steps 0 --json out.json runs/alae_a
    python benchmarks/alae_reconstruction.py --no-references --optimise-steps 0 --wplus-encoder 3000
    python benchmarks/alae_reconstruction.py --no-references --autoencoder 16,64,64,0.0015 \
        --autoencoder 32,128,64,0.0015 --autoencoder-steps 1000 --optimise-steps 0
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "assets" / "models" / "stylealae_32.safetensors"


def load_models(spec: str, which: str = "ema") -> list[tuple[str, int | None, Any]]:
    """``[(label, step, ALAEModel)]`` for a native file, a training checkpoint or a run folder;
    ``which``: the EMA networks (what inference loads) or the live ones."""
    from ganedit.io.checkpoint import safe_torch_load
    from ganedit_stylealae.model import ALAEModel
    from ganedit_stylealae.train import train_checkpoint_models

    path = Path(spec)
    if path.is_dir():
        files = sorted((path / "checkpoints").glob("step-*.pt"))
        last = path / "checkpoints" / "last.pt"
        if last.is_file():
            files.append(last)
        if not files:
            raise SystemExit(f"{path}: no checkpoints/step-*.pt or last.pt")
        out, seen = [], set()
        for f in files:
            for label, step, model in load_models(str(f), which):
                if step not in seen:
                    seen.add(step)
                    out.append((f"{path.name}@{step}", step, model))
        return out
    if path.suffix == ".pt":
        state = safe_torch_load(path)
        ema, live = train_checkpoint_models(state, path)
        return [(str(path), int(state["step"]), ema if which == "ema" else live)]
    model = ALAEModel.from_checkpoint(path, which=which)
    return [(str(path), None, model.eval())]


def held_out_images(resolution: int) -> torch.Tensor:
    """The images of ``configs/alae_reconstruct.yaml`` (its ``procedural`` pairs)."""
    import yaml

    from ganedit.data import render

    cfg = yaml.safe_load((REPO / "configs" / "alae_reconstruct.yaml").read_text())
    return torch.stack([render(s, t, resolution) for s, t in cfg["procedural"]])


def references(resolution: int, pca_images: int = 0,
               pca_dims: tuple[int, ...] = (64, 128, 256)) -> list[dict[str, Any]]:
    """Model-free reconstructions of the six images (see the module doc)."""
    import torch.nn.functional as F
    import yaml

    from ganedit.data import structure_labels
    from ganedit.metrics import psnr, ssim

    x = held_out_images(resolution)
    pairs = yaml.safe_load((REPO / "configs" / "alae_reconstruct.yaml").read_text())["procedural"]
    regions = torch.zeros_like(x)
    for i, (s, _) in enumerate(pairs):
        labels = structure_labels(s, resolution)
        for k in labels.unique():
            mask = labels == k
            regions[i][:, mask] = x[i][:, mask].mean(1, keepdim=True)
    rows = {"reference: image mean colour": x.mean((2, 3), keepdim=True).expand_as(x),
            "reference: region mean colours (true layout)": regions,
            "reference: 8 px copy, upscaled": F.interpolate(F.avg_pool2d(x, resolution // 8), size=resolution,
                                                             mode="bilinear", align_corners=False)}
    x64 = dataset_images(1, 64, resolution)
    rows64 = {"reference: image mean colour": x64.mean((2, 3), keepdim=True).expand_as(x64)}
    if pca_images:
        train = dataset_images(0, pca_images, resolution).flatten(1)
        mean = train.mean(0)
        basis = torch.linalg.svd(train - mean, full_matrices=False).Vh
        for k in pca_dims:
            name = f"reference: best linear {k}-number code (PCA of {pca_images:,} training images)"
            project = lambda v: ((v.flatten(1) - mean) @ basis[:k].T @ basis[:k] + mean).view_as(v)  # noqa: E731
            rows[name], rows64[name] = project(x), project(x64)
    out = []
    for k, v in rows.items():
        row = {"model": k, "held6_psnr": float(psnr(v, x).mean()), "held6_ssim": float(ssim(v, x).mean())}
        if k in rows64:
            row["held64_psnr"] = float(psnr(rows64[k], x64).mean())
            row["held64_ssim"] = float(ssim(rows64[k], x64).mean())
        out.append(row)
    return out


def dataset_images(seed: int, n: int, resolution: int) -> torch.Tensor:
    from ganedit.data import ProceduralDataset

    ds = ProceduralDataset(resolution, length=max(n, 1), seed=seed)
    return torch.stack([ds[i] for i in range(n)])


def decode(model: Any, w: torch.Tensor, noise_mode: str, seed: int = 0) -> torch.Tensor:
    """G(w) with w broadcast to every style slot; random noise from a generator seeded ``seed``."""
    styles = w[:, None].repeat(1, model.arch.num_ws, 1) if w.ndim == 2 else w
    return model.decoder(styles, None, 1.0, noise_mode, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def reconstruction(model: Any, x: torch.Tensor, noise_mode: str) -> tuple[float, float]:
    from ganedit.metrics import psnr, ssim

    rec = decode(model, model.encoder(x), noise_mode)
    return float(psnr(rec, x).mean()), float(ssim(rec, x).mean())


@torch.no_grad()
def fakes(model: Any, n: int = 64, seed: int = 1) -> dict[str, float]:
    from ganedit.metrics import psnr, ssim

    z = torch.randn(n, model.arch.latent_size, generator=torch.Generator().manual_seed(seed))
    w = model.mapping_f(z)
    x = decode(model, w, "random", seed)
    w_hat = model.encoder(x)
    rec = decode(model, w_hat, "random", seed)
    err = float((w_hat - w).pow(2).mean())
    return {"fake_psnr": float(psnr(rec, x).mean()), "fake_ssim": float(ssim(rec, x).mean()),
            "reciprocity_rel": err / float(w.var(0).mean())}


def reach(model: Any, x: torch.Tensor, steps: int, per_slot: bool, lr: float = 0.02) -> tuple[float, float]:
    """PSNR / SSIM of the best w (or w+) for each image: ``steps`` Adam steps on the pixel MSE."""
    from ganedit.metrics import psnr, ssim

    model.requires_grad_(False)
    with torch.no_grad():
        w0 = model.encoder(x)
    w = (w0[:, None].repeat(1, model.arch.num_ws, 1) if per_slot else w0.clone()).requires_grad_(True)
    opt = torch.optim.Adam([w], lr=lr)
    for _ in range(steps):
        loss = (decode(model, w, "const") - x).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    with torch.no_grad():
        rec = decode(model, w, "const")
    return float(psnr(rec, x).mean()), float(ssim(rec, x).mean())


def autoencoder_control(spec: str, steps: int, seed: int = 0) -> Any:
    """E and G (widths ``START,MAX``, latent ``LATENT``) trained ``steps`` iterations at learning rate
    ``LR`` on the pixel MSE alone (see the module doc)."""
    from ganedit_stylealae.arch import ALAEArch
    from ganedit_stylealae.losses import pixel_reconstruction_loss
    from ganedit_stylealae.model import ALAEModel

    start, top, latent, lr = spec.split(",")
    arch = ALAEArch.from_resolution(32, start_channels=int(start), max_channels=int(top), latent_size=int(latent),
                                    mapping_layers=4)
    model = ALAEModel.random(arch, seed=seed).train()
    params = list(model.encoder.parameters()) + list(model.decoder.parameters())
    opt = torch.optim.Adam(params, lr=float(lr), betas=(0.0, 0.99), eps=1e-8)
    from ganedit.data import ProceduralDataset

    data = ProceduralDataset(32, 20000, seed=0)
    rng = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for _ in range(steps):
            x = torch.stack([data[int(i)] for i in torch.randint(0, len(data), (16,), generator=rng)])
            loss, _ = pixel_reconstruction_loss(model, x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval()


def wplus_encoder_control(model: Any, steps: int, lr: float = 1e-3, batch: int = 32,
                          seed: int = 0) -> dict[str, float]:
    """A per-slot (w+) encoder on top of the model's E (ours, a control): slot ``j`` gets
    ``w + H_j([t_1 .. t_2L])``, where ``t_i`` are E's mapped block statistics (whose sum is E's w)
    and ``H`` is a linear head initialised to zero, so training starts at the model's own
    reconstruction. E and H are trained ``steps`` iterations on the pixel MSE of G(E+(x)) with G and
    F frozen (random noise, Adam (0.9, 0.99)), then the six images are measured as in the row above.
    It asks whether an encoder that can use the generator's per-slot reach (best w+, above) closes
    the gap; the model itself is left unchanged (a copy is trained)."""
    import copy

    from torch import nn

    from ganedit.data import ProceduralDataset
    from ganedit.metrics import psnr, ssim

    model = copy.deepcopy(model)
    model.requires_grad_(False)
    enc, n, size = model.encoder, model.arch.num_ws, model.arch.latent_size
    head = nn.Linear(2 * len(enc.encode_block) * size, n * size)
    nn.init.zeros_(head.weight)
    nn.init.zeros_(head.bias)

    def encode(x: torch.Tensor) -> torch.Tensor:
        stats = enc.statistics(x)
        blocks = enc.encode_block[len(enc.encode_block) - len(stats):]
        terms = [t for b, st in zip(blocks, stats) for t in (b.style_1(st.stats_1), b.style_2(st.stats_2))]
        return sum(terms)[:, None] + head(torch.cat(terms, 1)).view(-1, n, size)

    enc.requires_grad_(True)
    opt = torch.optim.Adam([*enc.parameters(), *head.parameters()], lr=lr, betas=(0.9, 0.99))
    data = ProceduralDataset(model.arch.resolution, length=steps * batch, seed=seed)
    noise = torch.Generator().manual_seed(seed + 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for it in range(steps):
            x = torch.stack(data.__getitems__(list(range(it * batch, (it + 1) * batch))))
            loss = (model.decoder(encode(x), None, 1.0, "random", generator=noise) - x).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    held = held_out_images(model.arch.resolution)
    with torch.no_grad():
        styles = encode(held)
        rec = decode(model, styles, "random")
        row = {"held6_psnr": float(psnr(rec, held).mean()), "held6_ssim": float(ssim(rec, held).mean())}
        rec = decode(model, styles, "const")
        row["held6_const_psnr"] = float(psnr(rec, held).mean())
    return row


def measure(model: Any, optimise_steps: int, autoencoder: bool = False) -> dict[str, float]:
    res = model.arch.resolution
    held = held_out_images(res)
    row: dict[str, float] = {}
    row["held6_psnr"], row["held6_ssim"] = reconstruction(model, held, "random")
    row["held6_const_psnr"], row["held6_const_ssim"] = reconstruction(model, held, "const")
    row["held64_psnr"], row["held64_ssim"] = reconstruction(model, dataset_images(1, 64, res), "random")
    row["train64_psnr"], row["train64_ssim"] = reconstruction(model, dataset_images(0, 64, res), "random")
    if autoencoder:  # F was never trained: no samples to reconstruct, no reach to speak of
        return row
    row.update(fakes(model))
    if optimise_steps:
        row["reach_w_psnr"], row["reach_w_ssim"] = reach(model, held, optimise_steps, per_slot=False)
        row["reach_wplus_psnr"], row["reach_wplus_ssim"] = reach(model, held, optimise_steps, per_slot=True)
    return row


COLUMNS = [("held6_psnr", "held-out 6 PSNR", 2), ("held6_ssim", "SSIM", 3), ("held6_const_psnr", "const-noise PSNR", 2),
           ("held64_psnr", "held-out 64 PSNR", 2), ("held64_ssim", "SSIM", 3), ("train64_psnr", "train 64 PSNR", 2),
           ("fake_psnr", "fakes G(E(G(w))) PSNR", 2), ("reciprocity_rel", "reciprocity / var(w)", 3),
           ("reach_w_psnr", "best w PSNR", 2), ("reach_w_ssim", "best w SSIM", 3),
           ("reach_wplus_psnr", "best w+ PSNR", 2)]


def table(rows: list[dict[str, Any]]) -> str:
    cols = [c for c in COLUMNS if any(c[0] in r for r in rows)]
    lines = ["| model | " + " | ".join(c[1] for c in cols) + " |", "|---|" + "---|" * len(cols)]
    for r in rows:
        cells = [f"{r[k]:.{d}f}" if k in r else "-" for k, _, d in cols]
        lines.append(f"| {r['model']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*",
                    help="native .safetensors files, training .pt checkpoints or run folders")
    ap.add_argument("--optimise-steps", type=int, default=300,
                    help="Adam steps of the best-w search (0: skip that column pair)")
    ap.add_argument("--which", choices=("ema", "live"), default="ema",
                    help="the EMA networks (what inference loads, default) or the live ones")
    ap.add_argument("--autoencoder", action="append", default=[], metavar="START,MAX,LATENT,LR",
                    help="also train this plain-autoencoder control (repeatable; see the module doc)")
    ap.add_argument("--autoencoder-steps", type=int, default=1000)
    ap.add_argument("--wplus-encoder", type=int, default=0, metavar="STEPS",
                    help="also train the per-slot (w+) encoder control on each model for STEPS iterations "
                         "(batch 32; see wplus_encoder_control)")
    ap.add_argument("--no-references", action="store_true", help="leave out the model-free reference rows")
    ap.add_argument("--pca-images", type=int, default=4000,
                    help="training images for the best-linear-code references (0: leave them out)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.models and not args.autoencoder:
        args.models = [str(BUNDLED)]
    rows = [] if args.no_references else references(32, args.pca_images)
    for spec in args.models:
        for label, step, model in load_models(spec, args.which):
            t = time.perf_counter()
            row = {"model": label, "which": args.which, "step": step, **measure(model, args.optimise_steps)}
            row["seconds"] = round(time.perf_counter() - t, 1)
            rows.append(row)
            print(f"{label}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()
                                            if isinstance(v, float)), file=sys.stderr, flush=True)
            if args.wplus_encoder:
                t = time.perf_counter()
                plus = {"model": f"{label} + w+ encoder control ({args.wplus_encoder} its)",
                        **wplus_encoder_control(model, args.wplus_encoder),
                        "seconds": round(time.perf_counter() - t, 1)}
                rows.append(plus)
                print(f"{plus['model']}: " + ", ".join(f"{k} {v:.3f}" for k, v in plus.items()
                                                      if isinstance(v, float)), file=sys.stderr, flush=True)
    for spec in args.autoencoder:
        t = time.perf_counter()
        model = autoencoder_control(spec, args.autoencoder_steps)
        row = {"model": f"autoencoder control {spec} ({args.autoencoder_steps} its)",
               **measure(model, 0, autoencoder=True), "seconds": round(time.perf_counter() - t, 1)}
        rows.append(row)
        print(f"{row['model']}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float)),
              file=sys.stderr, flush=True)
    print(table(rows))
    print(f"\n(torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{args.threads} thread(s))")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
