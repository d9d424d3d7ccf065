"""Checking uploaded files before anything else reads them: size in bytes, an image pillow can
decode completely, and a pixel count under the limit (checked from the header, before decoding, so
a small file that expands into a huge image is refused without allocating it)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from ganedit.io.images import ImageReadError, open_rgb


class UploadError(ValueError):
    """An upload that is refused; ``str()`` is the message shown in the page."""


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may be: at most ``max_bytes`` on disk and ``max_pixels`` (width x height)."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 4096 * 4096

    def describe(self) -> str:
        return f"at most {self.max_bytes / 2**20:g} MiB and {self.max_pixels:,} pixels"


def check_upload(path: str | os.PathLike, limits: UploadLimits, name: str | None = None) -> Image.Image:
    """The uploaded file decoded as an RGB pillow image, or :class:`UploadError` saying why not."""
    p = Path(path)
    shown = name or p.name
    try:
        size = p.stat().st_size
    except OSError:
        raise UploadError(f"{shown}: the upload was not received") from None
    if size > limits.max_bytes:
        raise UploadError(f"{shown}: {size / 2**20:.1f} MiB is larger than the limit ({limits.describe()})")
    if size == 0:
        raise UploadError(f"{shown}: the file is empty")
    try:
        with Image.open(p) as img:  # reads the header only
            width, height = img.size
    except UnidentifiedImageError:
        raise UploadError(f"{shown}: not an image (PNG, JPEG, WebP, BMP, GIF or TIFF expected)") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise UploadError(f"{shown}: cannot read the image header: {exc}") from None
    if width * height > limits.max_pixels:
        raise UploadError(f"{shown}: {width}x{height} pixels is larger than the limit ({limits.describe()})")
    try:
        return open_rgb(p)
    except (ImageReadError, Image.DecompressionBombError) as exc:
        reason = str(exc).split(": ", 1)[-1]
        raise UploadError(f"{shown}: {reason}") from None
