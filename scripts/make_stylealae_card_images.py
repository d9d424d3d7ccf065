"""The StyleALAE model-card images of docs/models.md, from the bundled model.

    python scripts/make_stylealae_card_images.py [--model assets/models/stylealae_32.safetensors]

``docs/images/stylealae_32_samples.png``: training images (top) over samples G(F(z)) (fixed seeds,
noise on, seeded). ``docs/images/stylealae_32_reconstructions.png``: the six images of
``configs/alae_reconstruct.yaml`` over G(E(x)), the config's setting (noise on, seeded by the run
seed 0), so the picture is what ``ganedit run configs/alae_reconstruct.yaml`` writes.
"""

import argparse

import torch
import torch.nn.functional as F

from ganedit.data import ProceduralDataset, render
from ganedit.io.images import make_grid, save_image
from ganedit_stylealae.model import ALAEModel


def _decode(model: ALAEModel, w: torch.Tensor, seed: int) -> torch.Tensor:
    styles = w[:, None].repeat(1, model.arch.num_ws, 1)
    return model.decoder(styles, None, 1.0, "random", generator=torch.Generator().manual_seed(seed))


def _save(path: str, rows: list[torch.Tensor], ncol: int, scale: int = 2) -> None:
    grid = make_grid(torch.cat(rows).clamp(-1, 1), nrow=ncol)
    save_image(path, F.interpolate(grid[None], scale_factor=scale, mode="nearest")[0])


if __name__ == "__main__":
    import yaml

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="assets/models/stylealae_32.safetensors")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = ALAEModel.from_checkpoint(args.model).eval()
    res = model.arch.resolution
    with torch.no_grad():
        data = ProceduralDataset(res, 8, seed=0)
        z = torch.randn(8, model.arch.latent_size, generator=torch.Generator().manual_seed(2024))
        samples = _decode(model, model.mapping_f(z), 0)
        _save("docs/images/stylealae_32_samples.png", [torch.stack([data[i] for i in range(8)]), samples], 8)
        with open("configs/alae_reconstruct.yaml", encoding="utf-8") as fh:
            pairs = yaml.safe_load(fh)["procedural"]
        x = torch.stack([render(s, t, res) for s, t in pairs])
        _save("docs/images/stylealae_32_reconstructions.png", [x, _decode(model, model.encoder(x), 0)], len(pairs))
    print("wrote docs/images/stylealae_32_samples.png and docs/images/stylealae_32_reconstructions.png")
