"""CPU cost of the official-size e4e / pSp / ReStyle encoders (1024 px FFHQ layout), on random weights.

Not a test. Writes a randomly initialised checkpoint in the official training layout at official
widths (IR-SE-50 encoder, 18 styles of 512, ``Generator(1024, 512, 8)`` decoder; about 1.2 GB) to a
temporary folder, then, in this process with the given torch threads, times:

* ``load``: ``ganedit.build('encoder', ...)`` (read the file, check keys and shapes, assign);
* ``encode``: one 1024x1024 image -> W+ code (resize to 256 + one encoder pass; ReStyle: all
  iterations, each with a 1024 px decoder pass);
* ``decode``: the decoder of the same file (``type: stylegan2``) rendering that code;

and reports the peak RSS. Median of ``--repeats`` runs after a warm-up.

Usage::

    python benchmarks/encoders.py                      # e4e, 1 thread
    python benchmarks/encoders.py --family restyle --iterations 5 --threads 2
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from stylegan2_speed import _time as median_time  # noqa: E402 - median after a warm-up, shared


def official_size_checkpoint(path: Path, family: str) -> None:
    """Random weights (seeded) in the layout the official coaches save, at official widths."""
    from ganedit_encoders.networks import BackboneStyleEncoder, FPNStyleEncoder
    from ganedit_stylegan2.networks import Generator

    torch.manual_seed(0)
    if family == "restyle":
        enc = BackboneStyleEncoder(18, input_nc=6)
        opts = {"encoder_type": "BackboneEncoder", "input_nc": 6, "output_size": 1024, "n_iters_per_batch": 5}
    else:
        enc = FPNStyleEncoder(18, progressive=family == "e4e")
        opts = ({"encoder_type": "Encoder4Editing", "stylegan_size": 1024} if family == "e4e" else
                {"encoder_type": "GradualStyleEncoder", "input_nc": 3, "output_size": 1024})
    with torch.no_grad():  # keep the random codes small, as trained encoders' are
        for block in enc.styles:
            block.linear.weight.mul_(0.01)
    dec = Generator(1024, 512, 8)
    state = {f"encoder.{k}": v for k, v in enc.state_dict().items()}
    state.update({f"decoder.{k}": v for k, v in dec.state_dict().items() if k != "w_avg"})
    latent_avg = dec.mean_latent(4096).repeat(18, 1)
    torch.save({"state_dict": state, "opts": {**opts, "start_from_latent_avg": True, "device": "cuda:0"},
                "latent_avg": latent_avg}, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--family", choices=["e4e", "psp", "restyle"], default="e4e")
    ap.add_argument("--iterations", type=int, default=None, help="ReStyle iterations (default: checkpoint's)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import ganedit

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{args.family}_official_size.pt"
        t0 = time.perf_counter()
        official_size_checkpoint(path, args.family)
        write_s = time.perf_counter() - t0
        params = {"checkpoint": str(path)}
        if args.family == "restyle" and args.iterations:
            params["iterations"] = args.iterations
        spec = {"type": args.family, "params": params}
        t0 = time.perf_counter()
        encoder = ganedit.build("encoder", spec)
        load_s = time.perf_counter() - t0
        G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": str(path)}})
        image = torch.rand(1, 3, 1024, 1024) * 2 - 1
        with torch.no_grad():
            encode_s = median_time(lambda: encoder.encode(image), args.repeats)
            code = encoder.encode(image)
            decode_s = median_time(lambda: G.generate(code), args.repeats)
        result = {
            "family": args.family, "threads": args.threads, "file_gb": round(path.stat().st_size / 1e9, 2),
            "encoder_params": sum(p.numel() for p in encoder.net.parameters()),
            "iterations": getattr(encoder, "iterations", 1),
            "write_s": round(write_s, 1), "load_s": round(load_s, 2), "encode_s": round(encode_s, 2),
            "decode_s": round(decode_s, 2),
            "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
            "torch": torch.__version__,
        }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
