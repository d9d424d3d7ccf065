"""Datasets: an image folder and a procedural dataset with known structure and texture factors.

The procedural dataset needs no download. Each image is a *layout* (structure: a label map of up
to five regions — a horizon splitting the background, and up to three shapes) painted with a
*texture set* (per region: two colours and a pattern — flat, stripes, checks, dots, waves or
gradient — with its own frequency and orientation). Structure and texture come from independent
seeds, so ``render(structure_seed, texture_seed)`` with A's structure and B's texture is the ground
truth of a swap.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal, Sequence, get_args

import torch
import torch.nn.functional as F

from ganedit.io.images import IMAGE_EXTENSIONS, ResizePolicy, load_image, list_images

MAX_REGIONS = 5
PATTERNS = ("flat", "stripes", "checks", "dots", "waves", "gradient")
ShapeLabels = Literal["order", "kind"]
SHAPE_LABELS: tuple[str, ...] = get_args(ShapeLabels)
Palette = Literal["per_region", "shared", "global"]
PALETTES: tuple[str, ...] = get_args(Palette)


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], -1)
    return v[..., None] - v[..., None] * s[..., None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) & 0x7FFF_FFFF_FFFF_FFFF)


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    """``value`` itself, or a ValueError naming the option and listing the allowed values."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def check_shape_labels(shape_labels: str) -> ShapeLabels:
    """``shape_labels`` itself, or a ValueError listing the allowed values."""
    return _check_choice("shape_labels", shape_labels, SHAPE_LABELS)  # type: ignore[return-value]


def structure_labels(structure_seed: int, resolution: int, shape_labels: ShapeLabels = "order") -> torch.Tensor:
    """Label map ``[H, W]`` (int64, values 0..4) of one layout.

    Labels 0/1 are the background above/below the horizon. ``shape_labels`` says which texture slot
    a shape gets: ``"order"``, 2 + its drawing order (invisible in the image, so when a layout has
    several shapes, which texture of another image belongs to which shape cannot be seen);
    ``"kind"``, 2 + its kind (ellipse, rectangle, triangle), a visible class like "tree" or "house",
    which makes the ground truth of a swap well defined. Both draw the same shapes."""
    check_shape_labels(shape_labels)
    g = _rng(structure_seed * 2 + 1)
    r = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    n = resolution
    ys, xs = torch.meshgrid(torch.linspace(0, 1, n), torch.linspace(0, 1, n), indexing="ij")
    # Background: two regions split by a tilted, slightly wavy horizon.
    h0, tilt, amp, freq = 0.35 + 0.3 * r(1), (r(1) - 0.5) * 0.6, 0.05 * r(1), 1 + 3 * r(1)
    horizon = h0 + tilt * (xs - 0.5) + amp * torch.sin(2 * math.pi * freq * xs)
    labels = (ys > horizon).long()
    n_shapes = 1 + int(r(1).item() * 3)  # 1..3 shapes
    for i in range(n_shapes):
        kind = int(r(1).item() * 3)
        cx, cy = 0.2 + 0.6 * r(1), 0.2 + 0.6 * r(1)
        sx, sy = 0.08 + 0.17 * r(1), 0.08 + 0.17 * r(1)
        ang = r(1) * math.pi
        dx, dy = xs - cx, ys - cy
        u = dx * torch.cos(ang) + dy * torch.sin(ang)
        v = -dx * torch.sin(ang) + dy * torch.cos(ang)
        if kind == 0:  # ellipse
            mask = (u / sx) ** 2 + (v / sy) ** 2 <= 1
        elif kind == 1:  # rectangle
            mask = (u.abs() <= sx) & (v.abs() <= sy)
        else:  # triangle
            mask = (v >= -sy) & (v <= sy) & (u.abs() <= sx * (sy - v) / (2 * sy))
        labels = torch.where(mask, torch.full_like(labels, 2 + (kind if shape_labels == "kind" else i)), labels)
    return labels


