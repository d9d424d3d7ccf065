"""Sample grids for docs/models.md and the on-manifold sample images of the bundled StyleGAN2.

    python scripts/make_model_card_images.py
"""

import torch

import ganedit
from ganedit.data import ProceduralDataset
from ganedit.io.images import make_grid, save_image

if __name__ == "__main__":
    G = ganedit.build("generator", {"type": "stylegan2",
                                    "params": {"checkpoint": "assets/models/stylegan2_64.safetensors"}}).eval()
    with torch.no_grad():
        lat = G.sample_latent(16, generator=torch.Generator().manual_seed(2024))
        imgs = G.generate(lat, noise_mode="const")
        save_image("docs/images/stylegan2_64_samples.png", make_grid(imgs, nrow=8))
        data = ProceduralDataset(64, 16, seed=0)
        save_image("docs/images/procedural_64_data.png", make_grid(torch.stack([data[i] for i in range(16)]), nrow=8))
        # on-manifold inputs for configs/near_inversion.yaml: seed 7, no truncation (the full
        # distribution). Samples 1-3 are kept: at truncation 0.7, and for sample 0 here (34.95 dB),
        # the initial W+ inversion alone lands at or within 0.1 dB of epsilon (35 dB), so near_perfect
        # would have nothing to do (see docs/inversion.md).
        lat = G.sample_latent(4, generator=torch.Generator().manual_seed(7), truncation_psi=1.0)
        imgs = G.generate(lat, noise_mode="const")
        for i in (1, 2, 3):
            save_image(f"assets/images/generated/sample_{i}.png", imgs[i])
    print("wrote docs/images/*.png and assets/images/generated/*.png")
