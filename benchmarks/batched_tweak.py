"""Would tuning several images in one batched step make a generator tweak faster? Not a test.

A generator tweak (near_perfect, PTI) fits one copy of the synthesis weights per image, so images
are tuned one after another at batch 1. This times one tweak step (forward + backward into every
synthesis weight, const noise, an L2 loss) for B images done one after another, against the same B
images in one call with B stacked weight sets (``torch.func.vmap`` over ``functional_call``, which
turns each convolution into a grouped one). Results: docs/benchmarks.md ("Not reached, and why").

    python benchmarks/batched_tweak.py --batches 2 4 8 --reps 9
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.func import functional_call, vmap

import ganedit
from ganedit_inversion.generator_ops import select_parameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stylegan2_speed import _time as median_time  # noqa: E402 - median after a warm-up, shared

ROOT = Path(__file__).resolve().parent.parent


class Synthesis(torch.nn.Module):
    """The generator's synthesis as a module call, for ``functional_call``."""

    def __init__(self, generator: torch.nn.Module):
        super().__init__()
        self.generator = generator

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return self.generator.synthesis(ws, noise_mode="const")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=str(ROOT / "assets/models/stylegan2_64.safetensors"))
    ap.add_argument("--batches", type=int, nargs="+", default=[2, 4, 8])
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    gen = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": a.checkpoint}})
    syn = Synthesis(gen)
    # what near_perfect and PTI tune by default (everything but the mapping network)
    weights = {f"generator.{n}": p.detach() for n, p in select_parameters(gen, "synthesis")}
    g = torch.Generator().manual_seed(0)

    def loss(params: dict[str, torch.Tensor], w: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (functional_call(syn, params, (w[None],)) - target[None]).pow(2).mean()

    print(f"{a.checkpoint}: {sum(v.numel() for v in weights.values()):,} synthesis weights, "
          f"{a.threads} thread(s), torch {torch.__version__}, medians of {a.reps}")
    print("| images B | one after another, ms | one batched call (vmap), ms | speed-up |\n|---|---|---|---|")
    for b in a.batches:
        with torch.no_grad():
            ws = gen.mapping(torch.randn(b, gen.z_dim, generator=g), 1.0, None)
        targets = torch.rand(b, 3, gen.img_resolution, gen.img_resolution, generator=g) * 2 - 1
        single = {n: v.clone().requires_grad_(True) for n, v in weights.items()}
        stacked = {n: v.expand(b, *v.shape).clone().requires_grad_(True) for n, v in weights.items()}
        batched = vmap(loss, in_dims=(0, 0, 0))

        def one_by_one() -> None:
            for i in range(b):
                loss(single, ws[i], targets[i]).backward()

        seq = median_time(one_by_one, a.reps) * 1e3
        vec = median_time(lambda: batched(stacked, ws, targets).sum().backward(), a.reps) * 1e3
        print(f"| {b} | {seq:.1f} | {vec:.1f} | {seq / vec:.2f}x |")


if __name__ == "__main__":
    main()