def check_palette(palette: str) -> Palette:
    """``palette`` itself, or a ValueError listing the allowed values."""
    return _check_choice("palette", palette, PALETTES)  # type: ignore[return-value]


def check_patterns(patterns: Sequence[str]) -> tuple[str, ...]:
    """``patterns`` as a tuple, or a ValueError naming the unknown ones."""
    patterns = tuple(patterns)
    unknown = [p for p in patterns if p not in PATTERNS]
    if not patterns or unknown or len(set(patterns)) != len(patterns):
        raise ValueError(f"patterns must be distinct names from {', '.join(PATTERNS)}; got {list(patterns)}")
    return patterns


#: The ``global`` palette's colour scheme per texture slot (sky, ground, ellipse, rectangle,
#: triangle): hue offset from the image's hue, saturation and value factors. Related colours
#: (analogous hues and a complementary accent) whose value and saturation differ per slot, so the
#: layout shows in any texture and one hue tells the whole palette.
GLOBAL_SCHEME: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.35, 1.0), (0.06, 0.85, 0.62), (-0.10, 1.0, 0.9), (0.10, 0.7, 0.42), (0.5, 0.9, 0.75))


def _global_texture(r, patterns: tuple[str, ...]) -> list[dict[str, torch.Tensor | int]]:
    """One texture for the whole image: a hue, saturation and value taken by every slot through
    :data:`GLOBAL_SCHEME` with small per-region shifts (hue +-0.02, saturation +-0.05, value
    +-0.04), and one pattern field (family, frequency, orientation, phase, depth) across the
    image, darkening each region's colour by up to ``depth``."""
    hue, sat, val = r(1), 0.45 + 0.45 * r(1), 0.6 + 0.4 * r(1)
    shared = {"pattern": PATTERNS.index(patterns[int(r(1).item() * len(patterns))]),
              "freq": 1.5 + 2.5 * r(1), "angle": r(1) * math.pi, "phase": r(1) * 2 * math.pi}
    depth = 0.15 + 0.2 * r(1)
    out = []
    for dh, ms, mv in GLOBAL_SCHEME:
        h = (hue + dh + 0.04 * (r(1) - 0.5)) % 1.0
        s = (sat * ms + 0.1 * (r(1) - 0.5)).clamp(0, 1)
        v = (val * mv + 0.08 * (r(1) - 0.5)).clamp(0, 1)
        out.append({"c1": _hsv_to_rgb(h, s, v)[0], "c2": _hsv_to_rgb(h, s, v * (1 - depth))[0], **shared})
    return out


