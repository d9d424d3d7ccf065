"""Image I/O on pillow: any mode to RGB, a fixed resize/crop policy, tensors in [-1, 1].

Policy (documented in docs/concepts.md):

* Modes: palette and grey images are expanded to RGB; 16-bit and float images (``I;16``, ``I``,
  ``F``) are rescaled from their full range to 8 bit; CMYK and YCbCr are converted by pillow;
  transparency (``RGBA``, ``LA``, ``P`` with a transparent index) is composited over white.
* Orientation: an EXIF ``Orientation`` tag (phone photos) is applied first
  (``ImageOps.exif_transpose``), so the image is used the way viewers show it.
* Values: a float image with NaN or inf pixels is refused (:class:`ImageReadError`), never
  clipped into a silently black target.
* Size: ``center_crop`` (default) scales the shorter side to the target resolution (Lanczos) and
  crops the centre square; ``resize`` scales both sides to the square (aspect not kept); ``pad``
  scales the longer side and pads with white.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterable, Literal, Sequence

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from ganedit.errors import GanEditError
from ganedit.io.atomic import atomic_path

ImageFile.LOAD_TRUNCATED_IMAGES = False

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
ResizePolicy = Literal["center_crop", "resize", "pad"]


class ImageReadError(GanEditError, ValueError):
    """An unreadable, truncated or unsupported image file."""


def _to_rgb(img: Image.Image, source: str | os.PathLike = "image") -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        arr = np.asarray(img).astype(np.float64)
        bad = int((~np.isfinite(arr)).sum())
        if bad:
            raise ImageReadError(f"{source}: {bad} of {arr.size} pixels are NaN or inf (a float image); "
                                 f"refused rather than used as a black target")
        if mode.startswith("I;16"):
            hi = 65535.0
        elif mode == "I":
            hi = 65535.0 if arr.max(initial=0) <= 65535 else float(arr.max())
        else:  # float images: assume [0, 1] when they fit, else their own max
            hi = 1.0 if arr.max(initial=0) <= 1.0 else float(arr.max())
        arr = np.clip(arr / max(hi, 1e-12), 0.0, 1.0) * 255.0
        img = Image.fromarray(np.round(arr).astype(np.uint8), mode="L")
        mode = "L"
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode != "RGB":
        img = img.convert("RGB")
    return img


def _upright(img: Image.Image) -> Image.Image:
    """``img`` turned the way its EXIF orientation tag says (unchanged without a tag)."""
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a malformed EXIF block must not make the pixels unreadable
        return img
    if orientation in (None, 1):
        return img
    return ImageOps.exif_transpose(img)


def open_rgb(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode ``path`` as an RGB pillow image; one-line error on failure."""
    p = Path(path)
    if not p.is_file():
        raise ImageReadError(f"{p}: image file not found")
    try:
        with Image.open(p) as img:
            img.load()
            return _to_rgb(_upright(img), p)
    except UnidentifiedImageError:
        raise ImageReadError(f"{p}: not an image file pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"{p}: cannot read image (truncated or corrupt): {exc}") from None


def fit(img: Image.Image, resolution: int, policy: ResizePolicy = "center_crop") -> Image.Image:
    """Bring ``img`` to ``resolution x resolution`` with the documented policy."""
    w, h = img.size
    if (w, h) == (resolution, resolution):
        return img
    lanczos = Image.Resampling.LANCZOS
    if policy == "resize":
        return img.resize((resolution, resolution), lanczos)
    if policy == "pad":
        s = resolution / max(w, h)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        canvas = Image.new("RGB", (resolution, resolution), (255, 255, 255))
        canvas.paste(img.resize((nw, nh), lanczos), ((resolution - nw) // 2, (resolution - nh) // 2))
        return canvas
    s = resolution / min(w, h)
    nw, nh = max(resolution, math.ceil(w * s - 1e-6)), max(resolution, math.ceil(h * s - 1e-6))
    img = img.resize((nw, nh), lanczos)
    left, top = (nw - resolution) // 2, (nh - resolution) // 2
    return img.crop((left, top, left + resolution, top + resolution))


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    arr = np.asarray(img, dtype=np.uint8)
    t = torch.from_numpy(arr.copy()).permute(2, 0, 1).float()
    return t / 127.5 - 1.0


def tensor_to_pil(t: torch.Tensor) -> Image.Image:
    """``[3, H, W]`` (or ``[1, 3, H, W]``) in [-1, 1] to an 8-bit RGB image (values clamped)."""
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"expected one image, got a batch of {t.shape[0]}")
        t = t[0]
    if t.ndim != 3 or t.shape[0] not in (1, 3):
        raise ValueError(f"expected an image tensor [3, H, W], got shape {tuple(t.shape)}")
    t = t.detach().float().cpu()
    if t.shape[0] == 1:
        t = t.repeat(3, 1, 1)
    arr = ((t.clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(arr, mode="RGB")


def load_image(path: str | os.PathLike, resolution: int | None = None,
               policy: ResizePolicy = "center_crop") -> torch.Tensor:
    """Image file -> float tensor ``[3, H, W]`` in [-1, 1] (square ``resolution`` when given)."""
    img = open_rgb(path)
    if resolution is not None:
        img = fit(img, resolution, policy)
    return pil_to_tensor(img)


def save_image(path: str | os.PathLike, image: torch.Tensor) -> Path:
    """Write ``image`` (``[3, H, W]`` in [-1, 1]) as PNG atomically."""
    p = Path(path)
    pil = tensor_to_pil(image)
    with atomic_path(p, suffix=".png") as tmp:
        pil.save(tmp, format="PNG")
    return p


def make_grid(images: torch.Tensor | Sequence[torch.Tensor], nrow: int = 8, padding: int = 2,
              pad_value: float = 1.0) -> torch.Tensor:
    """Tile ``[N, 3, H, W]`` images into one ``[3, H', W']`` image, ``nrow`` images per row."""
    if not isinstance(images, torch.Tensor):
        images = torch.stack([im[0] if im.ndim == 4 else im for im in images])
    n, c, h, w = images.shape
    ncol = max(1, min(nrow, n))
    nrows = math.ceil(n / ncol)
    grid = images.new_full((c, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value)
    for i in range(n):
        r, col = divmod(i, ncol)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, y:y + h, x:x + w] = images[i]
    return grid


def list_images(source: str | os.PathLike | Iterable[str | os.PathLike], recursive: bool = True) -> list[Path]:
    """Expand a file, a folder, a glob pattern, or a list of those into sorted image paths.

    A path that exists is taken literally (``a[1].png`` is that file, not a pattern); only a path
    that does not exist and contains ``*``, ``?`` or ``[`` is a glob pattern.
    """
    if isinstance(source, (str, os.PathLike)):
        sources = [source]
    else:
        sources = list(source)
    out: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            it = p.rglob("*") if recursive else p.glob("*")
            out.extend(sorted(q for q in it if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS))
        elif p.exists():
            out.append(p)
        elif any(ch in str(s) for ch in "*?["):
            base = Path(str(s)).anchor or "."
            pattern = str(s)[len(base):] if Path(str(s)).is_absolute() else str(s)
            out.extend(sorted(q for q in Path(base).glob(pattern) if q.is_file()))
        else:
            out.append(p)
    return out
