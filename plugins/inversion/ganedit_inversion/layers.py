"""Layer (``ws`` index) selection: the StyleGAN coarse / middle / fine groups or explicit indices.

StyleGAN feeds two ``ws`` per resolution, starting at 4x4, so index ``i`` acts at resolution
``2 ** (2 + i // 2)``. The StyleGAN paper's groups: coarse = 4-8 px (indices 0-3), middle =
16-32 px (4-7), fine = 64 px and up (8+). On a small generator a group can be empty (a 16 px
generator has no fine layers); selecting an empty group is an error that says so.
"""

from __future__ import annotations

from typing import Literal, Union

LayerGroup = Literal["all", "coarse", "middle", "fine"]
LayerSpec = Union[LayerGroup, list[int]]

GROUP_RESOLUTIONS: dict[str, tuple[int, int]] = {
    "all": (0, 1 << 30),
    "coarse": (4, 8),
    "middle": (16, 32),
    "fine": (64, 1 << 30),
}


def layer_resolution(index: int) -> int:
    """The resolution at which ``ws[:, index]`` acts."""
    return 2 ** (2 + index // 2)


def resolve_layers(spec: LayerSpec, num_ws: int, who: str = "layers") -> list[int]:
    """Sorted ``ws`` indices for a group name or an explicit list (negative indices count from the end)."""
    if isinstance(spec, str):
        lo, hi = GROUP_RESOLUTIONS[spec]
        chosen = [i for i in range(num_ws) if lo <= layer_resolution(i) <= hi]
        if not chosen:
            raise ValueError(f"{who}: layer group {spec!r} is empty for a generator with num_ws={num_ws} "
                             f"(resolutions {layer_resolution(0)}..{layer_resolution(num_ws - 1)} px); "
                             f"give explicit indices instead")
        return chosen
    if not spec:
        raise ValueError(f"{who}: empty list of layer indices")
    out = set()
    for i in spec:
        j = i + num_ws if i < 0 else i
        if not 0 <= j < num_ws:
            raise ValueError(f"{who}: layer index {i} is out of range for num_ws={num_ws}")
        out.add(j)
    return sorted(out)


def layer_label(spec: LayerSpec) -> str:
    if isinstance(spec, str):
        return spec
    return "L" + "-".join(str(i) for i in spec)
