"""Held-out in-domain test images of a bundled StyleGAN2 (``assets/images/heldout*/``).

Procedural drawings rendered by :mod:`ganedit.data` exactly as the generator's training data is
drawn (its training config's ``procedural`` dataset: resolution, patterns, palette, supersampling),
but from a dataset seed whose structure/texture seeds are disjoint from every training image's.
They are in the generator's domain, not on its manifold: the generator never drew them, as an FFHQ
generator never drew a given real face. Images 0..COUNT-1 of that dataset are taken, none skipped,
so nothing is picked by how well it inverts.

    # the textured drawings of stylegan2_64 (all patterns): assets/images/heldout/heldout_<i>.png
    python scripts/make_heldout_images.py
    # the smooth drawings of stylegan2_64_smooth, the images of configs/near_inversion.yaml
    python scripts/make_heldout_images.py --config configs/stylegan2_train_smooth.yaml \
        --out assets/images/heldout_smooth
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from ganedit.data import ProceduralDataset
from ganedit.io.images import save_image

ROOT = Path(__file__).resolve().parents[1]
TRAIN_CONFIG = ROOT / "configs" / "stylegan2_train_small.yaml"
OUT = ROOT / "assets" / "images" / "heldout"
HELDOUT_SEED = 1  # dataset seed; training uses seed 0
COUNT = 6


def training_seeds(config: Path = TRAIN_CONFIG) -> set[int]:
    """Every structure/texture seed the bundled generator's training data uses."""
    params = yaml.safe_load(config.read_text())["dataset"]["params"]
    data = ProceduralDataset(params["resolution"], params["length"], seed=params.get("seed", 0))
    return {s for i in range(len(data)) for s in data.factors(i)}


def heldout_dataset(count: int = COUNT, config: Path = TRAIN_CONFIG) -> ProceduralDataset:
    """The held-out images' dataset: drawn like the training data, from :data:`HELDOUT_SEED`."""
    params = yaml.safe_load(config.read_text())["dataset"]["params"]
    extra = {k: params[k] for k in ("supersample", "patterns", "shape_labels", "palette") if k in params}
    return ProceduralDataset(params["resolution"], count, seed=HELDOUT_SEED, **extra)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", type=Path, default=TRAIN_CONFIG, help="the generator's training config")
    ap.add_argument("--out", type=Path, default=OUT, help="folder the images are written to")
    a = ap.parse_args()
    config, out = a.config.resolve(), a.out.resolve()
    data = heldout_dataset(config=config)
    used = training_seeds(config)
    clash = [s for i in range(len(data)) for s in data.factors(i) if s in used]
    if clash:
        raise SystemExit(f"held-out seeds {clash} are training seeds; choose another HELDOUT_SEED")
    for i in range(len(data)):
        save_image(out / f"heldout_{i}.png", data[i])
    print(f"wrote {len(data)} images to {out} (factors {[data.factors(i) for i in range(len(data))]})")


if __name__ == "__main__":
    main()
