"""The page's editor panels: which controls each editor of a config gets, and how the controls'
values become that editor's params.

The server never edits latents itself: a panel turns the controls' values into params for the
config's own editor (``sefa`` with ``strengths: [s]``, ``tcp_region`` with the painted mask, ...),
the editor is built through the registry and its ``edit()`` renders the image. An editor type not
listed here still gets a panel: a strength slider when it has ``strengths``, else its configured
output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

#: Value of a reference control that picks a random style (style mixing ``seeds``).
SEED_PREFIX = "seed:"


@dataclass
class Slider:
    name: str
    label: str
    minimum: float
    maximum: float
    value: float
    step: float = 0.05


@dataclass
class Choice:
    name: str
    label: str
    choices: list[tuple[str, str]]  # (shown, value)
    value: str


@dataclass
class Reference:
    """An image picked from ``choices`` (``(shown, path)``) or uploaded; the value is a path (or
    ``seed:N`` for a random style)."""

    name: str
    label: str
    choices: list[tuple[str, str]]
    value: str


@dataclass
class Mask:
    """A region painted over the input image; the value is a mask PNG path, or ``None`` for the
    config's own mask (``default``, shown to the user)."""

    name: str
    label: str
    default: str


Control = Slider | Choice | Reference | Mask
ParamsFn = Callable[[dict[str, Any]], tuple[dict[str, Any], int]]


@dataclass
class Panel:
    """One editor of the config in the page: its controls and how their values become params.

    ``params(values) -> (editor params, index of the edit to show)``."""

    index: int
    type: str
    title: str
    controls: list[Control]
    make_params: ParamsFn = field(repr=False)
    help: str = ""

    @property
    def key(self) -> str:
        return f"{self.index}_{self.type}"

    def defaults(self) -> dict[str, Any]:
        return {c.name: (None if isinstance(c, Mask) else c.value) for c in self.controls}

    def params(self, values: dict[str, Any]) -> tuple[dict[str, Any], int]:
        merged = {**self.defaults(), **{k: v for k, v in values.items() if k in self.defaults()}}
        return self.make_params(merged)


def _range(strengths: list[float], signed: bool) -> tuple[float, float]:
    top = max([abs(float(s)) for s in strengths] + [1.0])
    top = math.ceil(top * 1.5 * 2) / 2  # some room past the configured values, on a half step
    return (-top, top) if signed else (0.0, max(top, 1.5))


def _strength(params: dict[str, Any], label: str = "strength", signed: bool = True,
              value: float | None = None) -> Slider:
    lo, hi = _range(list(params.get("strengths") or [1.0]), signed)
    return Slider("strength", label, lo, hi, 0.0 if value is None else value)


def _paths(values: list[Any]) -> list[tuple[str, str]]:
    from pathlib import Path

    return [(Path(str(v)).stem, str(v)) for v in values]


def _first_region_mask(region: dict[str, Any]) -> dict[str, Any]:
    """The mask keys of a region (file or built-in shape), as the config gave them."""
    return {k: region[k] for k in ("mask", "shape", "invert") if region.get(k) is not None}


def _mask_note(mask: dict[str, Any]) -> str:
    if mask.get("mask"):
        return f"the config's mask {mask['mask']}"
    if mask.get("shape"):
        return f"the built-in '{mask['shape']}' mask"
    return "the whole image"


