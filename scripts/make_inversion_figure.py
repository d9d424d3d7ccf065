"""README figure: the ``grid.png`` rows of some images of an ``invert`` run, stacked and enlarged.

    python scripts/make_inversion_figure.py runs/bench_inversion/near_perfect heldout_0 astronaut \
        --output docs/images/near_inversion.png

Each row is the task's own grid (target | initial | final | edits...), so the figure shows exactly
what the run wrote; the numbers for the caption are the images' records (``inversions/<name>/record.json``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from ganedit.io.images import load_image, save_image


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path, help="output folder of an invert run")
    ap.add_argument("names", nargs="+", help="image names (rows, top to bottom)")
    ap.add_argument("--output", type=Path, default=Path("docs/images/near_inversion.png"))
    ap.add_argument("--scale", type=int, default=2, help="nearest-neighbour enlargement")
    args = ap.parse_args(argv)
    rows = [load_image(args.run / "images" / name / "grid.png") for name in args.names]
    width = max(r.shape[-1] for r in rows)
    rows = [F.pad(r, (0, width - r.shape[-1], 0, 0), value=1.0) for r in rows]
    figure = F.interpolate(torch.cat(rows, 1)[None], scale_factor=args.scale, mode="nearest")[0]
    save_image(args.output, figure)
    for name in args.names:
        r = json.loads((args.run / "inversions" / name / "record.json").read_text())
        print(f"{name}: edits {r.get('edits')}; psnr {r['psnr_initial']:.2f} -> {r['psnr_final']:.2f} dB in "
              f"{r['steps']} steps, {r['seconds']:.1f} s ({r.get('cpu_seconds', float('nan')):.1f} CPU s); "
              f"edit_drift {r.get('edit_drift')}, local bound {r.get('edit_drift_local')}; "
              f"locality {r.get('locality_mae')} / {r.get('locality_mae_const')}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
