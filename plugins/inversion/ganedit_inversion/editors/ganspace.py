"""GANSpace component edits (Härkönen et al., "GANSpace: Discovering Interpretable GAN Controls",
NeurIPS 2020) from the files GANSpace and e4e ship.

Files:

* GANSpace's ``.npz`` (``decomposition.py``): ``lat_comp`` ``[C, 1, w_dim]`` (unit principal
  directions in W), ``lat_mean`` ``[1, w_dim]``, ``lat_stdev`` ``[C]`` (the std of mapped samples
  along each direction); the ``act_*`` / ``var_ratio`` / ``random_stdevs`` entries are not needed;
* e4e's ``editings/ganspace_pca/*.pt``: the same arrays as ``comp`` / ``mean`` / ``std``.

Edits (one row per component, layers and sigma), as the original code applies them on the chosen
layers (GANSpace notation ``E(c, start-end)``):

* ``offset`` (GANSpace's strips and interactive tool): ``w_l + sigma * lat_stdev[c] * lat_comp[c]``;
* ``set`` (GANSpace's centred strips; e4e's ``editings/ganspace.py``): the coordinate of ``w_l``
  along the component is set to ``sigma`` standard deviations from ``lat_mean``. e4e reads the
  coordinate on layer 0 and moves every edited layer by the same amount; here each edited layer's
  own coordinate is set (the same for W latents, close for e4e's near-W codes).

Components computed in Z (GANSpace without ``--use_w``) cannot edit an inverted W/W+ latent;
GANSpace writes ``lat_stdev = 1`` for every component then, and such files are refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, FilePath

from ganedit.interfaces import Edit, Editor, Generator, Params
from ganedit.io.checkpoint import CheckpointError, check_finite, read_numpy, safe_torch_load
from ganedit.latent import Latent, LatentError

from ganedit_inversion.editors.base import latent_ws, render
from ganedit_inversion.layers import LayerSpec, layer_label, resolve_layers

GANSPACE_SUFFIXES = (".npz", ".pt", ".pth")
#: Entry names: GANSpace's .npz, then e4e's .pt.
_KEYS = {"comp": ("lat_comp", "comp"), "mean": ("lat_mean", "mean"), "std": ("lat_stdev", "std")}


@dataclass
class GanspaceComponents:
    """Principal directions ``comp [C, w_dim]``, their mean ``[w_dim]`` and stds ``[C]`` in W."""

    comp: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    path: Path

    @property
    def num(self) -> int:
        return self.comp.shape[0]

    def check(self, generator: Generator) -> None:
        """The components must live in this generator's W (clear error otherwise)."""
        w_dim = getattr(generator, "w_dim", None)
        if w_dim is not None and self.comp.shape[1] != w_dim:
            raise LatentError(f"{self.path}: GANSpace components have dimension {self.comp.shape[1]}, the "
                              f"generator's w_dim is {w_dim} (components of another model?)")