# ----------------------------------------------------------------------------- panels per editor type
def sefa_panel(index: int, params: dict[str, Any], refs: "References") -> Panel:
    k = int(params.get("num_directions", 1))
    controls: list[Control] = [
        Choice("direction", "SeFa direction", [(f"direction {i}", str(i)) for i in range(k)], "0"),
        _strength(params, "strength (std of w along the direction)" if params.get("relative", True)
                  else "strength"),
    ]

    def make(v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        d = int(v["direction"])
        return {**params, "num_directions": d + 1, "strengths": [float(v["strength"])]}, d

    return Panel(index, "sefa", "SeFa (closed-form directions)", controls, make,
                 "Move along one of the generator's own top SeFa directions.")


def direction_panel(index: int, params: dict[str, Any], refs: "References") -> Panel:
    def make(v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return {**params, "strengths": [float(v["strength"])]}, 0

    name = params.get("label") or str(params.get("path", "direction"))
    return Panel(index, "direction", f"Direction {name}", [_strength(params)], make,
                 "Add strength x the direction to the latent.")


def ganspace_panel(index: int, params: dict[str, Any], refs: "References") -> Panel:
    """GANSpace (issue 18's ``ganspace`` editor): one of the config's ``edits`` (a component on its
    layers) and its strength in standard deviations."""
    edits = [dict(e) for e in params.get("edits") or [{"component": c} for c in range(3)]]

    def name(e: dict[str, Any]) -> str:
        layers = e.get("layers", "all")
        return e.get("label") or f"component {e['component']}" + ("" if layers == "all" else f" ({layers})")

    sigmas = [float(s) for e in edits for s in e.get("sigmas") or [2.0]]
    controls: list[Control] = [Choice("control", "GANSpace component", [(name(e), str(i)) for i, e in enumerate(edits)],
                                      "0"),
                               _strength({"strengths": sigmas}, "sigma (standard deviations)")]

    def make(v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        chosen = {**edits[int(v["control"])], "sigmas": [float(v["strength"])]}
        return {**params, "edits": [chosen]}, 0

    return Panel(index, "ganspace", "GANSpace", controls, make,
                 "Move along a principal component of W, in its standard deviations.")


def style_mixing_panel(index: int, params: dict[str, Any], refs: "References") -> Panel:
    layers = [str(x) if isinstance(x, str) else ",".join(str(i) for i in x) for x in params.get("layers") or []]
    layers = list(dict.fromkeys(layers + ["coarse", "middle", "fine", "all"]))
    sources = _paths(params.get("sources") or []) + refs.images
    sources += [(f"random style (seed {s})", f"{SEED_PREFIX}{s}") for s in params.get("seeds") or []]
    sources = list(dict.fromkeys(sources))
    controls: list[Control] = [
        Reference("source", "style source", sources, sources[0][1] if sources else ""),
        Choice("layers", "layers taken from the source", [(x, x) for x in layers], layers[0]),
    ]

    def make(v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        source, spec = str(v["source"]), str(v["layers"])
        layer: Any = spec if not spec[:1].isdigit() else [int(i) for i in spec.split(",")]
        out = {**params, "sources": [], "seeds": [], "layers": [layer], "skip_empty": False}
        if source.startswith(SEED_PREFIX):
            out["seeds"] = [int(source[len(SEED_PREFIX):])]
        else:
            out["sources"] = [source]
        return out, 0

    return Panel(index, "style_mixing", "Style mixing", controls, make,
                 "Take a layer range (coarse 4-8 px, middle 16-32 px, fine 64 px+) from another image "
                 "(inverted with the config's reference inverter) or a random style.")


def texture_interpolation_panel(index: int, params: dict[str, Any], refs: "References") -> Panel:
    choices = _paths(params.get("texture_images") or []) + refs.textures
    controls: list[Control] = [Reference("texture", "texture reference", choices, choices[0][1] if choices else ""),
                               Slider("strength", "alpha (0 = input, 1 = swap)", 0.0,
                                      _range(list(params.get("strengths") or [1.0]), False)[1], 1.0)]

    def make(v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return {**params, "texture_images": [v["texture"]], "strengths": [float(v["strength"])]}, 0

    return Panel(index, "texture_interpolation", "Texture interpolation", controls, make,
                 "Interpolate the input's texture code towards a reference's.")


def swap_panel(index: int, params: dict[str, Any], refs: "References") -> Panel:
    choices = _paths(params.get("texture_images") or []) + refs.textures
    controls: list[Control] = [Reference("texture", "texture reference", choices, choices[0][1] if choices else "")]

    def make(v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return {**params, "texture_images": [v["texture"]]}, 0

    return Panel(index, "swap", "Swap", controls, make, "The input's structure with a reference's texture.")


def region_texture_panel(index: int, params: dict[str, Any], refs: "References") -> Panel:
    region = dict((params.get("regions") or [{}])[0])
    mask = _first_region_mask(region) or {"shape": "left"}
    choices = refs.textures
    controls: list[Control] = [
        Reference("texture", "texture reference", choices, choices[0][1] if choices else ""),
        Mask("mask", "region (paint it; empty: the config's)", _mask_note(mask)),
        Slider("strength", "blend inside the region", 0.0, 1.0, float(region.get("strength", 1.0))),
    ]

    def make(v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        where = {"mask": v["mask"]} if v.get("mask") else mask
        new = {**where, "texture_image": v["texture"], "strength": float(v["strength"])}
        return {**params, "regions": [new]}, 0

    return Panel(index, "region_texture", "Region texture", controls, make,
                 "Replace the texture inside a painted region with a reference's.")


def tcp_region_panel(index: int, params: dict[str, Any], refs: "References") -> Panel:
    regions = params.get("regions") or [{"mask": params.get("mask"), "style": params.get("style")}]
    region = dict(regions[0])
    mask = _first_region_mask(region)
    choices = refs.textures
    if region.get("style"):
        choices = list(dict.fromkeys(_paths([region["style"]]) + choices))
    controls: list[Control] = [
        Reference("style", "style reference", choices, choices[0][1] if choices else ""),
        Mask("mask", "region (paint it; empty: the config's)", _mask_note(mask)),
        Slider("strength", "alpha (0 = input's style, 1 = reference's)", 0.0,
               _range(list(params.get("strengths") or [1.0]), False)[1], 1.0),
    ]

    def make(v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        where = {"mask": v["mask"]} if v.get("mask") else mask
        new = {**where, "style": v["style"]}
        out = {**params, "style": None, "mask": None, "regions": [new], "strengths": [float(v["strength"])]}
        return out, 0

    return Panel(index, "tcp_region", "Region stylization (TCP)", controls, make,
                 "The reference's style inside a painted region, the input's content everywhere.")


def generic_panel(index: int, type_: str, params: dict[str, Any], refs: "References") -> Panel:
    controls: list[Control] = [_strength(params, value=float((params.get("strengths") or [0.0])[0]))] \
        if "strengths" in params else []

    def make(v: dict[str, Any]) -> tuple[dict[str, Any], int]:
        return ({**params, "strengths": [float(v["strength"])]} if controls else dict(params)), 0

    return Panel(index, type_, type_, controls, make, "Its first output with the chosen strength."
                 if controls else "Its first output with the config's params.")


PANELS: dict[str, Callable[[int, dict[str, Any], "References"], Panel]] = {
    "sefa": sefa_panel,
    "direction": direction_panel,
    "ganspace": ganspace_panel,
    "style_mixing": style_mixing_panel,
    "texture_interpolation": texture_interpolation_panel,
    "swap": swap_panel,
    "region_texture": region_texture_panel,
    "tcp_region": tcp_region_panel,
}


@dataclass
class References:
    """Images a panel may offer as references: other inputs (``images``) and texture/style
    references (``textures``), as ``(shown, path)``."""

    images: list[tuple[str, str]] = field(default_factory=list)
    textures: list[tuple[str, str]] = field(default_factory=list)


def make_panels(editors: list[dict[str, Any]], refs: References) -> list[Panel]:
    """A panel per editor spec (``{type, params}``, resolved) of the config."""
    out = []
    for i, spec in enumerate(editors):
        name = str(spec["type"]).split(":")[-1]
        factory = PANELS.get(name)
        params = dict(spec.get("params") or {})
        panel = factory(i, params, refs) if factory else generic_panel(i, name, params, refs)
        panel.type = str(spec["type"])
        out.append(panel)
    return out
