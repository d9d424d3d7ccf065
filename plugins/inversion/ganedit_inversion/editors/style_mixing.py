"""Style mixing: take another latent's codes on a chosen layer range (coarse / middle / fine / explicit).

The other latent comes from another image (inverted through ``context.invert_images(paths)``, which
the ``invert`` task provides: it inverts the images with the task's reference inverter on the
generator being edited) or from a seeded random sample of the generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import Field, FilePath

from ganedit.interfaces import Edit, Editor, Generator, Params
from ganedit.latent import Latent

from ganedit_inversion.editors.base import latent_ws, need_context, render
from ganedit_inversion.generator_ops import device_of, ws_of
from ganedit_inversion.layers import LayerSpec, layer_label, resolve_layers


def mix_styles(ws: torch.Tensor, ws_source: torch.Tensor, layers: list[int]) -> torch.Tensor:
    """``ws`` with layers ``layers`` replaced by ``ws_source``'s (``[1 or B, num_ws, w_dim]``)."""
    out = ws.clone()
    out[:, layers] = ws_source[:, layers].to(out).expand(out.shape[0], -1, -1)
    return out


class StyleMixingEditor(Editor, name="style_mixing"):
    """Replace a layer range of the latent with another image's (or a random sample's) codes."""

    class Params(Params):
        sources: list[FilePath] = Field(default_factory=list, description="images whose styles are mixed in "
                                        "(inverted through the task's context)")
        seeds: list[int] = Field(default_factory=list, description="seeds of random style sources")
        truncation_psi: float = Field(0.7, ge=0, le=1, description="truncation of the seeded sources")
        layers: list[LayerSpec] = Field(default_factory=lambda: ["coarse", "middle", "fine"],
                                        description="layer ranges taken from the source: 'coarse' "
                                        "(4-8 px), 'middle' (16-32 px), 'fine' (64 px+), 'all' or index lists")
        skip_empty: bool = Field(True, description="skip named groups this generator does not have "
                                 "(e.g. 'fine' at 16 px) instead of failing")

    @classmethod
    def check_params(cls, params: "StyleMixingEditor.Params") -> list[str]:
        problems = []
        if not params.sources and not params.seeds:
            problems.append("give at least one style source: `sources` (images) or `seeds`")
        if not params.layers:
            problems.append("`layers` is empty")
        return problems

    @classmethod
    def supported_spaces(cls, params: Any = None) -> tuple[str, ...]:
        return ("w", "w+")

    @classmethod
    def output_spaces(cls, params: Any = None, input_space: str = "w+") -> tuple[str, ...]:
        return ("w+",)

    def _sources(self, generator: Generator, context: Any) -> list[tuple[str, torch.Tensor]]:
        p = self.params
        out: list[tuple[str, torch.Tensor]] = []
        if p.sources:
            invert = need_context(context, "style_mixing with `sources`")
            latents = invert([Path(s) for s in p.sources])
            ws = ws_of(generator, latents, "style_mixing source").detach()
            out += [(Path(s).stem, ws[i:i + 1]) for i, s in enumerate(p.sources)]
        for seed in p.seeds:
            z = torch.randn(1, generator.z_dim, generator=torch.Generator().manual_seed(seed))
            with torch.no_grad():
                ws = generator.mapping(z.to(device_of(generator)), p.truncation_psi, None)
            out.append((f"seed{seed}", ws))
        return out

    @torch.no_grad()
    def edit(self, generator: Generator, latent: Latent, context: Any = None) -> list[Edit]:
        ws = latent_ws(generator, latent, "style_mixing")
        edits = []
        for name, source in self._sources(generator, context):
            for spec in self.params.layers:
                try:
                    layers = resolve_layers(spec, generator.num_ws, "style_mixing.layers")
                except ValueError:
                    if self.params.skip_empty and isinstance(spec, str):
                        continue
                    raise
                edits.append(Edit(f"mix_{name}_{layer_label(spec)}", render(generator, mix_styles(ws, source, layers))))
        return edits
