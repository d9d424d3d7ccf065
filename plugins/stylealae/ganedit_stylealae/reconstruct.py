"""Reconstruction through the autoencoder, G(E(x)), and the ``alae_reconstruct`` task.

Noise handling: the official reconstruction (figure scripts, demo, FID-rec) decodes with noise
**on** and no truncation, so the default ``noise_mode`` is ``'random'``; here the noise is drawn
from a ``torch.Generator`` seeded with the run seed, so a run is repeatable (the official code uses
the unseeded global RNG, so its reconstructions differ slightly call to call). ``'const'`` is the
official deterministic ``noise=False`` path and ``'none'`` adds no noise at all.

Outputs (under the run folder): ``images/reconstruction_grid.png`` (rows of inputs over their
reconstructions), ``images/reconstructions/<name>.png``, ``images/style_mixing_<range>.png``
(official style-mixing figure: top row sources, left column destinations, each cell the
destination with that range of style slots taken from the source), per editor
``images/edits/<k>_<type>_<label>.png`` (inputs over edits; editors that invert extra images, e.g.
``style_mixing`` with ``sources``, get them encoded by E) and ``metrics.json`` with PSNR/SSIM
per image and their means.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, FilePath

import ganedit
from ganedit.config import ConfigError, Problem, Slot, SlotList, check_pair
from ganedit.interfaces import Encoder, Generator, NoiseMode
from ganedit.latent import Latent
from ganedit_stylealae.mixing import mixing_grid, resolve_ranges


def reconstruct(encoder: Encoder, generator: Generator, images: torch.Tensor,
                noise_mode: NoiseMode = "random", rng: torch.Generator | None = None) -> tuple[Latent, torch.Tensor]:
    """``(E(x), G(E(x)))`` for images ``[B, 3, H, W]`` in [-1, 1].

    ``rng`` seeds the random noise when the generator's ``synthesis`` accepts a ``generator``
    (StyleALAE does); otherwise ``generate(latent, noise_mode)`` is used.
    """
    latent = encoder.encode(images)
    return latent, _decode(generator, latent, noise_mode, rng)


def _decode(generator: Generator, latent: Latent, noise_mode: NoiseMode, rng: torch.Generator | None) -> torch.Tensor:
    synthesis = getattr(generator, "synthesis", None)
    if (rng is not None and noise_mode == "random" and latent.space in ("w", "w+") and synthesis is not None
            and "generator" in inspect.signature(synthesis).parameters):
        return synthesis(latent.ws, noise_mode, generator=rng)
    return generator.generate(latent, noise_mode)


def _match(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Box-downscale (or bilinearly resize) ``images`` to compare them with reconstructions."""
    if images.shape[-1] == resolution:
        return images
    if images.shape[-1] > resolution and images.shape[-1] % resolution == 0:
        return F.avg_pool2d(images, images.shape[-1] // resolution)
    return F.interpolate(images, size=(resolution, resolution), mode="bilinear", align_corners=False)


class EditingContext:
    """The run context handed to editors, plus ``invert_images(paths) -> Latent``: for an
    autoencoder, "inverting" an image is encoding it with E (as the official style-mixing script
    does for its source images)."""

    def __init__(self, context: Any, encoder: Encoder, resolution: int):
        self._context = context
        self._encoder = encoder
        self._resolution = resolution

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    @torch.no_grad()
    def invert_images(self, paths: list[Path]) -> Latent:
        from ganedit.io.images import load_image

        x = torch.stack([load_image(p, self._resolution) for p in paths]).to(self._context.device)
        return self._encoder.encode(x)


def _slug(label: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(label))[:64] or "edit"


class ALAEReconstructTask(ganedit.Task, name="alae_reconstruct"):
    """Encode images with E, decode with G: reconstruction grids, style-mixing grids, PSNR/SSIM."""

    class Params(ganedit.Params):
        encoder: Slot("encoder")  # type: ignore[valid-type]
        generator: Slot("generator")  # type: ignore[valid-type]
        images: list[FilePath] | str = Field(default_factory=list,
                                             description="image files, or one folder or glob pattern")
        procedural: list[tuple[int, int]] = Field(
            default_factory=list, description="[structure_seed, texture_seed] pairs rendered by "
                                              "ganedit.data.render (no files needed)")
        resolution: int | None = Field(None, ge=4, description="load images at this size (default: G's)")
        editors: SlotList("editor") = Field(default_factory=list)  # type: ignore[valid-type]
        noise_mode: Literal["const", "random", "none"] = Field(
            "random", description="G's noise: 'random' (official reconstruction, seeded by the run seed), "
                                  "'const' (official deterministic path) or 'none'")
        style_mixing: bool = Field(True, description="write the official style-mixing grids")
        mixing_ranges: dict[str, list[int]] | None = Field(
            None, description="style slots per mixing grid (default: official coarse 0-3, middle 4-7, "
                              "fine 8..num_ws-1)")
        max_mixing_images: int = Field(6, ge=2, description="images used in each style-mixing grid")
        batch_size: int = Field(8, ge=1, description="images encoded/decoded per call")
        grid_columns: int = Field(8, ge=1, description="images per row in the reconstruction grid")

    @classmethod
    def check_params(cls, params: "ALAEReconstructTask.Params") -> list[str]:
        if not params.images and not params.procedural:
            return ["give images (files, a folder or a glob) or procedural [structure_seed, texture_seed] pairs"]
        return []

    @classmethod
    def check_compatibility(cls, params: "ALAEReconstructTask.Params", registry: Any) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        enc = registry.get("encoder", params.encoder.type)
        gen = registry.get("generator", params.generator.type)
        space = enc.cls.output_space(params.encoder.params)
        spaces = gen.cls.latent_spaces(params.generator.params)
        if space not in spaces:
            problems.append(("generator", f"generator {params.generator.type!r} accepts {list(spaces)}, "
                                          f"but encoder {params.encoder.type!r} outputs {space!r}"))
        for i, spec in enumerate(params.editors):
            supported = spec.cls.supported_spaces(spec.params)
            if space not in supported:
                problems.append((f"editors.{i}", f"editor {spec.type!r} supports {list(supported)}, "
                                                 f"not the encoder's {space!r}"))
        return problems

    # ------------------------------------------------------------------ inputs
    @staticmethod
    def image_paths(images: list[Path] | str) -> list[Path]:
        from ganedit.io.images import list_images

        if isinstance(images, list) and not images:
            return []
        paths = list_images([Path(p) for p in images] if isinstance(images, list) else images)
        if not paths:
            raise FileNotFoundError(f"images: no image files match {images!r}")
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"images: file not found: {missing[0]}")
        return paths

    def load_inputs(self, resolution: int) -> tuple[torch.Tensor, list[str]]:
        from ganedit.data import render
        from ganedit.io.images import load_image
        from ganedit.io.output import output_names

        paths = self.image_paths(self.params.images)
        images, names = [load_image(path, resolution) for path in paths], output_names(paths)
        for s, t in self.params.procedural:
            images.append(render(s, t, resolution))
            names.append(f"procedural_{s}_{t}")
        return torch.stack(images), names

    # ------------------------------------------------------------------ run
    def run(self, context: Any) -> dict[str, Any]:
        from ganedit.metrics import psnr, ssim

        p = self.params
        encoder = context.build("encoder", p.encoder)
        generator = context.build("generator", p.generator)
        for net in (encoder, generator):
            if isinstance(net, torch.nn.Module):
                net.eval().requires_grad_(False)
        check_pair(p.encoder, p.generator, (encoder.num_ws, encoder.w_dim), (generator.num_ws, generator.w_dim),
                   "latents (num_ws, w_dim)")
        size = p.resolution or generator.img_resolution
        if encoder.img_resolution > size:  # the encoder only downscales
            raise ConfigError([Problem("resolution", self.name, f"the inputs are loaded at {size} px, the encoder "
                                       f"reads {encoder.img_resolution} px images; set resolution: "
                                       f"{encoder.img_resolution} (or use an encoder and a generator of one model)")])
        x, names = self.load_inputs(size)
        device, rng = context.device, context.generator()

        recs, latents = [], []
        batches = [x[i:i + p.batch_size] for i in range(0, len(x), p.batch_size)]
        with torch.no_grad():
            for xb in context.progress(batches, total=len(batches), desc="reconstruct"):
                latent, rec = reconstruct(encoder, generator, xb.to(device), p.noise_mode, rng)
                recs.append(rec.float().cpu())
                latents.append(latent.detach().to("cpu"))
        rec = torch.cat(recs)
        latent = Latent.cat(latents)
        target = _match(x, rec.shape[-1])
        psnr_v, ssim_v = psnr(rec, target), ssim(rec, target)

        self._write_reconstructions(context, target, rec, names)
        mixing = self._write_style_mixing(context, generator, latent, target, rng) if p.style_mixing else {}
        edits = self._write_edits(EditingContext(context, encoder, x.shape[-1]), generator, latent, target)

        per_image = [{"image": n, "psnr": float(a), "ssim": float(b)} for n, a, b in zip(names, psnr_v, ssim_v)]
        summary = {
            "num_images": len(names),
            "resolution": int(rec.shape[-1]),
            "noise_mode": p.noise_mode,
            "psnr": float(psnr_v.mean()),
            "ssim": float(ssim_v.mean()),
            "latent_space": latent.space,
            "style_mixing": mixing,
            "edits": edits,
        }
        context.write_metrics(summary, per_image)
        return summary

    def _write_reconstructions(self, context: Any, target: torch.Tensor, rec: torch.Tensor, names: list[str]) -> None:
        cols = min(self.params.grid_columns, len(names))
        rows = []
        for i in range(0, len(names), cols):
            chunk_x, chunk_r = target[i:i + cols], rec[i:i + cols]
            pad = cols - chunk_x.shape[0]
            if pad:  # keep inputs and reconstructions column-aligned
                blank = torch.ones_like(chunk_x[:1]).repeat(pad, 1, 1, 1)
                chunk_x, chunk_r = torch.cat([chunk_x, blank]), torch.cat([chunk_r, blank])
            rows += [chunk_x, chunk_r]
        context.save_grid("reconstruction_grid.png", torch.cat(rows), nrow=cols)
        for name, image in zip(names, rec):
            context.save_image(f"reconstructions/{name}.png", image)

    def _write_style_mixing(self, context: Any, generator: Generator, latent: Latent, target: torch.Tensor,
                            rng: torch.Generator) -> dict[str, list[int]]:
        n = min(self.params.max_mixing_images, latent.batch_size)
        if n < 2 or latent.space not in ("w", "w+"):
            return {}
        ranges = resolve_ranges(self.params.mixing_ranges, latent.ws.shape[1])
        ws = latent.ws[:n].to(context.device)
        blank = torch.ones_like(target[:1])
        for name, slots in ranges.items():
            styles = mixing_grid(ws, slots)
            with torch.no_grad():
                mixed = torch.cat([_decode(generator, Latent.wplus(chunk), self.params.noise_mode, rng).float().cpu()
                                   for chunk in styles.split(self.params.batch_size)])
            # Top row: sources; then per destination: the destination and its mixes with every source.
            cells = [blank, target[:n]]
            for i in range(n):
                cells += [target[i:i + 1], mixed[i * n:(i + 1) * n]]
            context.save_grid(f"style_mixing_{_slug(name)}.png", torch.cat(cells), nrow=n + 1)
        return ranges

    def _write_edits(self, context: Any, generator: Generator, latent: Latent, target: torch.Tensor) -> list[dict]:
        written = []
        for e, spec in enumerate(self.params.editors):
            editor = context.build("editor", spec)
            with torch.no_grad():
                edits = editor.edit(generator, latent.to(context.device), context)
            for edit in edits:
                name = f"edits/{e:02d}_{spec.type}_{_slug(edit.label)}.png"
                imgs = edit.images.float().cpu()
                context.save_grid(name, torch.cat([_match(target, imgs.shape[-1])[:imgs.shape[0]], imgs]),
                                  nrow=max(1, imgs.shape[0]))
                written.append({"editor": spec.type, "label": edit.label, "file": f"images/{name}"})
        return written
