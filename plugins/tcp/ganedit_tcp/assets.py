"""The bundled TCP sample images and masks (``assets/images/tcp``), reproducibly.

``python -m ganedit_tcp.assets assets/images/tcp`` writes (64 px, procedural, so the factors are
known):

* ``content/content_<k>.png``: content images (``ganedit.data.render``, seeds in :data:`CONTENT`,
  drawn like the bundled models' training data, ``ganedit_swapae.BUNDLED_DRAWING``);
* ``style/style_<k>.png``: style references (:data:`STYLE`, drawn the same way);
* ``masks/``: ``left.png``, ``center.png``, ``stroke.png`` (a seeded free-form stroke mask) and
  ``content_0_shape.png`` (the largest shape of ``content_0``'s layout: a region that follows the
  image content);
* ``domains/a`` and ``domains/b``: two tiny "domains" for the cross-domain config: procedural
  colour images, and the same kind of layouts drawn as monochrome blueprints.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ganedit.data import render, structure_labels
from ganedit.io.images import save_image

from ganedit_swapae import BUNDLED_DRAWING
from ganedit_tcp.masks import stroke_mask

RESOLUTION = 64
CONTENT: list[tuple[int, int]] = [(11, 12), (21, 22), (31, 32), (41, 42)]
STYLE: list[tuple[int, int]] = [(51, 52), (61, 62), (71, 72)]
DOMAIN_SEEDS = range(100, 108)


def _mask(m: torch.Tensor) -> torch.Tensor:
    """``[1, H, W]`` in [0, 1] -> an RGB image in [-1, 1] (white = 1)."""
    return m.expand(3, -1, -1) * 2 - 1


def blueprint(image: torch.Tensor) -> torch.Tensor:
    """A monochrome blue-and-white rendering of ``image`` (the second toy domain)."""
    grey = (image.mean(0, keepdim=True) + 1) / 2
    dark, light = torch.tensor([0.05, 0.15, 0.45])[:, None, None], torch.tensor([0.85, 0.92, 1.0])[:, None, None]
    return (dark + (light - dark) * grey) * 2 - 1


def write_assets(folder: str | Path) -> list[Path]:
    """Write every sample file under ``folder``; returns the paths."""
    root = Path(folder)
    out: list[Path] = []
    for k, (s, t) in enumerate(CONTENT):
        out.append(save_image(root / "content" / f"content_{k}.png", render(s, t, RESOLUTION, **BUNDLED_DRAWING)))
    for k, (s, t) in enumerate(STYLE):
        out.append(save_image(root / "style" / f"style_{k}.png", render(s, t, RESOLUTION, **BUNDLED_DRAWING)))
    n = RESOLUTION
    left = torch.zeros(1, n, n)
    left[..., : n // 2] = 1
    center = torch.zeros(1, n, n)
    center[:, n // 4: n - n // 4, n // 4: n - n // 4] = 1
    stroke = stroke_mask((n, n), (0.25, 0.35), torch.Generator().manual_seed(2021))
    labels = structure_labels(CONTENT[0][0], n, BUNDLED_DRAWING["shape_labels"])
    largest = max(range(2, 5), key=lambda k: int((labels == k).sum()))
    shape = (labels == largest).float()[None]
    for name, m in (("left", left), ("center", center), ("stroke", stroke), ("content_0_shape", shape)):
        out.append(save_image(root / "masks" / f"{name}.png", _mask(m)))
    for i in DOMAIN_SEEDS:
        out.append(save_image(root / "domains" / "a" / f"a_{i}.png", render(2 * i, 2 * i + 1, RESOLUTION)))
        out.append(save_image(root / "domains" / "b" / f"b_{i}.png",
                              blueprint(render(2 * i + 1000, 2 * i + 1001, RESOLUTION))))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default="assets/images/tcp")
    args = parser.parse_args(argv)
    paths = write_assets(args.folder)
    print(f"wrote {len(paths)} files under {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
