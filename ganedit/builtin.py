"""ganedit's own components, registered through the same hook and entry point as any plugin.

* datasets ``procedural`` and ``image_folder``;
* losses ``laplacian_pyramid``, ``l1``, ``l2``, ``lpips``;
* task ``sample``: draw seeded latents from a generator, apply editors, write images and a grid.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import DirectoryPath, Field, field_validator

from ganedit import data as _data
from ganedit.config import Slot, SlotList
from ganedit.hookspecs import hookimpl
from ganedit.interfaces import Dataset, Loss, Params, Task
from ganedit.losses import LaplacianPyramidLoss
from ganedit.metrics import LPIPS


# ----------------------------------------------------------------------------- datasets
class ProceduralDrawing(Params):
    """How procedural images are drawn (``ganedit.data.render``); shared by every config that
    renders them, so inputs and ground truths are drawn like a model's training data."""

    supersample: int = Field(2, ge=1, le=8, description="anti-aliasing factor")
    patterns: list[Literal[_data.PATTERNS]] = Field(  # type: ignore[valid-type]
        list(_data.PATTERNS), min_length=1, description="texture patterns drawn from (a subset is an easier dataset)")
    shape_labels: _data.ShapeLabels = Field(
        "order", description="texture slot of a shape: 'order' (drawing order, invisible) or 'kind' "
                             "(ellipse/rectangle/triangle, visible: swaps have a well-defined truth)")
    palette: _data.Palette = Field(
        "per_region", description="'per_region' (each region draws its own colours and pattern), 'shared' "
                                  "(one draw for the whole image, hue turned per region) or 'global' (one texture "
                                  "over the whole image: related colours per slot and one pattern field, so "
                                  "every crop tells the texture and every swap's truth is well posed)")

    @field_validator("patterns")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        _data.check_patterns(v)
        return v

    def render(self, structure_seed: int, texture_seed: int, resolution: int) -> torch.Tensor:
        """The image ``[3, R, R]`` with these factors."""
        return _data.render(structure_seed, texture_seed, resolution, self.supersample, self.patterns,
                            self.shape_labels, self.palette)


class ProceduralImages(_data.ProceduralDataset, Dataset, name="procedural"):
    """Procedural shapes-and-textures images with known structure/texture factors (no download)."""

    class Params(ProceduralDrawing):
        resolution: int = Field(64, ge=8, le=1024, description="image side in pixels")
        length: int = Field(10000, ge=1, description="number of distinct images")
        seed: int = Field(0, ge=0, description="dataset seed (image i is a fixed function of seed, i)")

    @classmethod
    def from_params(cls, params: "ProceduralImages.Params", context: Any = None) -> "ProceduralImages":
        return cls(params.resolution, params.length, params.seed, params.supersample, params.patterns,
                   params.shape_labels, params.palette)


class ImageFolder(_data.ImageFolderDataset, Dataset, name="image_folder"):
    """Every image under a folder (recursive), resized by the documented policy."""

    class Params(Params):
        root: DirectoryPath = Field(description="folder of images (searched recursively)")
        resolution: int = Field(64, ge=8, le=4096, description="image side in pixels")
        policy: Literal["center_crop", "resize", "pad"] = Field("center_crop", description="resize policy")
        hflip: bool = Field(False, description="also yield horizontally flipped copies")

    @classmethod
    def from_params(cls, params: "ImageFolder.Params", context: Any = None) -> "ImageFolder":
        return cls(params.root, params.resolution, params.policy, hflip=params.hflip)


# ----------------------------------------------------------------------------- losses
class LaplacianPyramid(LaplacianPyramidLoss, Loss, name="laplacian_pyramid"):
    """Laplacian pyramid L1/L2 loss (kornia pyramid), per-level weights."""

    class Params(Params):
        levels: int = Field(5, ge=1, le=10, description="pyramid levels incl. the low-pass residual")
        weights: list[float] | None = Field(None, description="per-level weights (default all 1)")
        distance: Literal["l1", "l2"] = "l1"

    @classmethod
    def check_params(cls, params: "LaplacianPyramid.Params") -> list[str]:
        if params.weights is not None and len(params.weights) != params.levels:
            return [f"weights has {len(params.weights)} entries for {params.levels} levels"]
        return []

    @classmethod
    def from_params(cls, params: "LaplacianPyramid.Params", context: Any = None) -> "LaplacianPyramid":
        return cls(params.levels, params.weights, params.distance)


