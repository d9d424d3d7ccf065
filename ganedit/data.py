"""Datasets: an image folder and a procedural dataset with known structure and texture factors.

The procedural dataset needs no download. Each image is a *layout* (structure: a label map of up
to five regions — a horizon splitting the background, and up to three shapes) painted with a
*texture set* (per region: two colours and a pattern — flat, stripes, checks, dots, waves or
gradient — with its own frequency and orientation). Structure and texture come from independent
seeds, so ``render(structure_seed, texture_seed)`` with A's structure and B's texture is the ground
truth of a swap.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Literal, NamedTuple, Sequence, get_args

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


@functools.lru_cache(maxsize=8)
def _grid(n_h: int, n_w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ys, xs)``: the pixel coordinates in [0, 1] as a column ``[H, 1]`` and a row ``[1, W]``
    (read-only: shared between calls). Everything drawn is a sum of a function of ``x`` and one of
    ``y`` before its first non-linear step, so the products are computed on the row and the column
    and only the sums on the full grid: the same values at every pixel as on a meshgrid."""
    return torch.linspace(0, 1, n_h).view(n_h, 1), torch.linspace(0, 1, n_w).view(1, n_w)


#: random draws of one layout: horizon (4), number of shapes (1), then 6 per shape (up to 3)
_LAYOUT_DRAWS = 5 + 6 * 3


def structure_labels(structure_seed: int, resolution: int, shape_labels: ShapeLabels = "order") -> torch.Tensor:
    """Label map ``[H, W]`` (int64, values 0..4) of one layout.

    Labels 0/1 are the background above/below the horizon. ``shape_labels`` says which texture slot
    a shape gets: ``"order"``, 2 + its drawing order (invisible in the image, so when a layout has
    several shapes, which texture of another image belongs to which shape cannot be seen);
    ``"kind"``, 2 + its kind (ellipse, rectangle, triangle), a visible class like "tree" or "house",
    which makes the ground truth of a swap well defined. Both draw the same shapes."""
    return structure_labels_batch([structure_seed], resolution, shape_labels)[0]


def structure_labels_batch(structure_seeds: Sequence[int], resolution: int,
                           shape_labels: ShapeLabels = "order") -> torch.Tensor:
    """Label maps ``[B, H, W]`` of several layouts, each equal to :func:`structure_labels`'s.

    One image's draws come from its own generator, so they do not depend on the batch; the pixel
    arithmetic runs on the whole batch at once (shapes grouped by kind) with the same float32
    operations, in the same order, as one image at a time, so every label is the same."""
    check_shape_labels(shape_labels)
    # All of a layout's draws at once: a CPU generator gives the same numbers as one draw at a
    # time, and draws past the last shape are never used.
    d = torch.stack([torch.rand(_LAYOUT_DRAWS, generator=_rng(s * 2 + 1)) for s in structure_seeds])
    col = lambda t, j: t[:, j].view(-1, 1, 1)  # noqa: E731
    n = resolution
    ys, xs = _grid(n, n)
    # Background: two regions split by a tilted, slightly wavy horizon.
    h0, tilt, amp, freq = 0.35 + 0.3 * col(d, 0), (col(d, 1) - 0.5) * 0.6, 0.05 * col(d, 2), 1 + 3 * col(d, 3)
    horizon = h0 + tilt * (xs - 0.5) + amp * torch.sin(2 * math.pi * freq * xs)  # [B, 1, W]
    labels = (ys > horizon).long()
    draws = d.tolist()
    n_shapes = [1 + int(row[4] * 3) for row in draws]  # 1..3 shapes
    for i in range(max(n_shapes)):
        o = 5 + 6 * i
        kinds = [int(row[o] * 3) if n_shapes[b] > i else -1 for b, row in enumerate(draws)]
        for kind in range(3):  # ellipse, rectangle, triangle
            rows = [b for b, k in enumerate(kinds) if k == kind]
            if not rows:
                continue
            idx = torch.tensor(rows)
            p = d[idx, o + 1:o + 6]
            cx, cy = 0.2 + 0.6 * col(p, 0), 0.2 + 0.6 * col(p, 1)
            sx, sy = 0.08 + 0.17 * col(p, 2), 0.08 + 0.17 * col(p, 3)
            ang = col(p, 4) * math.pi
            dx, dy = xs - cx, ys - cy  # [m, 1, W], [m, H, 1]
            u = dx * torch.cos(ang) + dy * torch.sin(ang)
            v = -dx * torch.sin(ang) + dy * torch.cos(ang)
            if kind == 0:
                mask = (u / sx) ** 2 + (v / sy) ** 2 <= 1
            elif kind == 1:
                mask = (u.abs() <= sx) & (v.abs() <= sy)
            else:
                mask = (v >= -sy) & (v <= sy) & (u.abs() <= sx * (sy - v) / (2 * sy))
            value = 2 + (kind if shape_labels == "kind" else i)
            labels[idx] = torch.where(mask, value, labels[idx])
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


