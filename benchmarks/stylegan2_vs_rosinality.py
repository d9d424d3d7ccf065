"""CPU speed of ganedit's StyleGAN2 synthesis against rosinality's, side by side, same weights.

Not a test, and it needs a checkout of https://github.com/rosinality/stylegan2-pytorch (not
shipped: pass its folder with ``--repo``). Its CUDA extensions are never built: the extension
loader is replaced by a stub before the import, so the reference runs its own CPU branches
(``upfirdn2d_native``, ``F.leaky_relu`` for the fused activation, plain ``F.conv2d`` instead of
``conv2d_gradfix``), as in the parity fixtures (``../shared/fixtures/stylegan2_rosinality``).

For each width a generator of ``--size`` px with every layer ``width`` channels is built by
rosinality's code, its state dict is loaded into ``ganedit_stylegan2.networks.Generator`` (the
parameter names agree) and both synthesise the same ``ws``:

* **forward**: no grad, the stored (const) noise; the outputs are compared (max abs difference);
* **forward+backward**: fresh random noise, ``mean(img^2).backward()`` into every parameter.

The two implementations alternate within each repeat (ours, theirs, ours, ...), so a shared
machine's changing load hits both alike; times are medians. Usage::

    python benchmarks/stylegan2_vs_rosinality.py --repo /path/to/stylegan2-pytorch --widths 64 512
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable


def import_rosinality(repo: Path) -> Any:
    """rosinality's ``model`` module with its CUDA extension loader stubbed out."""
    import torch.utils.cpp_extension as ext

    real_load = ext.load
    ext.load = lambda *a, **k: None  # the CPU branches never touch the extension
    sys.path.insert(0, str(repo))
    try:
        return importlib.import_module("model")
    finally:
        ext.load = real_load
        sys.path.remove(str(repo))


def rosinality_generator(model: Any, size: int, style_dim: int, n_mlp: int, width: int) -> Any:
    """rosinality's Generator with every resolution ``width`` channels (its width table is a literal
    in ``__init__``; a subclass swaps it as it is assigned, the code itself is untouched)."""
    table = {2 ** i: width for i in range(2, 11)}

    class Fixed(model.Generator):
        def __setattr__(self, name: str, value: Any) -> None:
            super().__setattr__(name, dict(table) if name == "channels" else value)

    return Fixed(size, style_dim, n_mlp)


def seconds(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run(repo: Path, size: int, batch: int, widths: list[int], style_dim: int, n_mlp: int, repeats: int,
        threads: int) -> list[dict[str, Any]]:
    import torch

    from ganedit_stylegan2.networks import Generator

    torch.set_num_threads(threads)
    model = import_rosinality(repo)
    rows = []
    for width in widths:
        torch.manual_seed(0)
        theirs = rosinality_generator(model, size, style_dim, n_mlp, width).eval()
        ours = Generator(size, style_dim=style_dim, n_mlp=n_mlp,
                         channels={r: width for r in (2 ** i for i in range(2, 11)) if r <= size}).eval()
        missing, unexpected = ours.load_state_dict(theirs.state_dict(), strict=False)
        if set(missing) - {"w_avg"} or unexpected:
            raise RuntimeError(f"state dicts differ: missing {missing}, unexpected {unexpected}")
        ws = torch.randn(batch, ours.n_latent, style_dim, generator=torch.Generator().manual_seed(1))

        def fwd_ours() -> Any:
            with torch.no_grad():
                return ours.synthesis(ws, noise_mode="const")

        def fwd_theirs() -> Any:
            with torch.no_grad():
                return theirs([ws], input_is_latent=True, randomize_noise=False)[0]

        def fb_ours() -> None:
            ours.zero_grad(set_to_none=True)
            ours.synthesis(ws, noise_mode="random").pow(2).mean().backward()

        def fb_theirs() -> None:
            theirs.zero_grad(set_to_none=True)
            theirs([ws], input_is_latent=True, randomize_noise=True)[0].pow(2).mean().backward()

        diff = float((fwd_ours() - fwd_theirs()).abs().max())
        times: dict[str, list[float]] = {k: [] for k in ("fwd_ours", "fwd_theirs", "fb_ours", "fb_theirs")}
        for fn in (fb_ours, fb_theirs):  # warm-up
            fn()
        for _ in range(repeats):
            for key, fn in (("fwd_ours", fwd_ours), ("fwd_theirs", fwd_theirs), ("fb_ours", fb_ours),
                            ("fb_theirs", fb_theirs)):
                times[key].append(seconds(fn))
        med = {k: statistics.median(v) for k, v in times.items()}
        rows.append({"width": width, "size": size, "batch": batch, "max_abs_diff": diff,
                     **{f"{k}_s": round(v, 4) for k, v in med.items()},
                     "forward_speedup": round(med["fwd_theirs"] / med["fwd_ours"], 2),
                     "forward_backward_speedup": round(med["fb_theirs"] / med["fb_ours"], 2)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", type=Path, required=True, help="checkout of rosinality/stylegan2-pytorch")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--widths", type=int, nargs="+", default=[64, 128, 512])
    ap.add_argument("--style-dim", type=int, default=512)
    ap.add_argument("--n-mlp", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, help="also write the rows here")
    args = ap.parse_args(argv)
    rows = run(args.repo, args.size, args.batch, args.widths, args.style_dim, args.n_mlp, args.repeats,
               args.threads)
    print("| width | forward ours / rosinality (s) | speed-up | forward+backward ours / rosinality (s) | "
          "speed-up | max abs diff |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['width']} | {r['fwd_ours_s']:.3f} / {r['fwd_theirs_s']:.3f} | {r['forward_speedup']:.2f}x | "
              f"{r['fb_ours_s']:.3f} / {r['fb_theirs_s']:.3f} | {r['forward_backward_speedup']:.2f}x | "
              f"{r['max_abs_diff']:.1e} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
