"""CPU speed of the StyleGAN2 generator (config-F widths): forward and forward+backward.

Not a test. For each setting (64 px batch 8, 256 px batch 2) a fresh subprocess builds a randomly
initialised config-F generator (style_dim 512, n_mlp 8, channel_multiplier 2), times the
synthesis forward (no grad, const noise) and forward+backward (random noise, loss = mean(img^2),
gradients for all parameters), and reports images/s, the process's peak RSS
(``resource.getrusage``; a fresh process per setting so peaks do not mix), the convolution FLOPs
(counted analytically, see :func:`synthesis_conv_flops`; 1 multiply-add = 2 FLOPs) and the achieved
FLOP rate as a fraction of a measured fp32 matmul rate (1024x1024) on the same threads.

Usage::

    python benchmarks/stylegan2_speed.py                # markdown table on stdout
    python benchmarks/stylegan2_speed.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

SETTINGS = [(64, 8), (256, 2)]


def _rss_mib() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mib() -> float:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def _time(fn, repeats: int) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    sec = _time(lambda: a @ b, repeats)
    return 2 * n**3 / sec / 1e9


def synthesis_conv_flops(g: Any, batch: int) -> int:
    """Forward convolution FLOPs of ``g.synthesis`` for ``batch`` images (2 FLOPs per multiply-add).

    Counts the modulated 3x3 convs (the up-convs as stride-2 transposed convs over the input grid),
    the 1x1 ToRGBs and the depthwise 4x4 FIR filters (up-conv blur, skip upsampling). Equals
    ``torch.utils.flop_counter`` on the forward pass; that counter over-counts the backward of
    grouped convolutions (it ignores ``groups`` for the weight gradient), so the backward is taken
    as 2x the forward (input and weight gradients), the usual estimate.
    """
    k = len(g.blur_kernel)
    ch = g.channels
    flops = 2 * batch * ch[4] * ch[4] * 9 * 4 * 4 + 2 * batch * ch[4] * 3 * 4 * 4
    for r in (2**i for i in range(3, g.log_size + 1)):
        cin, cout, h = ch[r // 2], ch[r], r // 2
        flops += 2 * batch * cin * cout * 9 * h * h      # transposed 3x3, stride 2
        flops += 2 * batch * cout * k * k * r * r        # FIR blur after the up-conv
        flops += 2 * batch * cout * cout * 9 * r * r     # 3x3 conv
        flops += 2 * batch * cout * 3 * r * r            # ToRGB 1x1
        flops += 2 * batch * 3 * k * k * r * r           # skip upsampling FIR
    return flops


def run_one(size: int, batch: int, repeats: int) -> dict[str, Any]:
    import torch

    from ganedit_stylegan2.networks import Generator

    torch.manual_seed(0)
    base_rss = _current_rss_mib()
    g = Generator(size, style_dim=512, n_mlp=8, channel_multiplier=2).eval()
    z = torch.randn(batch, 512)
    with torch.no_grad():
        ws = g.mapping(z).unsqueeze(1).repeat(1, g.n_latent, 1)
    model_rss = _current_rss_mib()

    def fwd() -> None:
        with torch.no_grad():
            g.synthesis(ws, noise_mode="const")

    def fwd_bwd() -> None:
        g.zero_grad(set_to_none=True)
        img = g.synthesis(ws, noise_mode="random")
        img.square().mean().backward()

    fwd_sec = _time(fwd, repeats)
    fwd_peak = _rss_mib()
    fb_sec = _time(fwd_bwd, repeats)
    fb_peak = _rss_mib()
    fwd_flops = synthesis_conv_flops(g, batch)
    fb_flops = 3 * fwd_flops
    mm = matmul_gflops()
    return {
        "size": size, "batch": batch, "threads": torch.get_num_threads(),
        "params_M": sum(p.numel() for p in g.parameters()) / 1e6,
        "rss_before_model_MiB": base_rss, "rss_with_model_MiB": model_rss,
        "fwd_s": fwd_sec, "fwd_img_per_s": batch / fwd_sec, "fwd_peak_rss_MiB": fwd_peak,
        "fwd_conv_GFLOP": fwd_flops / 1e9, "fwd_GFLOPs": fwd_flops / fwd_sec / 1e9,
        "fb_s": fb_sec, "fb_img_per_s": batch / fb_sec, "fb_peak_rss_MiB": fb_peak,
        "fb_conv_GFLOP": fb_flops / 1e9, "fb_GFLOPs": fb_flops / fb_sec / 1e9,
        "matmul_GFLOPs": mm,
        "fwd_frac_of_matmul": fwd_flops / fwd_sec / 1e9 / mm,
        "fb_frac_of_matmul": fb_flops / fb_sec / 1e9 / mm,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| setting | pass | s / batch | images/s | peak RSS (MiB) | conv GFLOP / batch | "
            "achieved GFLOP/s | matmul GFLOP/s | fraction of matmul |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        name = f"{r['size']} px, batch {r['batch']}"
        for key, label in (("fwd", "forward"), ("fb", "forward+backward")):
            lines.append(f"| {name} | {label} | {r[key + '_s']:.3f} | {r[key + '_img_per_s']:.2f} | "
                         f"{r[key + '_peak_rss_MiB']:.0f} | {r[key + '_conv_GFLOP']:.2f} | "
                         f"{r[key + '_GFLOPs']:.1f} | {r['matmul_GFLOPs']:.1f} | "
                         f"{r[key + '_frac_of_matmul']:.2f} |")
    return head + "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=2, help="timed runs per measurement (median)")
    ap.add_argument("--json", help="also write the raw numbers to this file")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # "SIZE,BATCH": run in this process, print JSON
    args = ap.parse_args(argv)
    if args.one:
        size, batch = (int(v) for v in args.one.split(","))
        print(json.dumps(run_one(size, batch, args.repeats)))
        return 0
    rows = []
    for size, batch in SETTINGS:
        out = subprocess.run([sys.executable, __file__, "--one", f"{size},{batch}", "--repeats", str(args.repeats)],
                             check=True, capture_output=True, text=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    import torch

    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{rows[0]['threads']} threads, python {platform.python_version()}\n")
    print(markdown(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