class Textures(NamedTuple):
    """Texture sets of ``B`` images, region ``k`` of image ``b`` at ``[b, k]``: colours ``c1``,
    ``c2`` ``[B, 5, 3]``; ``pattern`` (index into :data:`PATTERNS`, a nested list ``[B][5]``);
    ``freq``, ``angle``, ``phase`` ``[B, 5]``; ``shared_field``: whether every region of an image
    has the same pattern field (the ``shared`` and ``global`` palettes)."""

    c1: torch.Tensor
    c2: torch.Tensor
    pattern: list[list[int]]
    freq: torch.Tensor
    angle: torch.Tensor
    phase: torch.Tensor
    shared_field: bool


def _draw(seeds: Sequence[int], n: int) -> torch.Tensor:
    """``[B, n]``: the first ``n`` uniform draws of each texture seed's generator (a CPU generator
    gives the same numbers in one draw as one at a time)."""
    return torch.stack([torch.rand(n, generator=_rng(t * 2 + 2)) for t in seeds])


def _pattern_index(draws: torch.Tensor, patterns: tuple[str, ...]) -> list[list[int]]:
    return [[PATTERNS.index(patterns[int(x * len(patterns))]) for x in row] for row in draws.tolist()]


def _global_textures(seeds: Sequence[int], patterns: tuple[str, ...]) -> Textures:
    """One texture for the whole image: a hue, saturation and value taken by every slot through
    :data:`GLOBAL_SCHEME` with small per-region shifts (hue +-0.02, saturation +-0.05, value
    +-0.04), and one pattern field (family, frequency, orientation, phase, depth) across the
    image, darkening each region's colour by up to ``depth``."""
    r = _draw(seeds, 8 + 3 * len(GLOBAL_SCHEME))  # in drawing order: 8 image draws, then 3 per slot
    hue, sat, val = r[:, 0], 0.45 + 0.45 * r[:, 1], 0.6 + 0.4 * r[:, 2]
    freq, angle, phase = 1.5 + 2.5 * r[:, 4], r[:, 5] * math.pi, r[:, 6] * 2 * math.pi
    depth = 0.15 + 0.2 * r[:, 7]
    c1, c2 = [], []
    for k, (dh, ms, mv) in enumerate(GLOBAL_SCHEME):
        o = 8 + 3 * k
        h = (hue + dh + 0.04 * (r[:, o] - 0.5)) % 1.0
        s = (sat * ms + 0.1 * (r[:, o + 1] - 0.5)).clamp(0, 1)
        v = (val * mv + 0.08 * (r[:, o + 2] - 0.5)).clamp(0, 1)
        c1.append(_hsv_to_rgb(h, s, v))
        c2.append(_hsv_to_rgb(h, s, v * (1 - depth)))
    per_region = lambda x: x[:, None].expand(-1, MAX_REGIONS)  # noqa: E731
    return Textures(torch.stack(c1, 1), torch.stack(c2, 1),
                    [row * MAX_REGIONS for row in _pattern_index(r[:, 3:4], patterns)],
                    per_region(freq), per_region(angle), per_region(phase), True)