def texture_params(texture_seed: int, patterns: Sequence[str] = PATTERNS,
                   palette: Palette = "per_region") -> list[dict[str, torch.Tensor | int]]:
    """Per-region texture descriptions (colours, pattern, frequency, orientation).

    ``patterns`` restricts the pattern family (an easier dataset); the other draws are made either
    way, so a texture seed keeps its colours whatever the family.

    ``palette``: ``"per_region"``, each region draws its own saturation, value, second colour and
    pattern (only the hues are tied, a quarter turn apart), so one region says little about
    another's texture; ``"shared"``, one draw for the whole image (hue, saturation, value, second
    colour, pattern, frequency, orientation), region ``k`` taking it with its hue turned by
    ``k / 5``; ``"global"``, one texture for the whole image (:func:`_global_texture`): related
    colours with small per-region shifts and one pattern field across the image, so that any
    crop tells the image's texture and the layout shows in every texture."""
    patterns = check_patterns(patterns)
    check_palette(palette)
    # All draws at once (a CPU generator gives the same numbers as one draw at a time) and the
    # per-region arithmetic on 5-vectors: the same float32 operations, in the same order, as the
    # one-region-at-a-time formulation this replaces, without its thousand tiny tensor ops.
    g = _rng(texture_seed * 2 + 2)
    if palette == "global":
        return _global_texture(lambda *s: torch.rand(*s, generator=g), patterns)
    if palette == "shared":
        r = torch.rand(10, generator=g)
        hue, sat, val = r[0:1], 0.45 + 0.5 * r[1:2], 0.55 + 0.45 * r[2:3]
        shift, sat2, val2 = 0.35 + 0.3 * r[3:4], 0.3 + 0.6 * r[4:5], 0.15 + 0.5 * r[5:6]
        shared = {"pattern": PATTERNS.index(patterns[int(r[6].item() * len(patterns))]),
                  "freq": 2 + 5 * r[7:8], "angle": r[8:9] * math.pi, "phase": r[9:10] * 2 * math.pi}
        turns = torch.tensor([k / MAX_REGIONS for k in range(MAX_REGIONS)])
        c1 = _hsv_to_rgb((hue + turns) % 1.0, sat.expand(MAX_REGIONS), val.expand(MAX_REGIONS))
        c2 = _hsv_to_rgb((hue + turns + shift) % 1.0, sat2.expand(MAX_REGIONS), val2.expand(MAX_REGIONS))
        return [{"c1": c1[k], "c2": c2[k], **shared} for k in range(MAX_REGIONS)]
    r = torch.rand(1 + 10 * MAX_REGIONS, generator=g)
    base_hue, d = r[0:1], r[1:].view(MAX_REGIONS, 10)   # per region: hue, c1 (2), c2 (3), 4 pattern draws
    quarter = torch.tensor([0.25 * k for k in range(MAX_REGIONS)])
    hue = (base_hue + quarter + 0.15 * (d[:, 0] - 0.5)) % 1.0
    c1 = _hsv_to_rgb(hue, 0.45 + 0.5 * d[:, 1], 0.55 + 0.45 * d[:, 2])
    c2 = _hsv_to_rgb((hue + 0.35 + 0.3 * d[:, 3]) % 1.0, 0.3 + 0.6 * d[:, 4], 0.15 + 0.5 * d[:, 5])
    freq, angle, phase = 2 + 5 * d[:, 7], d[:, 8] * math.pi, d[:, 9] * 2 * math.pi
    return [{"c1": c1[k], "c2": c2[k],
             "pattern": PATTERNS.index(patterns[int(d[k, 6].item() * len(patterns))]),
             "freq": freq[k:k + 1], "angle": angle[k:k + 1], "phase": phase[k:k + 1]}
            for k in range(MAX_REGIONS)]


