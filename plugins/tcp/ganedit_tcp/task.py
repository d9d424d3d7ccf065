"""Task ``tcp_stylize``: run region-wise stylization editors on content images.

Inputs are content images (files, folders or globs, and/or procedural images given as
``[structure_seed, texture_seed]`` pairs) and optional style references (which regions without a
``style`` file pick by ``style_index``). Each editor gets the input pixels of its batch as
``context.images`` (for ``composite: input``). Outputs: per editor ``images/<k>_<type>/grid.png``
(rows: content images; columns: content, reconstruction, each edit) and one PNG per edit.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from ganedit import Params
from ganedit.builtin import ProceduralDrawing
from ganedit.config import Slot, SlotList, latent_space_problems, missing_paths

from ganedit_swapae.editors import EncodingContext
from ganedit_swapae.task import EncoderTask

SPACE = "structure_texture"


class StylizeContext(EncodingContext):
    """:class:`~ganedit_swapae.editors.EncodingContext` of ``tcp_stylize`` (it hands editors the
    pixels of the current batch as ``images``)."""


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("_") or "x"


class TCPStylizeTask(EncoderTask, name="tcp_stylize"):
    """Region-wise (or global) stylization of content images with a TCP or SwapAE model."""

    context_class = StylizeContext

    class Params(Params):
        encoder: Slot("encoder")  # type: ignore[valid-type]
        generator: Slot("generator")  # type: ignore[valid-type]
        content_images: list[Path] = Field(default_factory=list, description="files, folders or globs")
        procedural_content: list[tuple[int, int]] = Field(
            default_factory=list, description="procedural content images as [structure_seed, texture_seed]")
        procedural_drawing: ProceduralDrawing = Field(
            default_factory=ProceduralDrawing, description="how procedural_content is drawn (as the model's data)")
        style_images: list[Path] = Field(default_factory=list, description="style references (style_index)")
        editors: SlotList("editor") = Field(min_length=1, description="tcp_region (or other) editors")  # type: ignore[valid-type]
        resolution: int | None = Field(None, ge=8, description="input size (default: the generator's)")
        noise_mode: Literal["const", "random", "none"] = Field("const", description="generator noise")
        batch_size: int = Field(8, ge=1, description="images per forward pass")

    @classmethod
    def check_params(cls, params: "TCPStylizeTask.Params") -> list[str]:
        problems = []
        if not params.content_images and not params.procedural_content:
            problems.append("give content_images or procedural_content")
        problems += missing_paths(params, "content_images", "style_images")
        return problems

    @classmethod
    def check_compatibility(cls, params: "TCPStylizeTask.Params", registry: Any) -> list[tuple[str, str]]:
        return latent_space_problems(params, SPACE, "tcp_stylize")

    def _content(self, resolution: int) -> tuple[torch.Tensor, list[str]]:
        from ganedit.io.images import list_images, load_image

        images, names = [], []
        for path in list_images(self.params.content_images) if self.params.content_images else []:
            images.append(load_image(path, resolution))
            names.append(path.stem)
        for s, t in self.params.procedural_content:
            images.append(self.params.procedural_drawing.render(s, t, resolution))
            names.append(f"proc_s{s}_t{t}")
        if not images:
            raise ValueError("tcp_stylize: no content images found")
        return torch.stack(images), [f"{i:02d}_{_safe(n)}" for i, n in enumerate(names)]

    def run(self, context: Any) -> dict[str, Any]:
        from ganedit.io.images import list_images

        p = self.params
        encoder, generator, res = self.models(context)
        content, names = self._content(res)
        ctx = StylizeContext(encoder, res, context.device, batch_size=p.batch_size)
        latent = ctx.encode_tensor(content)
        if p.style_images:
            style_paths = list_images(p.style_images)
            ctx.texture_references = ctx.encode_images(style_paths)
            ctx.texture_names = [s.stem for s in style_paths]
        with torch.no_grad():
            rec = torch.cat([generator.generate(latent[i:i + p.batch_size], noise_mode=p.noise_mode).float().cpu()
                             for i in range(0, len(names), p.batch_size)])
        summary: dict[str, Any] = {"num_content": len(names), "resolution": res, "editors": []}
        for k, spec in enumerate(p.editors):
            editor = context.build("editor", spec)
            folder = f"{k}_{_safe(spec.type)}"
            columns: dict[str, list[torch.Tensor]] = {}
            for i in range(0, len(names), p.batch_size):
                ctx.images = content[i:i + p.batch_size].to(context.device)
                for e in editor.edit(generator, latent[i:i + p.batch_size], ctx):
                    columns.setdefault(e.label, []).append(e.images.detach().float().cpu())
            ctx.images = None
            labels = list(columns)
            edited = [torch.cat(columns[lab]) for lab in labels]
            cells = torch.stack([content, rec, *edited], 1)
            context.save_grid(f"{folder}/grid.png", cells.flatten(0, 1), nrow=cells.shape[1])
            for i, name in enumerate(names):
                for lab, imgs in zip(labels, edited):
                    context.save_image(f"{folder}/{name}/{_safe(lab)}.png", imgs[i])
            summary["editors"].append({"editor": spec.type, "folder": f"images/{folder}", "edits": labels})
        context.write_metrics(summary, [{"name": n} for n in names])
        return summary


__all__ = ["StylizeContext", "TCPStylizeTask"]
