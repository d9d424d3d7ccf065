"""Training masks for TCP's content alignment loss, made without annotations.

TCP trains region-wise editing with self-supervision only; how its training masks were made is not
stated. Three generators are offered (``docs/tcp.md``):

* ``rect``: one axis-aligned rectangle covering a random fraction of the image (``area`` range,
  aspect ratio log-uniform in [1/2, 2]);
* ``stroke``: free-form brush strokes (random polylines with round caps, as in the free-form
  inpainting literature), repeated until the covered fraction reaches a random target in ``area``;
* ``cluster``: one cluster of the content code: k-means (cosine) over the code vectors of the image,
  a random cluster chosen, upsampled to the image (regions that follow the image layout).

Each sample draws its kind uniformly from the given kinds. Randomness comes from ``generator``, or
the global torch RNG (so a training run that restores the RNG state redraws the same masks).
"""

from __future__ import annotations

import math
from typing import Literal, Sequence

import torch
import torch.nn.functional as F

MaskKind = Literal["rect", "stroke", "cluster"]
MASK_KINDS: tuple[str, ...] = ("rect", "stroke", "cluster")


def _rand(generator: torch.Generator | None, *shape: int) -> torch.Tensor:
    return torch.rand(*shape, generator=generator)


def _uniform(generator: torch.Generator | None, lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(_rand(generator, 1))


def rect_mask(size: Sequence[int], area: tuple[float, float] = (0.1, 0.6),
              generator: torch.Generator | None = None) -> torch.Tensor:
    """One random rectangle ``[1, H, W]`` covering roughly a fraction ``U(area)`` of the image."""
    h, w = int(size[0]), int(size[1])
    frac = _uniform(generator, *area)
    aspect = math.exp(_uniform(generator, math.log(0.5), math.log(2.0)))
    rh = min(h, max(1, round(math.sqrt(frac * aspect) * h)))
    rw = min(w, max(1, round(math.sqrt(frac / aspect) * w)))
    y0 = int(_rand(generator, 1) * (h - rh + 1))
    x0 = int(_rand(generator, 1) * (w - rw + 1))
    m = torch.zeros(1, h, w)
    m[:, y0:y0 + rh, x0:x0 + rw] = 1
    return m


def _segment_distance(ys: torch.Tensor, xs: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor) -> torch.Tensor:
    """Distance of every pixel centre to the segment ``p0 -> p1`` (points as ``(y, x)``)."""
    d = p1 - p0
    denom = float((d * d).sum()) or 1e-12
    t = (((ys - p0[0]) * d[0] + (xs - p0[1]) * d[1]) / denom).clamp(0, 1)
    return torch.hypot(ys - (p0[0] + t * d[0]), xs - (p0[1] + t * d[1]))


def stroke_mask(size: Sequence[int], area: tuple[float, float] = (0.1, 0.6),
                generator: torch.Generator | None = None, max_strokes: int = 12) -> torch.Tensor:
    """Free-form brush strokes ``[1, H, W]``: polylines of 3-8 vertices, brush width 1/16-1/6 of
    the side, drawn until the covered fraction reaches ``U(area)`` (or ``max_strokes``)."""
    h, w = int(size[0]), int(size[1])
    side = min(h, w)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32) + 0.5, torch.arange(w, dtype=torch.float32) + 0.5,
                            indexing="ij")
    target = _uniform(generator, *area)
    m = torch.zeros(h, w, dtype=torch.bool)
    for _ in range(max_strokes):
        width = _uniform(generator, side / 16, side / 6)
        pt = torch.stack([_rand(generator, 1)[0] * h, _rand(generator, 1)[0] * w])
        angle = _uniform(generator, 0, 2 * math.pi)
        for _ in range(3 + int(_rand(generator, 1) * 6)):
            angle += _uniform(generator, -math.pi / 3, math.pi / 3)
            length = _uniform(generator, side / 8, side / 3)
            nxt = pt + length * torch.tensor([math.sin(angle), math.cos(angle)])
            nxt = torch.stack([nxt[0].clamp(0, h), nxt[1].clamp(0, w)])
            m |= _segment_distance(ys, xs, pt, nxt) <= width / 2
            pt = nxt
        if float(m.float().mean()) >= target:
            break
    return m.float()[None]


def cluster_mask(code: torch.Tensor, size: Sequence[int], k: int = 3, iters: int = 10,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """One k-means cluster (cosine) of a content code ``[C, h, w]`` as a mask ``[1, H, W]``."""
    c, hh, ww = code.shape
    x = F.normalize(code.detach().float().cpu().reshape(c, -1).t(), dim=1)  # [N, C]
    n = x.shape[0]
    k = max(1, min(k, n))
    centres = x[torch.randperm(n, generator=generator)[:k]].clone()
    for _ in range(iters):
        assign = (x @ centres.t()).argmax(1)
        for j in range(k):
            sel = assign == j
            if bool(sel.any()):
                centres[j] = F.normalize(x[sel].mean(0), dim=0)
    assign = (x @ centres.t()).argmax(1)
    present = torch.unique(assign)
    pick = present[int(_rand(generator, 1) * len(present)) % len(present)]
    m = (assign == pick).float().view(1, 1, hh, ww)
    return F.interpolate(m, size=(int(size[0]), int(size[1])), mode="nearest")[0]


def feather(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian-blur soft edges into masks ``[N, 1, H, W]`` (``sigma`` in pixels; 0: unchanged)."""
    if sigma <= 0:
        return mask
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=mask.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    x = F.pad(mask, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1)).clamp(0, 1)


def random_masks(batch: int, size: Sequence[int], kinds: Sequence[str] = ("rect", "stroke"),
                 area: tuple[float, float] = (0.1, 0.6), feather_sigma: float = 0.0,
                 content: torch.Tensor | None = None, cluster_k: int = 3,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """``batch`` masks ``[B, 1, H, W]`` in [0, 1] (CPU), each of a kind drawn from ``kinds``.

    ``content`` (``[B, C, h, w]`` content codes) is needed for ``cluster`` masks.
    """
    unknown = set(kinds) - set(MASK_KINDS)
    if not kinds or unknown:
        raise ValueError(f"mask kinds must be a non-empty subset of {MASK_KINDS}, got {list(kinds)}")
    if "cluster" in kinds and content is None:
        raise ValueError("cluster masks need the content codes")
    out = []
    for i in range(batch):
        kind = kinds[int(_rand(generator, 1) * len(kinds)) % len(kinds)]
        if kind == "rect":
            out.append(rect_mask(size, area, generator))
        elif kind == "stroke":
            out.append(stroke_mask(size, area, generator))
        else:
            out.append(cluster_mask(content[i], size, cluster_k, generator=generator))  # type: ignore[index]
    return feather(torch.stack(out), feather_sigma)


__all__ = ["MASK_KINDS", "MaskKind", "cluster_mask", "feather", "random_masks", "rect_mask", "stroke_mask"]