def _pattern(p: dict, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Blend weight in [0, 1] between a region's two colours, ``[H, W]``."""
    name = PATTERNS[p["pattern"]]
    if name == "flat":
        return torch.zeros_like(xs)
    ang, f, ph = p["angle"], p["freq"], p["phase"]
    u = xs * torch.cos(ang) + ys * torch.sin(ang)
    if name == "gradient":
        return (u - u.min()) / (u.max() - u.min() + 1e-8)
    v = -xs * torch.sin(ang) + ys * torch.cos(ang)
    if name == "stripes":
        return (torch.sin(2 * math.pi * f * u + ph) > 0).float()
    if name == "checks":
        return ((torch.sin(2 * math.pi * f * u + ph) > 0) ^ (torch.sin(2 * math.pi * f * v) > 0)).float()
    if name == "dots":
        d = torch.sin(math.pi * f * u + ph) ** 2 + torch.sin(math.pi * f * v) ** 2
        return (d < 0.6).float()
    if name == "waves":
        return 0.5 + 0.5 * torch.sin(2 * math.pi * f * u + 2.0 * torch.sin(2 * math.pi * 0.5 * f * v) + ph)
    raise ValueError(f"unknown pattern {name!r}")


def paint(labels: torch.Tensor, texture_seed: int, supersample: int = 1,
          patterns: Sequence[str] = PATTERNS, palette: Palette = "per_region") -> torch.Tensor:
    """Paint a label map ``[H, W]`` with a texture set; returns ``[3, H, W]`` in [-1, 1]."""
    n_h, n_w = labels.shape
    ys, xs = torch.meshgrid(torch.linspace(0, 1, n_h), torch.linspace(0, 1, n_w), indexing="ij")
    img = torch.zeros(3, n_h, n_w)
    for k, p in enumerate(texture_params(texture_seed, patterns, palette)):
        mask = labels == k
        if not bool(mask.any()):
            continue
        if PATTERNS[p["pattern"]] == "flat":
            colour = p["c1"][:, None, None]  # = c1 * (1 - 0) + c2 * 0 exactly (colours are >= 0)
        else:
            t = _pattern(p, xs, ys)
            colour = p["c1"][:, None, None] * (1 - t) + p["c2"][:, None, None] * t
        img = torch.where(mask[None], colour, img)
    img = img * 2 - 1
    if supersample > 1:
        img = F.avg_pool2d(img[None], supersample)[0]
    return img


def render(structure_seed: int, texture_seed: int, resolution: int, supersample: int = 2,
           patterns: Sequence[str] = PATTERNS, shape_labels: ShapeLabels = "order",
           palette: Palette = "per_region") -> torch.Tensor:
    """One procedural image ``[3, R, R]`` in [-1, 1] from independent structure/texture seeds.

    ``patterns`` and ``palette``: see :func:`texture_params` (default: all of :data:`PATTERNS`,
    per-region palettes); ``shape_labels``: see :func:`structure_labels`."""
    labels = structure_labels(structure_seed, resolution * supersample, shape_labels)
    return paint(labels, texture_seed, supersample, patterns, palette)


class ImageFolderDataset(torch.utils.data.Dataset):
    """All images under ``root`` (recursive, common extensions), brought to ``resolution``."""

    def __init__(self, root: str | Path, resolution: int, policy: ResizePolicy = "center_crop",
                 recursive: bool = True, hflip: bool = False):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: image folder not found")
        self.paths = list_images(self.root, recursive=recursive)
        if not self.paths:
            raise FileNotFoundError(f"{self.root}: no images with extensions {', '.join(IMAGE_EXTENSIONS)}")
        self.resolution = resolution
        self.policy = policy
        self.hflip = hflip

    def __len__(self) -> int:
        return len(self.paths) * (2 if self.hflip else 1)

    def __getitem__(self, index: int) -> torch.Tensor:
        n = len(self.paths)
        img = load_image(self.paths[index % n], self.resolution, self.policy)
        return img.flip(-1) if index >= n else img


class ProceduralDataset(torch.utils.data.Dataset):
    """``length`` procedural images; image ``i`` has structure and texture seeds derived from ``seed``."""

    def __init__(self, resolution: int, length: int = 10000, seed: int = 0, supersample: int = 2,
                 patterns: Sequence[str] = PATTERNS, shape_labels: ShapeLabels = "order",
                 palette: Palette = "per_region"):
        self.resolution = resolution
        self.length = length
        self.seed = seed
        self.supersample = supersample
        self.patterns = check_patterns(patterns)
        self.shape_labels = check_shape_labels(shape_labels)
        self.palette = check_palette(palette)

    def __len__(self) -> int:
        return self.length

    def factors(self, index: int) -> tuple[int, int]:
        """``(structure_seed, texture_seed)`` of image ``index``."""
        base = (self.seed * 1_000_003 + index) * 2
        return base, base + 1

    def __getitem__(self, index: int) -> torch.Tensor:
        if not 0 <= index < self.length:
            raise IndexError(index)
        s, t = self.factors(index)
        return self.render(s, t)

    def render(self, structure_seed: int, texture_seed: int) -> torch.Tensor:
        """The image with these factors, drawn like this dataset's images."""
        return render(structure_seed, texture_seed, self.resolution, self.supersample, self.patterns,
                      self.shape_labels, self.palette)

    def labels(self, structure_seed: int) -> torch.Tensor:
        """Texture-slot label map ``[R, R]`` of a layout (at the image resolution)."""
        return structure_labels(structure_seed, self.resolution, self.shape_labels)
