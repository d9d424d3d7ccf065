"""Editor ``tcp_region``: region-wise stylization (content from A, style from B inside a mask).

For content latent ``(C_A, S_A)`` and regions ``k`` with masks ``M_k`` and style images ``B_k``:

``S_map = S_A + sum_k M_k' * (mix(S_A, S_Bk, alpha) - S_A)`` and output ``G(C_A, S_map)``

where ``M_k'`` are the masks (times their strength) rescaled to sum to at most 1 where they
overlap, ``mix`` is lerp (or slerp) with the interpolation strength ``alpha`` (one edit per value:
0 = reconstruction, 1 = B's style), and the map has the editors' default resolution (a quarter of
the image side). A region without a mask is the whole image: global stylization
``G(C_A, mix(S_A, S_B, alpha))``. ``composite`` optionally pastes the result into A outside the
masks: ``input`` uses A's pixels (the task must hand them over as ``context.images``, as
``tcp_stylize`` does), ``reconstruction`` A's reconstruction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, model_validator

import ganedit
from ganedit import Edit, Latent
from ganedit.interfaces import check_latent

from ganedit_swapae.editors import EditorError, SwapAEEditor
from ganedit_swapae.texture import MaskedRegion, blend_texture_regions, lerp, slerp


class StyleRegion(MaskedRegion):
    """One stylized region: a mask (PNG, white = region; a built-in shape; or none = everything)
    and the style image whose style fills it."""

    style: Path | None = Field(None, description="style image (default: the run's style reference style_index)")
    style_index: int = Field(0, ge=0, description="which run style reference when style is unset")

    @model_validator(mode="after")
    def _one_mask(self) -> "StyleRegion":
        if self.mask is not None and self.shape is not None:
            raise ValueError("give at most one of mask (a file) and shape (a built-in mask)")
        return self


class TCPRegionEditor(SwapAEEditor, name="tcp_region"):
    """Region-wise stylization (TCP): B's style inside user masks, A's content everywhere; several
    masks with their own styles, global stylization without a mask, style interpolation, optional
    pixel compositing outside the masks."""

    class Params(SwapAEEditor.Params):
        style: Path | None = Field(None, description="style image of a single region (shorthand)")
        mask: Path | None = Field(None, description="mask of that region; none: global stylization")
        regions: list[StyleRegion] = Field(default_factory=list, description="several regions (instead of "
                                                                             "style/mask)")
        strengths: list[float] = Field(default_factory=lambda: [1.0], min_length=1,
                                       description="style interpolation alpha per edit (0: A's style, 1: B's)")
        interpolation: Literal["lerp", "slerp"] = Field("lerp", description="how A's and B's styles are mixed")
        composite: Literal["none", "input", "reconstruction"] = Field(
            "none", description="outside the masks, paste A's pixels (input) or reconstruction; none: "
                                "the generator's output everywhere")
        map_size: int | None = Field(None, ge=1, description="style-map side (default image side / 4)")

        @model_validator(mode="after")
        def _one_form(self) -> "TCPRegionEditor.Params":
            if self.regions and (self.style is not None or self.mask is not None):
                raise ValueError("give either style/mask or regions, not both")
            return self

        def all_regions(self) -> list[StyleRegion]:
            if self.regions:
                return list(self.regions)
            return [StyleRegion(mask=self.mask, style=self.style)]

    params: "TCPRegionEditor.Params"

    @classmethod
    def check_params(cls, params: "TCPRegionEditor.Params") -> list[str]:
        paths = [p for r in params.all_regions() for p in (r.mask, r.style) if p is not None]
        return [f"file not found: {str(p)!r}" for p in paths if not Path(p).exists()]

    # ------------------------------------------------------------------ pieces
    def region_style(self, region: StyleRegion, context: Any, cache: dict[str, Any]) -> torch.Tensor:
        """Style code ``[1, D]`` of a region's style image (or of a run style reference)."""
        if region.style is not None:
            return self.encode(context, [region.style]).texture
        if "refs" not in cache:
            cache["refs"] = self.references(context, [])[0]
        refs = cache["refs"]
        if region.style_index >= refs.shape[0]:
            raise EditorError(f"tcp_region: style_index {region.style_index} but the run has only "
                              f"{refs.shape[0]} style references")
        return refs[region.style_index:region.style_index + 1]

    def content_pixels(self, context: Any, batch: int, size: tuple[int, int], device: torch.device) -> torch.Tensor:
        images = getattr(context, "images", None)
        if images is None:
            raise EditorError("tcp_region: composite 'input' needs the input pixels; run it with the "
                              "tcp_stylize task, or use composite: reconstruction")
        if images.shape[0] != batch or tuple(images.shape[-2:]) != tuple(size):
            raise EditorError(f"tcp_region: input pixels {tuple(images.shape)} do not match the batch "
                              f"({batch} images of {size[0]}x{size[1]})")
        return images.to(device)

    # ------------------------------------------------------------------ edit
    def edit(self, generator: ganedit.Generator, latent: Latent, context: Any = None) -> list[Edit]:
        check_latent(latent, self.supported_spaces(), "tcp_region")
        p = self.params
        structure, style_a = latent.structure, latent.texture
        device = style_a.device
        size = self.output_size(generator, structure)
        regions = p.all_regions()
        cache: dict[str, Any] = {}
        masks = [r.mask_at(size).to(device, style_a.dtype) for r in regions]
        styles = [self.region_style(r, context, cache).to(device, style_a.dtype) for r in regions]
        msize = self.map_size(generator, structure, p.map_size)
        mix = lerp if p.interpolation == "lerp" else slerp
        only_global = len(regions) == 1 and regions[0].is_global and regions[0].strength == 1
        total = torch.stack(masks).sum(0).clamp(0, 1)
        background = None
        if p.composite == "input":
            background = self.content_pixels(context, structure.shape[0], size, device)
        elif p.composite == "reconstruction":
            background = self.render(generator, structure, style_a)
        edits = []
        for alpha in p.strengths:
            if style_a.ndim == 2:
                codes = [mix(style_a, s.expand_as(style_a), alpha) for s in styles]
            else:  # a spatial style map as A's style: interpolate per pixel towards B's vector
                codes = [lerp(style_a, s[:, :, None, None].expand_as(style_a), alpha) for s in styles]
            if only_global:
                style = codes[0]
            else:
                style = blend_texture_regions(style_a, list(zip(masks, codes)), msize)
            out = self.render(generator, structure, style)
            if background is not None:
                out = total * out + (1 - total) * background
            label = "tcp_region" if len(p.strengths) == 1 else f"tcp_region_{alpha:g}"
            edits.append(Edit(label, out))
        return edits


__all__ = ["StyleRegion", "TCPRegionEditor"]
