"""The typed latent container that travels between encoders, inverters, generators and editors,
and its file (:func:`save_latent` / :func:`load_latent`: a native safetensors file with
``{kind: latent, type: latent, space}`` in its header)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal

import torch

from ganedit.errors import GanEditError
from ganedit.io.checkpoint import CheckpointError, load_native, save_native

#: Known latent spaces. ``w+`` is the per-layer extended W space. ``structure_texture`` is the
#: Swapping Autoencoder / TCP pair (spatial structure code + texture code).
LatentSpace = Literal["z", "w", "w+", "structure_texture"]

SPACE_TENSORS: dict[str, tuple[str, ...]] = {
    "z": ("z",),
    "w": ("ws",),
    "w+": ("ws",),
    "structure_texture": ("structure", "texture"),
}


class LatentError(GanEditError, ValueError):
    """A latent of the wrong space or shape."""


@dataclass
class Latent:
    """Latent codes of a batch, tagged with their space.

    Tensor names follow the space: ``z`` ``[B, z_dim]`` for Z; ``ws`` ``[B, num_ws, w_dim]`` for W
    and W+ (in W every layer carries the same vector); ``structure`` ``[B, C, h, w]`` and
    ``texture`` ``[B, D]`` or a spatial texture map ``[B, D, H, W]`` for ``structure_texture``.
    """

    space: str
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.space not in SPACE_TENSORS:
            raise LatentError(f"unknown latent space {self.space!r}; known: {sorted(SPACE_TENSORS)}")
        need = SPACE_TENSORS[self.space]
        missing = [n for n in need if n not in self.tensors]
        if missing:
            raise LatentError(f"latent in space {self.space!r} needs tensors {list(need)}, missing {missing}")
        if "ws" in self.tensors and self.tensors["ws"].ndim != 3:
            raise LatentError(f"ws must be [B, num_ws, w_dim], got shape {tuple(self.tensors['ws'].shape)}")
        if "z" in self.tensors and self.tensors["z"].ndim != 2:
            raise LatentError(f"z must be [B, z_dim], got shape {tuple(self.tensors['z'].shape)}")
        if "structure" in self.tensors and self.tensors["structure"].ndim != 4:
            raise LatentError(
                f"structure must be [B, C, h, w], got shape {tuple(self.tensors['structure'].shape)}")
        if "texture" in self.tensors and self.tensors["texture"].ndim not in (2, 4):
            raise LatentError(
                f"texture must be [B, D] or [B, D, H, W], got shape {tuple(self.tensors['texture'].shape)}")

    # Named accessors keep user code readable: latent.ws, latent.structure, ...
    def __getattr__(self, name: str) -> torch.Tensor:
        tensors = self.__dict__.get("tensors", {})
        if name in tensors:
            return tensors[name]
        raise AttributeError(f"latent in space {self.__dict__.get('space')!r} has no tensor {name!r}")

    @classmethod
    def w(cls, ws: torch.Tensor) -> "Latent":
        return cls("w", {"ws": ws})

    @classmethod
    def wplus(cls, ws: torch.Tensor) -> "Latent":
        return cls("w+", {"ws": ws})

    @classmethod
    def structure_texture(cls, structure: torch.Tensor, texture: torch.Tensor) -> "Latent":
        return cls("structure_texture", {"structure": structure, "texture": texture})

    @property
    def batch_size(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    def items(self) -> Iterator[tuple[str, torch.Tensor]]:
        return iter(self.tensors.items())

    def map(self, fn) -> "Latent":
        """A new latent of the same space with ``fn`` applied to every tensor."""
        return Latent(self.space, {k: fn(v) for k, v in self.tensors.items()})

    def to(self, *args, **kwargs) -> "Latent":
        return self.map(lambda t: t.to(*args, **kwargs))

    def detach(self) -> "Latent":
        return self.map(lambda t: t.detach())

    def clone(self) -> "Latent":
        return self.map(lambda t: t.clone())

    def __getitem__(self, index) -> "Latent":
        """Batch indexing: ``latent[i:j]`` keeps the batch dimension."""
        if isinstance(index, int):
            index = slice(index, index + 1)
        return self.map(lambda t: t[index])

    @staticmethod
    def cat(latents: list["Latent"]) -> "Latent":
        spaces = {lat.space for lat in latents}
        if len(spaces) != 1:
            raise LatentError(f"cannot concatenate latents of different spaces {sorted(spaces)}")
        names = latents[0].tensors.keys()
        return Latent(latents[0].space, {n: torch.cat([lat.tensors[n] for lat in latents]) for n in names})

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Flat tensor dict for saving (safetensors/torch), space stored separately."""
        return {k: v.detach().cpu().contiguous() for k, v in self.tensors.items()}

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={tuple(v.shape)}" for k, v in self.tensors.items())
        return f"Latent(space={self.space!r}, {shapes})"


def save_latent(path: str | os.PathLike, latent: Latent, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``latent`` (atomically) with ``metadata`` in the header; returns the path."""
    save_native(path, latent.state_dict(), {"kind": "latent", "type": "latent", "space": latent.space,
                                           "metadata": dict(metadata or {})})
    return Path(path)


def load_latent(path: str | os.PathLike) -> Latent:
    """A latent written by :func:`save_latent` (the ``invert`` task writes one per image)."""
    tensors, config = load_native(path, expect={"kind": "latent"})
    try:
        return Latent(config.get("space", ""), dict(tensors))
    except LatentError as exc:
        raise CheckpointError(f"{path}: invalid latent file ({exc})") from None
