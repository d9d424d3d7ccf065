"""Helpers shared by the editors."""

from __future__ import annotations

from typing import Any

import torch

from ganedit.interfaces import Edit, Generator
from ganedit.latent import Latent

from ganedit_inversion.generator_ops import ws_of


def latent_ws(generator: Generator, latent: Latent, who: str) -> torch.Tensor:
    """``ws`` of the latent to edit (checked against the generator)."""
    return ws_of(generator, latent, who).detach()


@torch.no_grad()
def render(generator: Generator, ws: torch.Tensor) -> torch.Tensor:
    """Images of edited codes, rendered like reconstructions (constant noise)."""
    return generator.synthesis(ws, noise_mode="const")


def same_on_all_layers(ws: torch.Tensor) -> bool:
    return bool((ws == ws[:, :1]).all())


def edited_latent(ws: torch.Tensor) -> Latent:
    """A W latent when every layer carries the same code, else W+."""
    return Latent("w" if same_on_all_layers(ws) else "w+", {"ws": ws})


def make_edit(label: str, generator: Generator, ws: torch.Tensor) -> Edit:
    """An :class:`Edit` of the edited codes ``ws``: their images and the edited latent."""
    return Edit(label, render(generator, ws), edited_latent(ws))


def need_context(context: Any, who: str) -> Any:
    fn = getattr(context, "invert_images", None)
    if not callable(fn):
        raise RuntimeError(f"{who} needs a context with invert_images(paths) -> Latent (the 'invert' task "
                           f"provides it); got {type(context).__name__}")
    return fn