def texture_params_batch(texture_seeds: Sequence[int], patterns: Sequence[str] = PATTERNS,
                         palette: Palette = "per_region") -> Textures:
    """The texture sets of several seeds (see :func:`texture_params`), each region's numbers equal
    to ``texture_params(seed)``'s: the per-region arithmetic runs on ``[B, 5]`` tensors with the
    same float32 operations, in the same order, as one image (and one region) at a time."""
    patterns = check_patterns(patterns)
    check_palette(palette)
    if palette == "global":
        return _global_textures(texture_seeds, patterns)
    if palette == "shared":
        r = _draw(texture_seeds, 10)
        hue, sat, val = r[:, 0:1], 0.45 + 0.5 * r[:, 1:2], 0.55 + 0.45 * r[:, 2:3]
        shift, sat2, val2 = 0.35 + 0.3 * r[:, 3:4], 0.3 + 0.6 * r[:, 4:5], 0.15 + 0.5 * r[:, 5:6]
        turns = torch.tensor([k / MAX_REGIONS for k in range(MAX_REGIONS)])
        shape = (-1, MAX_REGIONS)
        c1 = _hsv_to_rgb((hue + turns) % 1.0, sat.expand(shape), val.expand(shape))
        c2 = _hsv_to_rgb((hue + turns + shift) % 1.0, sat2.expand(shape), val2.expand(shape))
        return Textures(c1, c2, [row * MAX_REGIONS for row in _pattern_index(r[:, 6:7], patterns)],
                        (2 + 5 * r[:, 7:8]).expand(shape), (r[:, 8:9] * math.pi).expand(shape),
                        (r[:, 9:10] * 2 * math.pi).expand(shape), True)
    r = _draw(texture_seeds, 1 + 10 * MAX_REGIONS)
    base_hue, d = r[:, 0:1], r[:, 1:].view(-1, MAX_REGIONS, 10)  # per region: hue, c1 (2), c2 (3), 4 pattern draws
    quarter = torch.tensor([0.25 * k for k in range(MAX_REGIONS)])
    hue = (base_hue + quarter + 0.15 * (d[..., 0] - 0.5)) % 1.0
    c1 = _hsv_to_rgb(hue, 0.45 + 0.5 * d[..., 1], 0.55 + 0.45 * d[..., 2])
    c2 = _hsv_to_rgb((hue + 0.35 + 0.3 * d[..., 3]) % 1.0, 0.3 + 0.6 * d[..., 4], 0.15 + 0.5 * d[..., 5])
    return Textures(c1, c2, _pattern_index(d[..., 6], patterns), 2 + 5 * d[..., 7], d[..., 8] * math.pi,
                    d[..., 9] * 2 * math.pi, False)


def texture_params(texture_seed: int, patterns: Sequence[str] = PATTERNS,
                   palette: Palette = "per_region") -> list[dict[str, torch.Tensor | int]]:
    """Per-region texture descriptions (colours, pattern, frequency, orientation).

    ``patterns`` restricts the pattern family (an easier dataset); the other draws are made either
    way, so a texture seed keeps its colours whatever the family.

    ``palette``: ``"per_region"``, each region draws its own saturation, value, second colour and
    pattern (only the hues are tied, a quarter turn apart), so one region says little about
    another's texture; ``"shared"``, one draw for the whole image (hue, saturation, value, second
    colour, pattern, frequency, orientation), region ``k`` taking it with its hue turned by
    ``k / 5``; ``"global"``, one texture for the whole image (:func:`_global_textures`): related
    colours with small per-region shifts and one pattern field across the image, so that any
    crop tells the image's texture and the layout shows in every texture."""
    t = texture_params_batch([texture_seed], patterns, palette)
    return [{"c1": t.c1[0, k], "c2": t.c2[0, k], "pattern": t.pattern[0][k], "freq": t.freq[0, k:k + 1],
             "angle": t.angle[0, k:k + 1], "phase": t.phase[0, k:k + 1]} for k in range(MAX_REGIONS)]


