"""The two MLPs of StyleALAE: the mapping F (z -> w) and the latent discriminator D (w -> logit)."""

from __future__ import annotations

import torch
from torch import nn

from ganedit.nn import PixelNorm
from ganedit_stylealae.layers import GainLinear, lrelu

#: Learning-rate multiplier of F and D in the official code (StyleGAN uses 0.01 for its mapping).
MLP_LR_MUL = 0.1


class MappingBlock(nn.Module):
    """Equalized linear layer (lr multiplier 0.1) followed by leaky ReLU 0.2."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = MLP_LR_MUL):
        super().__init__()
        self.fc = GainLinear(in_dim, out_dim, lr_mul=lr_mul)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return lrelu(self.fc(x))


class MappingF(nn.Module):
    """F: pixel norm of z, then ``num_layers`` latent->latent blocks (the last one activated too).

    Returns a single w ``[B, latent]``; the generator broadcasts it to its style inputs.
    """

    def __init__(self, latent_size: int, num_layers: int = 8, lr_mul: float = MLP_LR_MUL):
        super().__init__()
        self.latent_size = latent_size
        self.norm = PixelNorm()
        self.map_blocks = nn.ModuleList(MappingBlock(latent_size, latent_size, lr_mul) for _ in range(num_layers))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.norm(z)
        for block in self.map_blocks:
            x = block(x)
        return x


class LatentD(nn.Module):
    """D: an MLP on w, ``latent -> ... -> latent -> 2 * latent``, lr multiplier 0.1.

    Official quirks kept for weight compatibility (issues #38/#44 of podgorskiy/ALAE):

    * there are **no activations** between the layers by default, so D is an affine function of w
      (``activation='lrelu'`` inserts leaky ReLUs for new models);
    * the last layer has ``2 * latent`` outputs and only the one at index ``latent`` is the logit
      (the others are unused; originally the output was viewed as ``(2, latent)`` and element
      ``[1, 0]`` taken).
    """

    def __init__(self, latent_size: int, num_layers: int = 3, activation: str = "none",
                 lr_mul: float = MLP_LR_MUL):
        super().__init__()
        if activation not in ("none", "lrelu"):
            raise ValueError(f"activation must be 'none' or 'lrelu', got {activation!r}")
        self.latent_size = latent_size
        self.activation = activation
        dims = [latent_size] * num_layers + [2 * latent_size]
        self.map_blocks = nn.ModuleList(GainLinear(dims[j], dims[j + 1], lr_mul=lr_mul) for j in range(num_layers))

    def full_output(self, w: torch.Tensor) -> torch.Tensor:
        """All ``2 * latent`` outputs of the last layer, ``[..., 2 * latent]``."""
        x = w
        for j, layer in enumerate(self.map_blocks):
            x = layer(x)
            if self.activation == "lrelu" and j < len(self.map_blocks) - 1:
                x = lrelu(x)
        return x

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """Logits ``[B, 1]`` for w given as ``[B, latent]`` or ``[B, n, latent]`` (slot 0 is used)."""
        if w.ndim == 3:
            w = w[:, 0]
        return self.full_output(w)[:, self.latent_size:self.latent_size + 1]
