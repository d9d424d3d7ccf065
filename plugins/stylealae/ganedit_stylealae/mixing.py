"""The official StyleALAE style-mixing figure rule (``style_mixing/stylemix.py``).

A destination's broadcast w has the slots of one range overwritten by a source's w. The official
ranges are fixed slot numbers, not derived from the resolution: coarse = slots 0-3 (4 and 8 px
blocks), middle = 4-7 (16 and 32 px), fine = 8 .. num_ws-1 (64 px and up); at 32 px (8 slots) the
fine range is empty.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch


def official_style_ranges(num_ws: int) -> dict[str, list[int]]:
    """``{'coarse': [0..3], 'middle': [4..7], 'fine': [8..num_ws-1]}`` clipped to ``num_ws``."""
    spans = {"coarse": range(0, 4), "middle": range(4, 8), "fine": range(8, num_ws)}
    return {name: [s for s in span if s < num_ws] for name, span in spans.items()}


def mix_styles(dst: torch.Tensor, src: torch.Tensor, slots: Sequence[int]) -> torch.Tensor:
    """``dst`` styles ``[B, num_ws, D]`` with ``slots`` taken from ``src`` (same shape)."""
    if dst.shape != src.shape:
        raise ValueError(f"style mixing needs equal shapes, got {tuple(dst.shape)} and {tuple(src.shape)}")
    bad = [s for s in slots if not 0 <= s < dst.shape[1]]
    if bad:
        raise ValueError(f"style slots {bad} out of range for {dst.shape[1]} slots")
    out = dst.clone()
    out[:, list(slots)] = src[:, list(slots)]
    return out


def mixing_grid(styles: torch.Tensor, slots: Sequence[int]) -> torch.Tensor:
    """Styles of an N x N grid ``[N * N, num_ws, D]``: row i = destination i, column j = source j."""
    n = styles.shape[0]
    dst = styles.repeat_interleave(n, dim=0)
    src = styles.repeat(n, 1, 1)
    return mix_styles(dst, src, slots)


def resolve_ranges(ranges: Mapping[str, Sequence[int]] | None, num_ws: int) -> dict[str, list[int]]:
    """User ranges (validated) or the official ones; empty ranges are dropped."""
    chosen = official_style_ranges(num_ws) if ranges is None else {k: list(v) for k, v in ranges.items()}
    for name, slots in chosen.items():
        bad = [s for s in slots if not 0 <= s < num_ws]
        if bad:
            raise ValueError(f"style range {name!r}: slots {bad} out of range for {num_ws} style inputs")
    return {k: v for k, v in chosen.items() if v}
