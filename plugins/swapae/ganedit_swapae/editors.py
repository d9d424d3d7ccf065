"""Structure/texture editors for SwapAE-style generators (latent space ``structure_texture``).

Editors that need other images (texture references, attribute folders) get them through the
context handed to :meth:`edit`, which must provide ``encode_images(paths) -> Latent`` (the
protocol :class:`EditContext`). A context may also offer ``texture_references`` (a latent of the
run's texture images) and ``texture_names``; editors fall back to them when their own
``texture_images`` list is empty.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Protocol, Sequence, runtime_checkable

import numpy as np
import torch
from pydantic import Field, model_validator

import ganedit
from ganedit import Edit, Latent, Params
from ganedit.errors import GanEditError
from ganedit.interfaces import check_latent
from ganedit.io.checkpoint import CheckpointError, safe_torch_load

from ganedit_swapae.texture import (MaskedRegion, MaskShape, blend_texture_regions, lerp, resize_mask, slerp,
                                   texture_map)

NoiseModeName = Literal["const", "random", "none"]


@runtime_checkable
class EditContext(Protocol):
    """What SwapAE editors need from the caller: a way to encode extra images."""

    def encode_images(self, paths: Sequence[str | Path]) -> Latent:
        """Load ``paths`` at the model's resolution and encode them (one latent row per path)."""


class EncodingContext:
    """A ready-made :class:`EditContext`: loads image files at ``resolution`` (the shared image
    policy) and encodes them with ``encoder`` in batches, without gradients. ``images`` are the
    pixels of the batch being edited, when the caller hands them over."""

    images: torch.Tensor | None = None

    def __init__(self, encoder: ganedit.Encoder, resolution: int, device: torch.device | str | None = None,
                 batch_size: int = 16, texture_references: Latent | None = None,
                 texture_names: Sequence[str] | None = None):
        self.encoder = encoder
        self.resolution = int(resolution)
        self.device = torch.device(device) if device is not None else next(encoder.parameters()).device
        self.batch_size = batch_size
        self.texture_references = texture_references
        self.texture_names = list(texture_names) if texture_names is not None else None

    @classmethod
    def for_result(cls, context: Any, generator: ganedit.Generator, encoder: ganedit.Encoder,
                   images: torch.Tensor | None = None, resolution: int | None = None) -> "EncodingContext":
        """The context an encoder task's editors get for one result (``Task.edit_context``):
        encoding at ``resolution`` (default: the generator's) on the run's device, with the
        item's input pixels as ``images``."""
        ctx = cls(encoder, int(resolution or generator.img_resolution), context.device)
        ctx.images = images
        return ctx

    def encode_tensor(self, images: torch.Tensor) -> Latent:
        """Encode ``[N, 3, H, W]`` images (any device) in batches."""
        out = []
        with torch.no_grad():
            for i in range(0, images.shape[0], self.batch_size):
                out.append(self.encoder.encode(images[i:i + self.batch_size].to(self.device)))
        return Latent.cat(out)

    def encode_images(self, paths: Sequence[str | Path]) -> Latent:
        from ganedit.io.images import load_image

        if not paths:
            raise EditorError("no images to encode")
        return self.encode_tensor(torch.stack([load_image(p, self.resolution) for p in paths]))


class EditorError(GanEditError, ValueError):
    """An editor that cannot run with the given inputs (missing references, wrong sizes)."""


