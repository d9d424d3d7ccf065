"""Move along a latent direction loaded from a file: ``w + s * d`` on chosen layers.

Files: InterFaceGAN boundaries (``.npy`` ``[1, 512]``), the ``.pt`` directions e4e and ReStyle ship
(``editings/interfacegan_directions/*.pt``: ``[1, 512]`` or per-layer ``[1, 18, 512]``) and plain W
directions (``[w_dim]`` or ``[num_ws, w_dim]``, ``.npy`` or a torch tensor file). The shape is checked
against the generator's ``w_dim`` / ``num_ws`` before any image is inverted. GANSpace component files
go to the ``ganspace`` editor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pydantic import Field, FilePath

from ganedit.interfaces import Edit, Editor, Generator, Params
from ganedit.io.checkpoint import CheckpointError, check_finite, read_numpy, safe_torch_load
from ganedit.latent import Latent, LatentError

from ganedit_inversion.editors.base import latent_ws, make_edit
from ganedit_inversion.layers import LayerSpec, resolve_layers

DIRECTION_SUFFIXES = (".pt", ".pth", ".npy")


def load_direction(path: str | Path) -> torch.Tensor:
    """A direction tensor from ``.npy`` (no pickles) or a torch file (a tensor, or a dict holding one
    tensor or a ``direction`` entry), loaded without executing code."""
    p = Path(path)
    if p.suffix.lower() not in DIRECTION_SUFFIXES:
        raise CheckpointError(f"{p}: direction files must be {', '.join(DIRECTION_SUFFIXES)}")
    if p.suffix.lower() == ".npy":
        t = read_numpy(p)
        if not isinstance(t, torch.Tensor):
            raise CheckpointError(f"{p}: an .npz archive, not one .npy array")
        t = t.float()
    else:
        obj = safe_torch_load(p)
        if isinstance(obj, dict):
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if "direction" in tensors:
                obj = tensors["direction"]
            elif len(tensors) == 1:
                obj = next(iter(tensors.values()))
            else:
                raise CheckpointError(f"{p}: expected one tensor or a 'direction' entry, found keys "
                                      f"{sorted(obj)[:6]}")
        if not isinstance(obj, torch.Tensor):
            raise CheckpointError(f"{p}: expected a tensor, got {type(obj).__name__}")
        t = obj.detach().float()
    check_finite(t, p, prefix="direction")
    return t


def direction_for(generator: Generator, direction: torch.Tensor, source: str) -> torch.Tensor:
    """The direction as ``[num_ws, w_dim]``; accepts ``[w_dim]``, ``[1, w_dim]``, ``[num_ws, w_dim]``
    or ``[1, num_ws, w_dim]``."""
    n, c = generator.num_ws, generator.w_dim
    d = direction
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    if d.ndim == 2 and d.shape[0] == 1:
        d = d[0]
    if d.ndim == 1 and d.shape[0] == c:
        return d.reshape(1, c).repeat(n, 1)
    if d.ndim == 2 and tuple(d.shape) == (n, c):
        return d
    raise LatentError(f"{source}: direction has shape {tuple(direction.shape)}, expected [{c}] (w_dim) or "
                      f"[{n}, {c}] (num_ws, w_dim) for this generator")


class DirectionEditor(Editor, name="direction"):
    """Add ``strength * direction`` to the latent (on chosen layers) for each strength."""

    class Params(Params):
        path: FilePath = Field(description="direction file (.pt/.pth/.npy): [w_dim] or [num_ws, w_dim]")
        strengths: list[float] = Field(default_factory=lambda: [-3.0, 3.0], min_length=1,
                                       description="step sizes along the direction")
        layers: LayerSpec = Field("all", description="layers the direction is applied to")
        normalize: bool = Field(False, description="scale the direction to unit norm first")
        label: str | None = Field(None, description="name in file names (default: the file stem)")

    def __init__(self, params: "DirectionEditor.Params"):
        super().__init__(params)
        self.direction = load_direction(params.path)

    @classmethod
    def check_params(cls, params: "DirectionEditor.Params") -> list[str]:
        if params.path.suffix.lower() not in DIRECTION_SUFFIXES:
            return [f"path: {params.path} must be one of {', '.join(DIRECTION_SUFFIXES)}"]
        return []

    @classmethod
    def output_spaces(cls, params: "DirectionEditor.Params | None" = None, input_space: str = "w+") -> tuple[str, ...]:
        if params is not None and params.layers != "all":
            return ("w+",)
        return (input_space,)

    def check_generator(self, generator: Generator) -> None:
        """The direction must fit this generator's ``[num_ws, w_dim]`` (clear error otherwise)."""
        direction_for(generator, self.direction, str(self.params.path))
        resolve_layers(self.params.layers, generator.num_ws, "direction.layers")

    @torch.no_grad()
    def edit(self, generator: Generator, latent: Latent, context: Any = None) -> list[Edit]:
        p = self.params
        ws = latent_ws(generator, latent, "direction editor")
        d = direction_for(generator, self.direction, str(p.path)).to(ws)
        if p.normalize:
            d = d / d[0].norm().clamp_min(1e-12) if (d == d[:1]).all() else d / d.norm().clamp_min(1e-12)
        mask = torch.zeros(generator.num_ws, 1, device=ws.device, dtype=ws.dtype)
        mask[resolve_layers(p.layers, generator.num_ws, "direction.layers")] = 1.0
        label = p.label or p.path.stem
        return [make_edit(f"{label}_{s:+g}", generator, ws + s * mask * d) for s in p.strengths]