class _Elementwise(Loss):
    class Params(Params):
        pass

    power: int = 1

    def per_image(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (x - y).abs().pow(self.power).flatten(1).mean(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_image(x, y).mean()

    @classmethod
    def from_params(cls, params: Params, context: Any = None) -> "_Elementwise":
        return cls()


class L1(_Elementwise, name="l1"):
    """Mean absolute error."""

    power = 1


class L2(_Elementwise, name="l2"):
    """Mean squared error."""

    power = 2


class LPIPSLoss(Loss, name="lpips"):
    """LPIPS perceptual distance; needs the pretrained backbone weights (clear error otherwise)."""

    class Params(Params):
        net: Literal["alex", "vgg", "squeeze"] = "alex"

    def __init__(self, net: str = "alex"):
        super().__init__()
        self.metric = LPIPS(net)

    def per_image(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.metric(x, y)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.per_image(x, y).mean()

    @classmethod
    def from_params(cls, params: "LPIPSLoss.Params", context: Any = None) -> "LPIPSLoss":
        return cls(params.net)


# ----------------------------------------------------------------------------- tasks
class SampleTask(Task, name="sample"):
    """Draw seeded samples from a generator, apply editors, write images, a grid and metrics."""

    class Params(Params):
        generator: Slot("generator")
        num_images: int = Field(8, ge=1, le=4096, description="number of samples")
        truncation_psi: float = Field(1.0, ge=0.0, le=2.0, description="truncation toward the mean latent")
        noise_mode: Literal["const", "random", "none"] = "const"
        editors: SlotList("editor") = Field(default_factory=list, description="edits applied to every sample")
        nrow: int = Field(8, ge=1, le=64, description="images per grid row")

    @classmethod
    def check_compatibility(cls, params: "SampleTask.Params", registry: Any) -> list[tuple[str, str]]:
        gen_cls = params.generator.cls
        spaces = gen_cls.latent_spaces(params.generator.params)
        problems = []
        for i, ed in enumerate(params.editors):
            ok = ed.cls.supported_spaces(ed.params)
            if not set(ok) & set(spaces):
                problems.append((f"editors.{i}.type",
                                 f"editor {ed.type!r} works on {list(ok)} latents, generator "
                                 f"{params.generator.type!r} produces {list(spaces)}"))
        return problems

    def run(self, context: Any) -> dict[str, Any]:
        p = self.params
        G = context.build("generator", p.generator).eval()
        editors = [context.build("editor", e) for e in p.editors]
        with torch.no_grad():
            latent = G.sample_latent(p.num_images, generator=context.generator(),
                                     truncation_psi=p.truncation_psi).to(context.device)
            images = G.generate(latent, noise_mode=p.noise_mode)
            rows = [images]
            records = []
            for i in range(p.num_images):
                context.save_image(f"sample_{i:04d}.png", images[i])
                records.append({"name": f"sample_{i:04d}", "mean": float(images[i].mean()),
                                "std": float(images[i].std())})
            for ed in editors:
                for edit in ed.edit(G, latent, context):
                    rows.append(edit.images)
                    for i in range(edit.images.shape[0]):
                        context.save_image(f"{edit.label}_{i:04d}.png", edit.images[i])
        grid = torch.cat(rows)
        context.save_grid("grid.png", grid, nrow=p.num_images if len(rows) > 1 else p.nrow)
        summary = {"num_images": p.num_images, "edits": len(rows) - 1,
                   "mean": float(images.mean()), "std": float(images.std())}
        context.write_metrics(summary, records)
        return summary


@hookimpl
def register_components(register) -> None:
    register(ProceduralImages, ImageFolder, LaplacianPyramid, L1, L2, LPIPSLoss, SampleTask)