def _label(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("_") or "edit"


def _check_paths(paths: Sequence[Path | None], what: str) -> list[str]:
    return [f"{what}: file not found: {str(p)!r}" for p in paths if p is not None and not Path(p).exists()]


class SwapAEEditor(ganedit.Editor):
    """Base of the structure/texture editors: texture references, noise mode, mask sizes."""

    class Params(Params):
        noise_mode: NoiseModeName = Field("const", description="generator noise: const (fixed), random or none")

    @classmethod
    def supported_spaces(cls, params: Any = None) -> tuple[str, ...]:
        return ("structure_texture",)

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def encode(context: Any, paths: Sequence[str | Path]) -> Latent:
        if context is None or not hasattr(context, "encode_images"):
            raise EditorError("this editor needs a context with encode_images(paths) to read its images")
        return context.encode_images([Path(p) for p in paths])

    def references(self, context: Any, paths: Sequence[Path]) -> tuple[torch.Tensor, list[str]]:
        """Texture codes ``[M, D]`` and names of ``paths``, else of the context's references."""
        if paths:
            return self.encode(context, paths).texture, [Path(p).stem for p in paths]
        refs = getattr(context, "texture_references", None)
        if refs is None:
            raise EditorError(f"{type(self).__name__}: give texture_images (the run has no texture references)")
        names = list(getattr(context, "texture_names", None) or [f"texture{i}" for i in range(refs.batch_size)])
        return refs.texture, names

    def render(self, generator: ganedit.Generator, structure: torch.Tensor, texture: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return generator.generate(Latent.structure_texture(structure, texture), noise_mode=self.params.noise_mode)

    @staticmethod
    def output_size(generator: ganedit.Generator, structure: torch.Tensor) -> tuple[int, int]:
        """Image size the generator makes from ``structure`` (side x 2^upsamplings)."""
        ups = len(getattr(getattr(generator, "arch", None), "up_channels", ())) or None
        if ups is None:
            factor = max(1, int(getattr(generator, "img_resolution", structure.shape[-1])) // structure.shape[-1])
        else:
            factor = 2 ** ups
        return structure.shape[-2] * factor, structure.shape[-1] * factor

    def map_size(self, generator: ganedit.Generator, structure: torch.Tensor, side: int | None) -> tuple[int, int]:
        """Texture-map size: ``side`` on the shorter axis, default a quarter of the image size."""
        h, w = self.output_size(generator, structure)
        if side is None:
            return max(structure.shape[-2], h // 4), max(structure.shape[-1], w // 4)
        return (side, max(1, round(side * w / h))) if h <= w else (max(1, round(side * h / w)), side)


class TextureReferenceEditor(SwapAEEditor):
    """Base of the editors that take texture reference images (default: the run's)."""

    class Params(SwapAEEditor.Params):
        texture_images: list[Path] = Field(default_factory=list,
                                           description="texture references (default: the run's texture images)")

    @classmethod
    def check_params(cls, params: Params) -> list[str]:
        return _check_paths(params.texture_images, "texture_images")


class SwapEditor(TextureReferenceEditor, name="swap"):
    """Structure of each input with the texture of each reference image (one edit per texture)."""

    def edit(self, generator: ganedit.Generator, latent: Latent, context: Any = None) -> list[Edit]:
        check_latent(latent, self.supported_spaces(), type(self).__name__)
        textures, names = self.references(context, self.params.texture_images)
        b = latent.batch_size
        return [Edit(_label(f"swap_{name}"), self.render(generator, latent.structure, textures[j:j + 1].expand(b, -1)))
                for j, name in enumerate(names)]


class TextureInterpolationEditor(TextureReferenceEditor, name="texture_interpolation"):
    """Interpolate each input's texture towards each reference texture (lerp or slerp).

    One edit per reference and strength alpha: 0 = reconstruction, 1 = swap, > 1 exaggerates."""

    class Params(TextureReferenceEditor.Params):
        strengths: list[float] = Field(default_factory=lambda: [0.0, 0.25, 0.5, 0.75, 1.0], min_length=1,
                                       description="interpolation factors alpha")
        mode: Literal["lerp", "slerp"] = Field("lerp", description="lerp (official) or slerp")

    def edit(self, generator: ganedit.Generator, latent: Latent, context: Any = None) -> list[Edit]:
        check_latent(latent, self.supported_spaces(), type(self).__name__)
        textures, names = self.references(context, self.params.texture_images)
        a = latent.texture
        if a.ndim != 2:
            raise EditorError("texture_interpolation needs vector texture codes [B, D]")
        mix = lerp if self.params.mode == "lerp" else slerp
        edits = []
        for j, name in enumerate(names):
            b = textures[j:j + 1].expand_as(a)
            for alpha in self.params.strengths:
                edits.append(Edit(_label(f"interp_{name}_{alpha:g}"),
                                  self.render(generator, latent.structure, mix(a, b, alpha))))
        return edits


class Region(MaskedRegion):
    """One edited region: a mask (PNG, white = edit, or a built-in shape) and its texture."""

    texture_image: Path | None = Field(None, description="texture reference (default: run texture texture_index)")
    texture_index: int = Field(0, ge=0, description="which run texture reference when texture_image is unset")

    @model_validator(mode="after")
    def _one_mask(self) -> "Region":
        if (self.mask is None) == (self.shape is None):
            raise ValueError("give exactly one of mask (a file) or shape (a built-in mask)")
        return self


def region_masks(regions: Sequence[Region], size: tuple[int, int]) -> list[torch.Tensor]:
    """The regions' masks ``[1, 1, H, W]`` at image size ``size``, strength applied."""
    return [r.mask_at(size) for r in regions]


class RegionTextureEditor(SwapAEEditor, name="region_texture"):
    """Replace the texture inside user-drawn regions (several allowed) via a spatial texture map.

    The map is the input's code outside the masks and blends to each region's texture inside."""

    class Params(SwapAEEditor.Params):
        regions: list[Region] = Field(min_length=1, description="masks and their textures")
        map_size: int | None = Field(None, ge=1, description="texture-map side (default image side / 4)")

    @classmethod
    def check_params(cls, params: Params) -> list[str]:
        return _check_paths([p for r in params.regions for p in (r.mask, r.texture_image)], "regions")

    def edit(self, generator: ganedit.Generator, latent: Latent, context: Any = None) -> list[Edit]:
        check_latent(latent, self.supported_spaces(), type(self).__name__)
        structure = latent.structure
        size = self.output_size(generator, structure)
        masks = region_masks(self.params.regions, size)
        textures = []
        ref_cache: tuple[torch.Tensor, list[str]] | None = None
        for r in self.params.regions:
            if r.texture_image is not None:
                textures.append(self.encode(context, [r.texture_image]).texture)
            else:
                ref_cache = ref_cache or self.references(context, [])
                if r.texture_index >= ref_cache[0].shape[0]:
                    raise EditorError(f"region texture_index {r.texture_index} but only "
                                      f"{ref_cache[0].shape[0]} texture references")
                textures.append(ref_cache[0][r.texture_index:r.texture_index + 1])
        device = latent.texture.device
        regions = [(m.to(device), t.to(device)) for m, t in zip(masks, textures)]
        tex_map = blend_texture_regions(latent.texture, regions, self.map_size(generator, structure,
                                                                                self.params.map_size))
        return [Edit("region_texture", self.render(generator, structure, tex_map))]


def load_direction(path: Path) -> torch.Tensor:
    """A texture direction ``[D]`` from ``.pt``/``.pth`` (a tensor or ``{'direction': tensor}``) or
    ``.npy``."""
    p = Path(path)
    if p.suffix == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{p}: not a readable .npy array ({exc})") from None
        value: Any = torch.from_numpy(np.asarray(arr, dtype=np.float32))
    else:
        value = safe_torch_load(p)
        if isinstance(value, dict):
            tensors = [v for v in value.values() if isinstance(v, torch.Tensor)]
            value = value.get("direction", tensors[0] if len(tensors) == 1 else None)
    if not isinstance(value, torch.Tensor) or value.squeeze().ndim != 1:
        raise CheckpointError(f"{p}: expected one texture direction (a [D] tensor or {{'direction': [D]}})")
    return value.squeeze().float()


class TextureArithmeticEditor(SwapAEEditor, name="texture_arithmetic"):
    """Add a texture direction (attribute vector) to the texture code, globally or inside a mask.

    The direction ``d`` is the mean texture code of the ``positive`` images minus that of the
    ``negative`` images (files, folders or globs), or read from ``direction_file`` (.pt/.npy);
    each strength ``s`` gives one edit with ``texture + s * d``."""

    class Params(SwapAEEditor.Params):
        positive: list[Path] = Field(default_factory=list, description="images with the attribute")
        negative: list[Path] = Field(default_factory=list, description="images without it")
        direction_file: Path | None = Field(None, description="a saved direction [D] instead of folders")
        strengths: list[float] = Field(default_factory=lambda: [1.0], min_length=1)
        normalize: bool = Field(False, description="scale the direction to unit length first")
        mask: Path | None = Field(None, description="apply only inside this mask (white = edit)")
        shape: MaskShape | None = Field(None, description="built-in mask instead of a file")
        map_size: int | None = Field(None, ge=1, description="texture-map side for masked edits")

        @model_validator(mode="after")
        def _source(self) -> "TextureArithmeticEditor.Params":
            folders = bool(self.positive) or bool(self.negative)
            if folders == (self.direction_file is not None):
                raise ValueError("give either positive and negative images or direction_file")
            if folders and not (self.positive and self.negative):
                raise ValueError("give both positive and negative images")
            if self.mask is not None and self.shape is not None:
                raise ValueError("give at most one of mask and shape")
            return self

    @classmethod
    def check_params(cls, params: Params) -> list[str]:
        return _check_paths([*params.positive, *params.negative, params.direction_file, params.mask], "paths")

    def __init__(self, params: Params):
        super().__init__(params)
        self._direction: torch.Tensor | None = None

    def direction(self, context: Any = None) -> torch.Tensor:
        """The direction ``[D]`` (computed once per editor)."""
        if self._direction is None:
            p = self.params
            if p.direction_file is not None:
                d = load_direction(p.direction_file)
            else:
                from ganedit.io.images import list_images

                pos, neg = list_images(p.positive), list_images(p.negative)
                if not pos or not neg:
                    raise EditorError("texture_arithmetic: no images found in positive/negative")
                d = self.encode(context, pos).texture.mean(0) - self.encode(context, neg).texture.mean(0)
            if p.normalize:
                d = d / d.norm().clamp_min(1e-12)
            self._direction = d.detach()
        return self._direction

    def edit(self, generator: ganedit.Generator, latent: Latent, context: Any = None) -> list[Edit]:
        check_latent(latent, self.supported_spaces(), type(self).__name__)
        tex = latent.texture
        d = self.direction(context).to(tex.device, tex.dtype)
        if d.shape[0] != tex.shape[1]:
            raise EditorError(f"texture direction has {d.shape[0]} dims, the codes have {tex.shape[1]}")
        structure = latent.structure
        mask = None
        if self.params.mask is not None or self.params.shape is not None:
            size = self.output_size(generator, structure)
            region = Region(mask=self.params.mask, shape=self.params.shape)
            mask = region_masks([region], size)[0].to(tex.device, tex.dtype)
            msize = self.map_size(generator, structure, self.params.map_size)
        edits = []
        for s in self.params.strengths:
            if mask is None:
                new = tex + s * d.view(1, -1, *([1] * (tex.ndim - 2)))
            else:
                base = texture_map(tex, msize)
                new = base + s * d.view(1, -1, 1, 1) * resize_mask(mask, msize)
            edits.append(Edit(_label(f"texture_arithmetic_{s:+g}"), self.render(generator, structure, new)))
        return edits


__all__ = [
    "EditContext",
    "EncodingContext",
    "EditorError",
    "Region",
    "RegionTextureEditor",
    "SwapAEEditor",
    "SwapEditor",
    "TextureArithmeticEditor",
    "TextureInterpolationEditor",
    "load_direction",
    "region_masks",
]
