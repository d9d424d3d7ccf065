"""The 32 px procedural images of ``configs/alae_near_inversion.yaml`` and the StyleALAE benchmark.

They are the ``[structure_seed, texture_seed]`` pairs that ``configs/alae_reconstruct.yaml`` renders
in memory, written once as 8-bit PNGs so that file-based tasks (``invert``) see the same images.

    python scripts/make_procedural_samples.py
"""

from pathlib import Path

from ganedit.data import render
from ganedit.io.images import save_image

PAIRS = [(101, 102), (201, 202), (301, 302), (401, 402), (501, 502), (601, 602)]
OUT = Path("assets/images/procedural")

if __name__ == "__main__":
    for s, t in PAIRS:
        save_image(OUT / f"procedural_{s}_{t}.png", render(s, t, 32))
    print(f"wrote {len(PAIRS)} images to {OUT}")