def _patterns(name: str, ang: torch.Tensor, f: torch.Tensor, ph: torch.Tensor, xs: torch.Tensor,
              ys: torch.Tensor) -> torch.Tensor:
    """Blend weights in [0, 1] between two colours, ``[M, H, W]``, of ``M`` fields of pattern
    ``name`` (``ang``, ``f``, ``ph``: ``[M, 1, 1]`` orientation, frequency and phase)."""
    u = xs * torch.cos(ang) + ys * torch.sin(ang)
    if name == "gradient":
        lo, hi = u.amin((1, 2), keepdim=True), u.amax((1, 2), keepdim=True)
        return (u - lo) / (hi - lo + 1e-8)
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
    return paint_batch(labels[None], [texture_seed], supersample, patterns, palette)[0]


def paint_batch(labels: torch.Tensor, texture_seeds: Sequence[int], supersample: int = 1,
                patterns: Sequence[str] = PATTERNS, palette: Palette = "per_region") -> torch.Tensor:
    """Paint label maps ``[B, H, W]``, image ``b`` with texture set ``texture_seeds[b]``; returns
    ``[B, 3, H/s, W/s]`` in [-1, 1], each image equal to :func:`paint`'s.

    A pixel of region ``k`` takes ``c1 (1 - t) + c2 t`` with ``t`` the region's pattern field at
    that pixel (0 where flat, which gives ``c1`` exactly: the colours are >= 0). The fields are
    computed once per image and region present (once per image with the ``shared`` and ``global``
    palettes, whose regions share one), batched by pattern, and each pixel gathers its own."""
    n_b, n_h, n_w = labels.shape
    ys, xs = _grid(n_h, n_w)
    tex = texture_params_batch(texture_seeds, patterns, palette)
    # key = image * 5 + region of every pixel: indexes per-(image, region) tables
    key = labels.reshape(n_b, n_h * n_w) + MAX_REGIONS * torch.arange(n_b)[:, None]
    present = (torch.bincount(key.view(-1), minlength=n_b * MAX_REGIONS) > 0).view(n_b, MAX_REGIONS).tolist()
    by_pattern: dict[int, list[tuple[int, int]]] = {}  # pattern -> its fields (image, region)
    field_of: dict[tuple[int, int], tuple[int, int]] = {}  # (image, region) -> (pattern, i)
    for b in range(n_b):
        for k in range(MAX_REGIONS):
            pat = tex.pattern[b][k]
            if PATTERNS[pat] == "flat" or not present[b][k]:
                continue
            field = (b, 0) if tex.shared_field else (b, k)
            if field not in field_of:
                group = by_pattern.setdefault(pat, [])
                field_of[field] = (pat, len(group))
                group.append(field)
            field_of[(b, k)] = field_of[field]
    offset, n_fields = {}, 0
    for pat, group in by_pattern.items():
        offset[pat], n_fields = n_fields, n_fields + len(group)
    t_all = torch.zeros(n_fields + 1, n_h * n_w)  # the last row: t = 0 (flat or absent regions)
    for pat, group in by_pattern.items():
        idx = tuple(torch.tensor(group).T)
        col = lambda x: x[idx].view(-1, 1, 1)  # noqa: E731
        t_all[offset[pat]:offset[pat] + len(group)] = _patterns(
            PATTERNS[pat], col(tex.angle), col(tex.freq), col(tex.phase), xs, ys).view(len(group), -1)
    row = torch.tensor([[offset[f[0]] + f[1] if (f := field_of.get((b, k))) else n_fields
                         for k in range(MAX_REGIONS)] for b in range(n_b)])
    # Per pixel: its region's field value and colours (one table lookup), then the blend.
    if tex.shared_field:  # one field per image
        t = t_all[row.amin(1)]
    else:
        t = t_all.view(-1).take(row.take(key) * (n_h * n_w) + torch.arange(n_h * n_w))
    colours = F.embedding(key, torch.cat([tex.c1, tex.c2], 2).view(n_b * MAX_REGIONS, 6))
    t = t[..., None]
    img = colours[..., :3] * (1 - t)
    img += colours[..., 3:] * t
    img = img.mul_(2).sub_(1).view(n_b, n_h, n_w, 3).permute(0, 3, 1, 2)  # channels-last [B, 3, H, W]
    if supersample > 1:
        img = F.avg_pool2d(img, supersample)
    return img.contiguous()