def _arrays(path: Path) -> dict[str, Any]:
    if path.suffix.lower() == ".npz":
        data = read_numpy(path)
        if not isinstance(data, dict):
            raise CheckpointError(f"{path}: one .npy array, not an .npz archive (lat_comp, lat_mean, lat_stdev)")
        return data
    obj = safe_torch_load(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict of tensors (comp, mean, std), got {type(obj).__name__}")
    return obj


def load_ganspace(path: str | Path) -> GanspaceComponents:
    """Read a GANSpace ``.npz`` or e4e ``.pt`` PCA file (no pickles), checking shapes and values."""
    p = Path(path)
    if p.suffix.lower() not in GANSPACE_SUFFIXES:
        raise CheckpointError(f"{p}: GANSpace files must be {', '.join(GANSPACE_SUFFIXES)}")
    data = _arrays(p)
    found: dict[str, torch.Tensor] = {}
    for role, names in _KEYS.items():
        name = next((n for n in names if n in data), None)
        if name is None:
            raise CheckpointError(f"{p}: not a GANSpace PCA file: no {' / '.join(names)} entry (found "
                                  f"{', '.join(sorted(map(str, data))[:8]) or 'nothing'})")
        value = data[name]
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{p}: {name} is a {type(value).__name__}, expected an array")
        found[role] = value.detach().float()
    comp, mean, std = found["comp"], found["mean"], found["std"]
    if comp.ndim == 3 and comp.shape[1] == 1:
        comp = comp[:, 0]
    if comp.ndim != 2:
        raise CheckpointError(f"{p}: components have shape {tuple(found['comp'].shape)}; expected [C, 1, w_dim] "
                              f"or [C, w_dim] (one W vector per component)")
    mean = mean.reshape(-1)
    if mean.numel() != comp.shape[1] or std.reshape(-1).numel() != comp.shape[0]:
        raise CheckpointError(f"{p}: inconsistent shapes: components {tuple(comp.shape)}, mean "
                              f"{tuple(found['mean'].shape)}, stdev {tuple(found['std'].shape)}")
    std = std.reshape(-1)
    check_finite({"components": comp, "mean": mean, "stdev": std}, p)
    if bool((std == 1).all()):
        raise CheckpointError(f"{p}: lat_stdev is 1 for every component, which GANSpace writes for Z-space "
                              f"components (computed without --use_w); ganedit edits inverted W/W+ latents: "
                              f"recompute the components with --use_w")
    return GanspaceComponents(comp=comp, mean=mean, std=std, path=p)


class GanspaceEdit(Params):
    """One GANSpace control: a component, the layers it acts on, and the sigmas to render."""

    component: int = Field(ge=0, description="principal component index (0 = most variance)")
    layers: LayerSpec = Field("all", description="layers edited: 'all', 'coarse', 'middle', 'fine' or indices "
                              "(GANSpace's E(c, 0-3) is [0, 1, 2, 3])")
    sigmas: list[float] = Field(default_factory=lambda: [-2.0, 2.0], min_length=1,
                                description="edit strengths in standard deviations (GANSpace --sigma: 2)")
    label: str | None = Field(None, description="name in file names (default ganspace<component>)")


class GanspaceEditor(Editor, name="ganspace"):
    """Edit along GANSpace principal components of W, in units of their standard deviation."""

    class Params(Params):
        path: FilePath = Field(description="GANSpace .npz (lat_comp, lat_mean, lat_stdev) or e4e ganspace_pca .pt")
        edits: list[GanspaceEdit] = Field(
            default_factory=lambda: [GanspaceEdit(component=c) for c in range(3)], min_length=1,
            description="controls to render (default: the first three components on all layers)")
        mode: Literal["offset", "set"] = Field(
            "offset", description="offset: w + sigma * stdev * comp (GANSpace); set: the coordinate along the "
                                  "component becomes sigma stdevs from the mean (GANSpace centred, e4e)")

    def __init__(self, params: "GanspaceEditor.Params"):
        super().__init__(params)
        self.pca = load_ganspace(params.path)
        bad = [e.component for e in params.edits if e.component >= self.pca.num]
        if bad:
            raise CheckpointError(f"{params.path}: component {bad[0]} does not exist (the file holds {self.pca.num})")

    @classmethod
    def check_params(cls, params: "GanspaceEditor.Params") -> list[str]:
        if params.path.suffix.lower() not in GANSPACE_SUFFIXES:
            return [f"path: {params.path} must be one of {', '.join(GANSPACE_SUFFIXES)}"]
        return []

    @classmethod
    def output_spaces(cls, params: "GanspaceEditor.Params | None" = None, input_space: str = "w+") -> tuple[str, ...]:
        if params is not None and any(e.layers != "all" for e in params.edits):
            return ("w+",)
        return (input_space,)

    def check_generator(self, generator: Generator) -> None:
        self.pca.check(generator)
        for i, e in enumerate(self.params.edits):
            resolve_layers(e.layers, generator.num_ws, f"ganspace.edits.{i}.layers")

    def apply(self, ws: torch.Tensor, component: int, layers: list[int], sigma: float) -> torch.Tensor:
        """``ws [B, num_ws, w_dim]`` edited on ``layers`` by ``sigma`` stds along ``component``."""
        comp = self.pca.comp[component].to(ws)
        delta = sigma * float(self.pca.std[component]) * comp
        out = ws.clone()
        if self.params.mode == "set":
            unit = comp / comp.norm().clamp_min(1e-12)
            coord = ((ws[:, layers] - self.pca.mean.to(ws)) * unit).sum(-1, keepdim=True)
            out[:, layers] = ws[:, layers] - coord * unit + delta
        else:
            out[:, layers] = ws[:, layers] + delta
        return out

    @torch.no_grad()
    def edit(self, generator: Generator, latent: Latent, context: Any = None) -> list[Edit]:
        self.check_generator(generator)
        ws = latent_ws(generator, latent, "ganspace")
        edits = []
        for i, e in enumerate(self.params.edits):
            layers = resolve_layers(e.layers, generator.num_ws, f"ganspace.edits.{i}.layers")
            name = e.label or f"ganspace{e.component}" + ("" if e.layers == "all" else f"_{layer_label(e.layers)}")
            for s in e.sigmas:
                edits.append(Edit(f"{name}_{s:+g}", render(generator, self.apply(ws, e.component, layers, s))))
        return edits
