"""Sample grids for docs/models.md and the on-manifold sample images of the bundled StyleGAN2.

    python scripts/make_model_card_images.py
"""

from pathlib import Path

import torch
import yaml

import ganedit
from ganedit.data import ProceduralDataset
from ganedit.io.images import make_grid, save_image


def model_card_grids(name: str, train_config: str):
    """``docs/images/<name>_samples.png`` (16 samples, fixed seeds, constant noise) and a grid of
    the first 16 training images, drawn as ``train_config``'s dataset draws them; returns the
    generator."""
    params = dict(yaml.safe_load(Path(train_config).read_text())["dataset"]["params"])
    data = ProceduralDataset(**{**params, "length": 16})
    G = ganedit.build("generator", {"type": "stylegan2",
                                    "params": {"checkpoint": f"assets/models/{name}.safetensors"}}).eval()
    lat = G.sample_latent(16, generator=torch.Generator().manual_seed(2024))
    save_image(f"docs/images/{name}_samples.png", make_grid(G.generate(lat, noise_mode="const"), nrow=8))
    data_name = "procedural_64" + name.removeprefix("stylegan2_64")
    save_image(f"docs/images/{data_name}_data.png", make_grid(torch.stack([data[i] for i in range(16)]), nrow=8))
    return G


if __name__ == "__main__":
    with torch.no_grad():
        G = model_card_grids("stylegan2_64", "configs/stylegan2_train_small.yaml")
        model_card_grids("stylegan2_64_smooth", "configs/stylegan2_train_smooth.yaml")
        # on-manifold samples of stylegan2_64 (assets/images/generated/): seed 7, no truncation (the full
        # distribution). Samples 1-3 are kept: at truncation 0.7, and for sample 0 here (34.95 dB),
        # the initial W+ inversion alone lands at or within 0.1 dB of epsilon (35 dB), so near_perfect
        # would have nothing to do (see docs/inversion.md).
        lat = G.sample_latent(4, generator=torch.Generator().manual_seed(7), truncation_psi=1.0)
        imgs = G.generate(lat, noise_mode="const")
        for i in (1, 2, 3):
            save_image(f"assets/images/generated/sample_{i}.png", imgs[i])
    print("wrote docs/images/*.png and assets/images/generated/*.png")