def render(structure_seed: int, texture_seed: int, resolution: int, supersample: int = 2,
           patterns: Sequence[str] = PATTERNS, shape_labels: ShapeLabels = "order",
           palette: Palette = "per_region") -> torch.Tensor:
    """One procedural image ``[3, R, R]`` in [-1, 1] from independent structure/texture seeds.

    ``patterns`` and ``palette``: see :func:`texture_params` (default: all of :data:`PATTERNS`,
    per-region palettes); ``shape_labels``: see :func:`structure_labels`."""
    return render_batch([structure_seed], [texture_seed], resolution, supersample, patterns, shape_labels,
                        palette)[0]


#: pixels (at the supersampled size) drawn at once by :func:`render_batch`: bounds its memory
#: (a few float32 copies of a ``[B, 3, H, W]`` batch) while a training batch at 32-64 px is one go.
RENDER_CHUNK_PIXELS = 1 << 20


def render_batch(structure_seeds: Sequence[int], texture_seeds: Sequence[int], resolution: int,
                 supersample: int = 2, patterns: Sequence[str] = PATTERNS, shape_labels: ShapeLabels = "order",
                 palette: Palette = "per_region") -> torch.Tensor:
    """Images ``[B, 3, R, R]``, image ``b`` equal to ``render(structure_seeds[b], texture_seeds[b], ...)``
    bit for bit, drawn a batch at a time (a few large tensor operations instead of about a hundred
    small ones per image)."""
    if len(structure_seeds) != len(texture_seeds):
        raise ValueError(f"{len(structure_seeds)} structure seeds but {len(texture_seeds)} texture seeds")
    patterns = check_patterns(patterns)
    check_palette(palette)
    if not structure_seeds:
        return torch.zeros(0, 3, resolution, resolution)
    n = resolution * supersample
    chunk = max(1, RENDER_CHUNK_PIXELS // (n * n))
    out = []
    for i in range(0, len(structure_seeds), chunk):
        labels = structure_labels_batch(structure_seeds[i:i + chunk], n, shape_labels)
        out.append(paint_batch(labels, texture_seeds[i:i + chunk], supersample, patterns, palette))
    return torch.cat(out) if len(out) != 1 else out[0]


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

    def __getitems__(self, indices: Sequence[int]) -> list[torch.Tensor]:
        """Several images, drawn as one batch (:func:`render_batch`; the same pixels as one at a
        time). The training stream and DataLoader workers fetch whole batches through this."""
        for index in indices:
            if not 0 <= index < self.length:
                raise IndexError(index)
        seeds = [self.factors(i) for i in indices]
        return list(render_batch([s for s, _ in seeds], [t for _, t in seeds], self.resolution, self.supersample,
                                 self.patterns, self.shape_labels, self.palette).unbind(0))

    def render(self, structure_seed: int, texture_seed: int) -> torch.Tensor:
        """The image with these factors, drawn like this dataset's images."""
        return render(structure_seed, texture_seed, self.resolution, self.supersample, self.patterns,
                      self.shape_labels, self.palette)

    def labels(self, structure_seed: int) -> torch.Tensor:
        """Texture-slot label map ``[R, R]`` of a layout (at the image resolution)."""
        return structure_labels(structure_seed, self.resolution, self.shape_labels)
