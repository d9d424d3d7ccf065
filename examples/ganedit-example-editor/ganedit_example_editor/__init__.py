"""An example third-party ganedit plugin: the ``truncation_sweep`` editor.

It pulls a latent toward the generator's average ``w`` (``w_avg + psi * (w - w_avg)``) for a list
of ``psi`` values: psi < 1 makes images more typical, psi > 1 exaggerates what is distinctive.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

import ganedit


class TruncationSweep(ganedit.Editor, name="truncation_sweep"):
    """Move W/W+ latents toward (psi < 1) or away from (psi > 1) the average latent."""

    class Params(ganedit.Params):
        psis: list[float] = Field([0.0, 0.5, 1.5], min_length=1, description="truncation values to render")
        layers: tuple[int, int] | None = Field(None, description="only these style layers [start, stop)")

    @classmethod
    def supported_spaces(cls, params=None) -> tuple[str, ...]:
        return ("w", "w+")

    def edit(self, generator: ganedit.Generator, latent: ganedit.Latent, context: Any = None) -> list[ganedit.Edit]:
        ganedit.interfaces.check_latent(latent, self.supported_spaces(), "truncation_sweep")
        w_avg = getattr(generator, "w_avg", None)
        if w_avg is None:
            raise ValueError("truncation_sweep needs a generator with an average latent (w_avg)")
        start, stop = self.params.layers or (0, latent.ws.shape[1])
        edits = []
        for psi in self.params.psis:
            ws = latent.ws.clone()
            ws[:, start:stop] = w_avg + psi * (ws[:, start:stop] - w_avg)
            with torch.no_grad():
                images = generator.generate(ganedit.Latent("w+", {"ws": ws}))
            edits.append(ganedit.Edit(f"truncation_{psi:g}", images))
        return edits


@ganedit.hookimpl
def register_components(register) -> None:
    register(TruncationSweep)
