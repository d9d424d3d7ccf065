"""Task ``tcp_train``: TCP training = the SwapAE objective + code consistency + content alignment.

Starts from a trained SwapAE (or TCP) checkpoint (``init_checkpoint``: the encoder is then already
"trained to convergence", as the paper requires before L_CC is used) or from scratch, where
``cc_start_step`` makes the first steps a plain SwapAE warm-up. Everything else (alternating D/G
steps, lazy R1, checkpoints, exact resume, TensorBoard, DDP) is the SwapAE trainer's.

Per generator step, with the SwapAE swap pairs (A = partner(i), B = i):

* ``I_g = G(C_A, S_B)`` is SwapAE's swap image ``mix[i]``;
* ``L_CC = L1(E_c(I_g), C_A) + cc_style_weight * L1(E_s(I_g), S_B)`` (targets detached);
* a mask ``M`` per pair (random rectangles / free-form strokes / content-code clusters), and
  ``I_h = G(C_A, M * S_B + (1 - M) * S_A)`` through the generator's spatial style map;
* ``L_CA = L1(I_h * M, I_g * M) + L1(I_h * (1 - M), I_A * (1 - M))`` (``I_g`` detached by default;
  ``I_A`` the real image, or its reconstruction);
* optionally a GAN loss on ``I_h`` (``lambda_gan_hybrid``).

The weights are ours (the paper's values are not available): see ``docs/tcp.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field, model_validator
from torch.func import functional_call


from ganedit_swapae.checkpoint import PARTS, SwapAEModel
from ganedit_swapae.losses import gan_loss, swap_pairs
from ganedit_swapae.train import SwapAETrainer, SwapAETrainParams, SwapAETrainTask

from ganedit_tcp.checkpoint import TCPModel, load_tcp, new_tcp_model, save_tcp
from ganedit_tcp.losses import code_consistency_loss, content_alignment_loss, default_map_size, region_style_map
from ganedit_tcp.masks import random_masks
from ganedit_tcp.head import ContentHead, TCPOptions

MaskKindName = Literal["rect", "stroke", "cluster"]


class TCPTrainParams(SwapAETrainParams):
    """Options of ``tcp_train``: the SwapAE trainer's plus TCP's losses and masks. Fine-tuning a
    trained SwapAE or TCP checkpoint (``init_checkpoint``) is recommended; from scratch, L_CC and
    L_CA wait for ``cc_start_step``."""

    model: TCPOptions = Field(default_factory=TCPOptions,
                              description="architecture (SwapAE options + content head); unset: the init "
                                          "checkpoint's or the official default; resolution: the dataset's")
    # code consistency
    lambda_cc: float = Field(1.0, ge=0, description="weight of the code consistency loss L_CC")
    cc_style_weight: float = Field(1.0, ge=0, description="lambda inside L_CC (style term vs content term)")
    cc_start_step: int = Field(0, ge=0, description="iteration from which L_CC and L_CA are on (warm-up "
                                                    "when training from scratch)")
    cc_update_encoder: bool = Field(True, description="L_CC also updates E through the re-encoding (false: "
                                                      "only G, through a frozen copy of E)")
    # content alignment
    lambda_ca: float = Field(1.0, ge=0, description="weight of the content alignment loss L_CA")
    ca_detach_stylized: bool = Field(True, description="treat I_g as a fixed target in L_CA (it trains the "
                                                       "region path, not I_g towards I_h)")
    ca_background: Literal["real", "reconstruction"] = Field(
        "real", description="background target I_A: the real image (the paper's formula) or G(C_A, S_A)")
    lambda_gan_hybrid: float = Field(0.0, ge=0, description="GAN loss on the region-edited images I_h")
    # training masks
    mask_types: list[MaskKindName] = Field(default_factory=lambda: ["rect", "stroke"], min_length=1,
                                           description="mask generators, one drawn uniformly per pair")
    mask_area: tuple[float, float] = Field((0.1, 0.6), description="covered fraction range (rect, stroke)")
    mask_feather: float = Field(0.0, ge=0, description="Gaussian edge softening, sigma as a fraction of the side")
    cluster_k: int = Field(3, ge=2, le=16, description="k-means clusters for 'cluster' masks")
    style_map_size: int | None = Field(None, ge=1, description="style-map side for I_h (default image/4, "
                                                               "as the region editors)")
    export: str = Field("tcp.safetensors", min_length=1, description="final model file (output-relative)")

    @model_validator(mode="after")
    def _area(self) -> "TCPTrainParams":
        lo, hi = self.mask_area
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"mask_area must satisfy 0 < min <= max <= 1, got {self.mask_area}")
        return self


class TCPTrainer(SwapAETrainer):
    """TCP fine-tuning / training on top of :class:`~ganedit_swapae.train.SwapAETrainer`."""

    name = "tcp"
    params: TCPTrainParams
    #: fp32 under ``precision: auto`` (SwapAE's bf16 default was measured on SwapAE's objective only)
    default_precision = "fp32"

    # ------------------------------------------------------------------ networks
    def head(self) -> ContentHead:
        return ContentHead.from_dict(self.params.model.head_given())

    def fresh_networks(self, options: dict[str, Any], parts: tuple[str, ...] = PARTS) -> SwapAEModel:
        return new_tcp_model(options, self.head(), parts=parts)

    def load_networks(self, path: Path, options: dict[str, Any]) -> SwapAEModel:
        return load_tcp(path, options, self.params.model.head_given(), parts=PARTS, require=False)

    def build(self) -> None:
        super().build()
        self.content_head = getattr(self.E, "head", ContentHead())
        self._step = 0

    # ------------------------------------------------------------------ steps
    def train_step(self, step: int, batch: Any) -> dict[str, torch.Tensor]:
        self._step = step
        return super().train_step(step, batch)

    def tcp_active(self) -> bool:
        return self._step >= self.params.cc_start_step

    def draw_masks(self, batch: int, size: tuple[int, int], content: torch.Tensor,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        p = self.params
        sigma = p.mask_feather * min(size)
        return random_masks(batch, size, p.mask_types, p.mask_area, sigma,
                            content=content if "cluster" in p.mask_types else None,
                            cluster_k=p.cluster_k, generator=generator)

    def reencode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``E(images)``; without ``cc_update_encoder`` through detached weights (gradients reach
        the images, hence G, but not E)."""
        if self.params.cc_update_encoder:
            return self.E(images)
        frozen = {n: t.detach() for n, t in self.E.named_parameters()}
        frozen.update(dict(self.E.named_buffers()))
        return functional_call(self.E, frozen, (images,))

    def generator_losses(self, real: torch.Tensor, out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        losses = super().generator_losses(real, out)
        p = self.params
        if not self.tcp_active() or (p.lambda_cc == 0 and p.lambda_ca == 0 and p.lambda_gan_hybrid == 0):
            return losses
        structure, texture, mix = out["structure"], out["texture"], out["mix"]
        content_a = swap_pairs(structure)          # C_A of pair i (A = partner(i))
        style_a, style_b = swap_pairs(texture), texture
        if p.lambda_cc > 0:
            content_g, style_g = self.reencode(mix)
            losses["G_CC"] = code_consistency_loss(content_g, style_g, content_a.detach(), style_b.detach(),
                                                   p.cc_style_weight) * p.lambda_cc
        if p.lambda_ca > 0 or p.lambda_gan_hybrid > 0:
            size = (real.shape[-2], real.shape[-1])
            mask = self.draw_masks(real.shape[0], size, content_a.detach()).to(real)
            map_size = default_map_size(size, structure.shape[-2:], p.style_map_size)
            hybrid = self.synthesize(content_a, region_style_map(style_a, style_b, mask, map_size))
            if p.lambda_ca > 0:
                stylized = mix.detach() if p.ca_detach_stylized else mix
                if p.ca_background == "real":
                    background = swap_pairs(real)
                else:
                    with torch.no_grad():
                        background = self.G(content_a, style_a, noise_mode=p.noise_mode)
                losses["G_CA"] = content_alignment_loss(hybrid, stylized, background, mask) * p.lambda_ca
            if p.lambda_gan_hybrid > 0 and self.use_d:
                losses["G_GAN_hybrid"] = gan_loss(self.D(hybrid), True) * p.lambda_gan_hybrid
        return losses

    # ------------------------------------------------------------------ outputs
    def sample_images(self) -> dict[str, torch.Tensor]:
        """The SwapAE swap grid plus a region-edit grid: rows of (content A, style B, region edit
        I_h with B's style inside a fixed mask, global stylization I_g, the mask)."""
        images = super().sample_images()
        with self.evaluating() as (enc, gen):
            real = self.grid_real
            n = real.shape[0]
            idx = torch.arange(4) % n
            content, style = real[idx], real[(idx + 1) % n]
            c_a, s_a = enc(content)
            _, s_b = enc(style)
            size = (real.shape[-2], real.shape[-1])
            mask = self.draw_masks(4, size, c_a, generator=torch.Generator().manual_seed(1234)).to(real)
            map_size = default_map_size(size, c_a.shape[-2:], self.params.style_map_size)
            hybrid = gen(c_a, region_style_map(s_a, s_b, mask, map_size), noise_mode="const")
            stylized = gen(c_a, s_b, noise_mode="const")
            rows = torch.stack([content, style, hybrid, stylized, mask.expand(-1, 3, -1, -1) * 2 - 1], 1)
        # 4 rows x 5 columns; padded to a 5 x 5 grid so that the square layout keeps rows intact.
        pad = torch.ones(5, *rows.shape[2:], device=rows.device)
        images["region_edit"] = torch.cat([rows.flatten(0, 1), pad])
        return images

    def export_model(self, path: Path) -> None:
        enc, gen = self.inference_networks()
        model = TCPModel(encoder=enc, generator=gen, options=dict(self.model_options),
                         meta={"format": "ganedit.tcp_train", "steps": self.step}, head=self.content_head)
        if self.params.export_discriminators:
            model.discriminator = self.D if self.use_d else None
            model.patch_discriminator = self.Dpatch if self.use_patch else None
        save_tcp(path, model, extra={"trainer": type(self).__name__, "steps": self.step})


class TCPTrainTask(SwapAETrainTask, name="tcp_train"):
    """Train TCP (region-wise style manipulation): SwapAE objective + code consistency + content
    alignment, fine-tuning a SwapAE checkpoint or from scratch; checkpoints, exact resume,
    TensorBoard, DDP under torchrun."""

    Params = TCPTrainParams
    trainer_class = TCPTrainer


__all__ = ["TCPTrainParams", "TCPTrainTask", "TCPTrainer"]
