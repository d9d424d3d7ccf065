"""The registered encoders ``e4e``, ``psp`` and ``restyle``: official checkpoints, official forward passes.

Input policy (the official ``transform_inference``): images ``[B, 3, H, W]`` in ``[-1, 1]`` are
resized to 256x256 (bilinear with antialiasing, which is what torchvision's ``Resize`` does to the
PIL images the official scripts feed; a no-op at 256), then encoded. The official normalisation
``Normalize([0.5]*3, [0.5]*3)`` of ``ToTensor`` output is exactly ganedit's ``[-1, 1]`` image range.
Faces should be aligned as FFHQ is (the official scripts use dlib); ganedit does not align.

Output: a W+ latent ``[B, n_styles, S]`` = encoder output + ``latent_avg`` (per style; pSp/e4e only
when the checkpoint's ``start_from_latent_avg`` is set, as in every released model). W encoders
(one code per image) are broadcast to every style.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

import ganedit
from ganedit.latent import Latent

from ganedit_encoders.checkpoint import FAMILY_NAMES, EncoderCheckpoint, load_encoder_checkpoint

#: Side of the official encoders' input (their transforms resize to it; map2style pools 16/32/64 -> 1).
INPUT_SIZE = 256

#: Where the released checkpoints are listed (README section "Pretrained Models").
DOWNLOADS = {
    "e4e": "https://github.com/omertov/encoder4editing#pretrained-models (FFHQ: e4e_ffhq_encode.pt)",
    "psp": "https://github.com/eladrich/pixel2style2pixel#pretrained-models (FFHQ inversion: psp_ffhq_encode.pt)",
    "restyle": "https://github.com/yuval-alaluf/restyle-encoder#pretrained-models (FFHQ: "
               "restyle_psp_ffhq_encode.pt or restyle_e4e_ffhq_encode.pt)",
}


def encoder_input(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """Images ``[B, 3, H, W]`` in ``[-1, 1]`` at the encoders' ``size`` x ``size`` (see module docs)."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"encoder input must be images [B, 3, H, W], got shape {tuple(images.shape)}")
    if tuple(images.shape[-2:]) == (size, size):
        return images
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def face_pool(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """The official ``AdaptiveAvgPool2d((256, 256))`` applied to decoder outputs (ReStyle's feedback)."""
    return F.adaptive_avg_pool2d(images, (size, size))


class OfficialEncoderParams(ganedit.Params):
    checkpoint: Path = Field(description="the official training checkpoint (.pt: state_dict with encoder.* "
                                         "and decoder.*, opts, latent_avg)")


class StyleEncoder(ganedit.Encoder):
    """Base of the official encoders: one network pass plus ``latent_avg``."""

    family: ClassVar[str] = ""
    needs_decoder: ClassVar[bool] = False
    Params = OfficialEncoderParams

    def __init__(self, ckpt: EncoderCheckpoint):
        super().__init__()
        self.net = ckpt.encoder.eval()
        self.n_styles = ckpt.n_styles
        self.w_dim = ckpt.style_dim
        self.encoder_type = ckpt.encoder_type
        self.metadata = dict(ckpt.metadata)
        self.source = f"{ckpt.family}:{ckpt.path.name}[{ckpt.encoder_type}]"
        avg = ckpt.latent_avg if ckpt.start_from_latent_avg and ckpt.latent_avg is not None else None
        self.register_buffer("latent_avg", avg if avg is not None else torch.zeros(1, self.w_dim))
        self.adds_latent_avg = avg is not None

    @classmethod
    def check_params(cls, params: OfficialEncoderParams) -> list[str]:
        path = params.checkpoint
        if not path.is_file():
            return [f"checkpoint: file not found: {str(path)!r}. Download the official {FAMILY_NAMES[cls.family]} "
                    f"checkpoint from {DOWNLOADS[cls.family]} and put it at {str(path)!r}"]
        return []

    @classmethod
    def from_params(cls, params: OfficialEncoderParams, context: Any = None) -> "StyleEncoder":
        return cls(load_encoder_checkpoint(params.checkpoint, cls.family, with_decoder=cls.needs_decoder))

    @classmethod
    def output_space(cls, params: Any = None) -> str:
        return "w+"

    def codes(self, x: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
        """W+ codes ``[B, n_styles, S]`` of encoder input ``x`` (already at 256): the network output
        plus ``previous`` when given (ReStyle's later iterations), else plus ``latent_avg``."""
        raw = self.net(x)
        avg = self.latent_avg
        if raw.ndim == 2:  # W encoders: one code per image, on every style, plus the first average row
            raw, avg = raw[:, None].expand(-1, self.n_styles, -1), avg[:1]
        if previous is not None:
            return raw + previous
        return raw + avg[None] if self.adds_latent_avg else raw

    def encode(self, images: torch.Tensor) -> Latent:
        return Latent.wplus(self.codes(encoder_input(images)))

    def extra_repr(self) -> str:
        return f"n_styles={self.n_styles}, w_dim={self.w_dim}, source={self.source!r}"


class E4EEncoder(StyleEncoder, name="e4e"):
    """encoder4editing (Tov et al., SIGGRAPH 2021): ``Encoder4Editing`` from an official e4e
    checkpoint; W+ codes that stay close to W (``w0`` plus per-style deltas)."""

    family = "e4e"


class PSPEncoder(StyleEncoder, name="psp"):
    """pixel2style2pixel (Richardson et al., CVPR 2021): ``GradualStyleEncoder`` (or the W / W+
    backbone encoders) from an official pSp checkpoint."""

    family = "psp"


class ReStyleEncoder(StyleEncoder, name="restyle"):
    """ReStyle (Alaluf et al., ICCV 2021): iterative refinement over a pSp or e4e backbone.

    Iteration 0 encodes ``cat(x, avg_image)`` and adds ``latent_avg``; iteration ``k`` encodes
    ``cat(x, face_pool(y_{k-1}))`` and adds the previous latent, where ``y`` are images of the
    checkpoint's own decoder (stored noise, as the official inference) and ``avg_image`` is the
    decoder's image of ``latent_avg``, pooled to 256.
    """

    family = "restyle"
    needs_decoder = True

    class Params(OfficialEncoderParams):
        iterations: int | None = Field(None, ge=1, le=100, description="refinement steps (None = the "
                                       "checkpoint's opts.n_iters_per_batch, the number it was trained with; "
                                       "5 when absent, the official inference default)")

    def __init__(self, ckpt: EncoderCheckpoint, iterations: int | None = None):
        super().__init__(ckpt)
        self.decoder = ckpt.decoder.eval()
        self.iterations = int(iterations or ckpt.iterations or 5)
        with torch.no_grad():
            ws = ckpt.latent_avg.expand(self.n_styles, -1)[None]
            avg = face_pool(self.decoder.synthesis(ws, noise_mode="const"))[0]
        self.register_buffer("avg_image", avg, persistent=False)

    @classmethod
    def from_params(cls, params: "ReStyleEncoder.Params", context: Any = None) -> "ReStyleEncoder":
        return cls(load_encoder_checkpoint(params.checkpoint, cls.family, with_decoder=True), params.iterations)

    def refine(self, images: torch.Tensor, iterations: int | None = None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(ws [B, n, S], decoder image [B, 3, R, R])`` after each iteration."""
        x = encoder_input(images)
        feedback = self.avg_image[None].expand(x.shape[0], -1, -1, -1)
        latent = None
        steps = []
        for _ in range(iterations or self.iterations):
            latent = self.codes(torch.cat([x, feedback], 1), latent)
            image = self.decoder.synthesis(latent, noise_mode="const")
            steps.append((latent, image))
            feedback = face_pool(image)
        return steps

    def encode(self, images: torch.Tensor) -> Latent:
        return Latent.wplus(self.refine(images)[-1][0])

    def extra_repr(self) -> str:
        return super().extra_repr() + f", iterations={self.iterations}"
