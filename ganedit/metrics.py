"""Image-quality metrics on ``[B, 3, H, W]`` tensors in [-1, 1]: PSNR, SSIM (kornia), LPIPS (lpips)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ganedit.errors import GanEditError

#: LPIPS backbones and the torchvision weight files they need in the torch hub cache.
LPIPS_BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}


class MetricUnavailable(GanEditError, RuntimeError):
    """A metric whose package or pretrained weights are not available on this machine."""


def _check(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.shape != b.shape:
        raise ValueError(f"metric inputs differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.ndim != 4:
        raise ValueError(f"metric inputs must be [B, C, H, W], got {tuple(a.shape)}")


def mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared error ``[B]``."""
    _check(a, b)
    return (a.float() - b.float()).pow(2).flatten(1).mean(1)


def mae(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image mean absolute error ``[B]``."""
    _check(a, b)
    return (a.float() - b.float()).abs().flatten(1).mean(1)


def psnr(a: torch.Tensor, b: torch.Tensor, data_range: float = 2.0) -> torch.Tensor:
    """Per-image PSNR in dB ``[B]``; ``data_range`` is 2 for images in [-1, 1]."""
    err = mse(a, b)
    return 10.0 * torch.log10(torch.as_tensor(data_range**2, dtype=err.dtype) / err.clamp_min(1e-20))


def ssim(a: torch.Tensor, b: torch.Tensor, window_size: int = 11) -> torch.Tensor:
    """Per-image SSIM ``[B]`` (Gaussian window, sigma 1.5, kornia), computed on [0, 1] images."""
    import kornia

    _check(a, b)
    # float64: the variance terms E[x^2] - E[x]^2 lose ~1e-4 of SSIM to float32 rounding.
    x = (a.double().clamp(-1, 1) + 1) / 2
    y = (b.double().clamp(-1, 1) + 1) / 2
    smap = kornia.metrics.ssim(x, y, window_size=window_size, max_val=1.0, padding="valid")
    return smap.flatten(1).mean(1).to(a.dtype if a.is_floating_point() else torch.float32)


def lpips_weights_path(net: str = "alex") -> Path:
    """Where the LPIPS backbone's torchvision weights must be (torch hub cache)."""
    if net not in LPIPS_BACKBONE_FILES:
        raise ValueError(f"unknown LPIPS backbone {net!r}; choose one of {sorted(LPIPS_BACKBONE_FILES)}")
    return Path(torch.hub.get_dir()) / "checkpoints" / LPIPS_BACKBONE_FILES[net]


class LPIPS(torch.nn.Module):
    """LPIPS perceptual distance (the ``lpips`` package), per image ``[B]``.

    Needs the pretrained backbone weights in the torch hub cache; on an offline machine without
    them this raises :class:`MetricUnavailable` naming the file, never falls back to random weights.
    """

    def __init__(self, net: str = "alex"):
        super().__init__()
        path = lpips_weights_path(net)
        if not path.is_file():
            raise MetricUnavailable(
                f"LPIPS ({net}) needs the pretrained backbone weights {path.name}; place the file at "
                f"{path} (TORCH_HOME={os.environ.get('TORCH_HOME', '<unset>')}) — they cannot be downloaded here")
        try:
            import lpips  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - torchvision import failures vary
            raise MetricUnavailable(f"LPIPS needs the 'lpips' package (and torchvision): {exc}") from None
        import lpips as _lpips

        self.model = _lpips.LPIPS(net=net, verbose=False)
        self.model.eval().requires_grad_(False)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        _check(a, b)
        return self.model(a, b, normalize=False).flatten(1).mean(1)
