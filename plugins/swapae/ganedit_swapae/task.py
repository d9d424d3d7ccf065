"""Task ``swapae_swap``: structure x texture swap grid, reconstructions and editor outputs.

Inputs are image files (files, folders or globs) and/or procedural images (``ganedit.data.render``
with explicit ``[structure_seed, texture_seed]`` pairs). Procedural inputs come with the ground
truth of every swap (A's structure seed with B's texture seed), so the swap PSNR against it is
reported too (``swap_psnr_vs_truth``), next to the trivial baselines "output A" (the structure input)
and "output B" (the texture reference): ``output_a_psnr_vs_truth``, ``output_b_psnr_vs_truth``.

Outputs (under the run folder): ``images/swap_grid.png`` (top row: texture references, left
column: structure inputs), ``images/reconstruction.png`` (inputs over reconstructions),
``images/swaps/<structure>__<texture>.png``, and per editor ``images/edits/<k>_<type>/grid.png``
(rows: structure inputs; columns: input, reconstruction, then each edit) with one PNG per edit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar, Literal, Sequence

import torch
from pydantic import Field

import ganedit
from ganedit import Latent, Params
from ganedit.builtin import ProceduralDrawing
from ganedit.config import Slot, SlotList, check_pair, latent_space_problems, missing_paths

from ganedit_swapae.editors import EncodingContext

SPACE = "structure_texture"


class ProceduralInputs(ProceduralDrawing):
    """Procedural images as ``[structure_seed, texture_seed]`` pairs, drawn as the drawing options
    say (set them like the model's training dataset)."""

    structure: list[tuple[int, int]] = Field(default_factory=list, description="structure inputs")
    texture: list[tuple[int, int]] = Field(default_factory=list, description="texture references")


class EncoderTask(ganedit.Task):
    """Base of the tasks that encode images with an ``encoder`` slot and render with a ``generator``
    slot at ``resolution`` (``swapae_swap``, TCP's ``tcp_stylize``): building both, and the context
    their editors get (an :class:`EncodingContext` of ``context_class``)."""

    context_class: ClassVar[type[EncodingContext]] = EncodingContext

    def models(self, context: Any) -> tuple[Any, Any, int]:
        """``(encoder, generator, resolution)`` built through the run context, in eval mode."""
        p = self.params
        encoder = context.build("encoder", p.encoder).eval()
        generator = context.build("generator", p.generator).eval()
        codes = [tuple(getattr(net.arch, f"{kind}_code_ch", None) for kind in ("spatial", "global"))
                 for net in (encoder, generator)]
        check_pair(p.encoder, p.generator, *codes, "codes of (structure, texture) channels")
        return encoder, generator, int(p.resolution or generator.img_resolution)

    def edit_context(self, context: Any, generator: ganedit.Generator, encoder: Any = None,
                     images: torch.Tensor | None = None) -> EncodingContext:
        return self.context_class.for_result(context, generator, encoder, images, self.params.resolution)


class SwapTask(EncoderTask, name="swapae_swap"):
    """Structure x texture swap grid with a SwapAE-style encoder/generator, plus editors.

    The editors run on the structure inputs; see the module doc for the output layout."""

    class Params(Params):
        encoder: Slot("encoder")  # type: ignore[valid-type]
        generator: Slot("generator")  # type: ignore[valid-type]
        structure_images: list[Path] = Field(default_factory=list, description="files, folders or globs")
        texture_images: list[Path] = Field(default_factory=list, description="files, folders or globs")
        procedural: ProceduralInputs | None = Field(None, description="procedural inputs (no files needed)")
        editors: SlotList("editor") = Field(default_factory=list)  # type: ignore[valid-type]
        resolution: int | None = Field(None, ge=8, description="input size (default: the generator's)")
        noise_mode: Literal["const", "random", "none"] = Field("const", description="generator noise")
        batch_size: int = Field(8, ge=1, description="images per forward pass")

    # ------------------------------------------------------------------ validation
    @classmethod
    def check_params(cls, params: Params) -> list[str]:
        problems = []
        proc = params.procedural or ProceduralInputs()
        if not params.structure_images and not proc.structure:
            problems.append("give structure_images or procedural.structure")
        if not params.texture_images and not proc.texture:
            problems.append("give texture_images or procedural.texture")
        problems += missing_paths(params, "structure_images", "texture_images")
        return problems

    @classmethod
    def check_compatibility(cls, params: Params, registry: Any) -> list[tuple[str, str]]:
        return latent_space_problems(params, SPACE, "swapae_swap")

    # ------------------------------------------------------------------ inputs
    def _inputs(self, which: str, resolution: int) -> tuple[torch.Tensor, list[str], list[tuple[int, int] | None]]:
        from ganedit.io.images import list_images, load_image

        images, names, factors = [], [], []
        for path in list_images(getattr(self.params, f"{which}_images")):
            images.append(load_image(path, resolution))
            names.append(path.stem)
            factors.append(None)
        proc = self.params.procedural
        for s, t in (getattr(proc, which) if proc is not None else []):
            images.append(proc.render(s, t, resolution))
            names.append(f"proc_s{s}_t{t}")
            factors.append((s, t))
        if not images:
            raise ValueError(f"swapae_swap: no {which} images found")
        names = [f"{i:02d}_{_safe(n)}" for i, n in enumerate(names)]
        return torch.stack(images), names, factors

    # ------------------------------------------------------------------ run
    def run(self, context: Any) -> dict[str, Any]:
        from ganedit.metrics import psnr, ssim

        p = self.params
        encoder, generator, res = self.models(context)
        device = context.device
        s_img, s_names, s_fac = self._inputs("structure", res)
        t_img, t_names, t_fac = self._inputs("texture", res)
        enc_ctx = EncodingContext(encoder, res, device, batch_size=p.batch_size)
        s_lat = enc_ctx.encode_tensor(s_img)
        t_lat = enc_ctx.encode_tensor(t_img)
        enc_ctx.texture_references, enc_ctx.texture_names = t_lat, t_names

        def gen(structure: torch.Tensor, texture: torch.Tensor) -> torch.Tensor:
            outs = []
            with torch.no_grad():
                for i in range(0, structure.shape[0], p.batch_size):
                    lat = Latent.structure_texture(structure[i:i + p.batch_size], texture[i:i + p.batch_size])
                    outs.append(generator.generate(lat, noise_mode=p.noise_mode).float().cpu())
            return torch.cat(outs)

        rec = gen(s_lat.structure, s_lat.texture)
        n, m = len(s_names), len(t_names)
        swaps = torch.stack([gen(s_lat.structure, t_lat.texture[j:j + 1].expand(n, -1)) for j in
                             context.progress(range(m), total=m, desc="swap")], 1)  # [N, M, 3, H, W]

        # Swap grid with a header row (textures) and column (structures); white corner.
        blank = torch.ones_like(s_img[:1])
        rows = [torch.cat([blank, t_img])] + [torch.cat([s_img[i:i + 1], swaps[i]]) for i in range(n)]
        context.save_grid("swap_grid.png", torch.cat(rows), nrow=m + 1)
        context.save_grid("reconstruction.png", torch.cat([s_img, rec]), nrow=n)
        for i in range(n):
            for j in range(m):
                context.save_image(f"swaps/{s_names[i]}__{t_names[j]}.png", swaps[i, j])

        rec_psnr, rec_ssim = psnr(rec, s_img), ssim(rec, s_img)
        records: list[dict[str, Any]] = [
            {"name": s_names[i], "kind": "reconstruction", "psnr": float(rec_psnr[i]), "ssim": float(rec_ssim[i])}
            for i in range(n)]
        summary: dict[str, Any] = {
            "num_structure": n, "num_texture": m, "resolution": res,
            "reconstruction_psnr": float(rec_psnr.mean()), "reconstruction_ssim": float(rec_ssim.mean()),
        }
        drawing = p.procedural or ProceduralInputs()
        gt_scores = self._ground_truth_scores(swaps, s_img, t_img, s_names, t_names, s_fac, t_fac, res, drawing,
                                              records)
        for key, values in gt_scores.items():
            summary[key] = sum(values) / len(values)

        edit_summary = []
        for k, spec in enumerate(p.editors):
            editor = context.build("editor", spec)
            folder = f"edits/{k}_{_safe(spec.type)}"
            columns: dict[str, list[torch.Tensor]] = {}
            for i in range(0, n, p.batch_size):
                for e in editor.edit(generator, s_lat[i:i + p.batch_size], enc_ctx):
                    columns.setdefault(e.label, []).append(e.images.detach().float().cpu())
            labels = list(columns)
            edited = [torch.cat(columns[lab]) for lab in labels]
            cells = torch.stack([s_img, rec, *edited], 1)  # [N, 2 + E, 3, H, W]
            context.save_grid(f"{folder}/grid.png", cells.flatten(0, 1), nrow=cells.shape[1])
            for i in range(n):
                for lab, imgs in zip(labels, edited):
                    context.save_image(f"{folder}/{s_names[i]}/{_safe(lab)}.png", imgs[i])
            edit_summary.append({"editor": spec.type, "folder": f"images/{folder}", "edits": labels})
        summary["editors"] = edit_summary
        context.write_metrics(summary, records)
        return summary

    @staticmethod
    def _ground_truth_scores(swaps: torch.Tensor, s_img: torch.Tensor, t_img: torch.Tensor,
                             s_names: Sequence[str], t_names: Sequence[str],
                             s_fac: Sequence[tuple[int, int] | None], t_fac: Sequence[tuple[int, int] | None],
                             res: int, drawing: ProceduralDrawing, records: list[dict[str, Any]]) -> dict[str, list[float]]:
        """PSNR of each procedural swap against ``render(A.structure_seed, B.texture_seed)``, next to
        the two trivial baselines: output A (the structure input) and output B (the texture reference)."""
        from ganedit.metrics import psnr

        scores: dict[str, list[float]] = {}
        for i, sf in enumerate(s_fac):
            for j, tf in enumerate(t_fac):
                if sf is None or tf is None:
                    continue
                truth = drawing.render(sf[0], tf[1], res)[None]
                record = {"name": f"{s_names[i]}__{t_names[j]}", "kind": "swap"}
                for key, image in (("swap_psnr_vs_truth", swaps[i, j]), ("output_a_psnr_vs_truth", s_img[i]),
                                   ("output_b_psnr_vs_truth", t_img[j])):
                    record[key.replace("swap_", "")] = value = float(psnr(image[None], truth)[0])
                    scores.setdefault(key, []).append(value)
                records.append(record)
        return scores


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("_") or "x"
