"""SeFa: closed-form semantic directions from the generator's own style-affine weights
(Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs", CVPR 2021).

For the chosen layers, the style affines ``A_l`` (``w -> per-channel style``, shape ``[C_l, w_dim]``)
are stacked into ``A`` (each row scaled to unit norm, as the official code does); the directions are
the eigenvectors of ``A^T A`` with the largest eigenvalues: the unit ``d`` that change the styles
most, ``argmax ||A d||``. No labels, no training; works for any StyleGAN2 checkpoint.

The affines are found generically: every linear layer whose input is a ``ws`` row is located by
one synthesis pass with a marked code (``ws[:, i] = i + 1``), so the map ``layer -> ws index``
comes from the network itself (StyleGAN2 ``modulation``, StyleALAE ``style_1/2``, ...). A generator
may instead provide ``style_affines() -> [(ws_index, name, weight [C, w_dim]), ...]``. As in the
official code, ToRGB affines are left out unless ``include_to_rgb``.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field
from torch import nn

from ganedit.interfaces import Edit, Editor, Generator, Params
from ganedit.latent import Latent

from ganedit_inversion.editors.base import latent_ws, render
from ganedit_inversion.generator_ops import device_of
from ganedit_inversion.layers import LayerSpec, resolve_layers


def _effective_weight(module: nn.Module) -> torch.Tensor:
    """The weight the layer really applies (equalised-lr layers scale it at run time)."""
    w = module.weight.detach().float()
    scale = getattr(module, "scale", None)
    return w * float(scale) if isinstance(scale, (int, float)) else w


@torch.no_grad()
def style_affines(generator: Generator) -> list[tuple[int, str, torch.Tensor]]:
    """``[(ws_index, module name, effective weight [C, w_dim]), ...]`` of every style affine of the
    synthesis, in ``ws`` order."""
    own = getattr(generator, "style_affines", None)
    if callable(own):
        return [(int(i), str(n), w.detach().float()) for i, n, w in own()]
    num_ws, w_dim = generator.num_ws, generator.w_dim
    candidates = [(name, m) for name, m in generator.named_modules()
                  if isinstance(getattr(m, "weight", None), torch.Tensor) and m.weight.ndim == 2
                  and m.weight.shape[1] == w_dim]
    seen: dict[str, int] = {}
    hooks = []

    def make_hook(name: str):
        def hook(module: nn.Module, args: tuple) -> None:
            x = args[0] if args else None
            if not isinstance(x, torch.Tensor) or x.ndim != 2 or x.shape[-1] != w_dim:
                return
            v = float(x[0, 0])
            idx = round(v) - 1
            if 0 <= idx < num_ws and torch.allclose(x, torch.full_like(x, idx + 1.0)):
                seen[name] = idx
        return hook

    for name, m in candidates:
        hooks.append(m.register_forward_pre_hook(make_hook(name)))
    try:
        marks = torch.arange(1, num_ws + 1, dtype=torch.float32, device=device_of(generator))
        ws = marks.reshape(1, num_ws, 1).expand(1, num_ws, w_dim).contiguous()
        generator.synthesis(ws, noise_mode="const")
    finally:
        for h in hooks:
            h.remove()
    modules = dict(candidates)
    found = [(idx, name, _effective_weight(modules[name])) for name, idx in seen.items()]
    if not found:
        raise RuntimeError(f"sefa: {type(generator).__name__} has no style-affine layers fed by ws "
                           f"(no linear layer takes a ws row as input)")
    return sorted(found, key=lambda t: (t[0], t[1]))


def is_to_rgb(name: str) -> bool:
    """ToRGB layers by name (rosinality ``to_rgb*``, NVIDIA ``torgb``); the official SeFa skips them."""
    return "rgb" in name.lower()


def sefa_directions(generator: Generator, layers: list[int], num: int | None = None,
                    normalize_rows: bool = True, include_to_rgb: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues ``[k]`` (descending) and orthonormal directions ``[k, w_dim]`` for ``layers``."""
    wanted = set(layers)
    chosen = [w for i, name, w in style_affines(generator)
              if i in wanted and (include_to_rgb or not is_to_rgb(name))]
    if not chosen:
        hint = "" if include_to_rgb else " (ToRGB affines are skipped; set include_to_rgb: true to use them)"
        raise RuntimeError(f"sefa: no style affine acts on layers {layers}{hint}")
    a = torch.cat(chosen, 0).double()
    if normalize_rows:
        a = a / a.norm(dim=1, keepdim=True).clamp_min(1e-12)
    values, vectors = torch.linalg.eigh(a.T @ a)  # ascending, orthonormal columns
    order = torch.argsort(values, descending=True)
    values, vectors = values[order], vectors[:, order].T
    if num is not None:
        values, vectors = values[:num], vectors[:num]
    return values.float(), vectors.float()


class SeFaEditor(Editor, name="sefa"):
    """Edit along the top SeFa directions of the chosen layers (one row of edits per direction)."""

    class Params(Params):
        layers: LayerSpec = Field("all", description="layers whose affines are factorised and edited")
        num_directions: int = Field(3, ge=1, le=512, description="how many top directions to render")
        strengths: list[float] = Field(default_factory=lambda: [-3.0, 3.0], min_length=1,
                                       description="step sizes along each direction")
        relative: bool = Field(True, description="strengths in units of the std of mapped w along the "
                               "direction (scale-free across generators); else raw latent units")
        normalize_rows: bool = Field(True, description="unit-normalise each affine row first (official SeFa)")
        include_to_rgb: bool = Field(False, description="also factorise the ToRGB affines (official: no)")
        samples: int = Field(2000, ge=10, description="mapped samples for the relative scale")

    @classmethod
    def output_spaces(cls, params: "SeFaEditor.Params | None" = None, input_space: str = "w+") -> tuple[str, ...]:
        if params is not None and params.layers != "all":
            return ("w+",)
        return (input_space,)

    @torch.no_grad()
    def _scales(self, generator: Generator, directions: torch.Tensor) -> torch.Tensor:
        if not self.params.relative:
            return torch.ones(directions.shape[0])
        z = torch.randn(self.params.samples, generator.z_dim, generator=torch.Generator().manual_seed(0))
        w = generator.mapping(z.to(device_of(generator)), 1.0, None)[:, 0].float().cpu()
        return ((w - w.mean(0)) @ directions.T).std(0)

    @torch.no_grad()
    def edit(self, generator: Generator, latent: Latent, context: Any = None) -> list[Edit]:
        p = self.params
        ws = latent_ws(generator, latent, "sefa")
        layers = resolve_layers(p.layers, generator.num_ws, "sefa.layers")
        _, directions = sefa_directions(generator, layers, p.num_directions, p.normalize_rows,
                                        p.include_to_rgb)
        scales = self._scales(generator, directions)
        mask = torch.zeros(generator.num_ws, 1, device=ws.device, dtype=ws.dtype)
        mask[layers] = 1.0
        edits = []
        for k, (d, scale) in enumerate(zip(directions.to(ws), scales.tolist())):
            for s in p.strengths:
                edits.append(Edit(f"sefa{k}_{s:+g}", render(generator, ws + s * scale * mask * d)))
        return edits
