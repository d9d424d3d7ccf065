"""The three StyleALAE training losses (paper Algorithm 1, as the official ``Model.forward`` does it).

1. E and D (:func:`encoder_discriminator_loss`): ``softplus(D(E(G(F(z))))) + softplus(-D(E(x)))``
   plus the zero-centred R1 penalty on reals ``gamma/2 * ||grad_x D(E(x))||^2`` (gamma 10, every
   step; the penalty goes through E and D jointly, E being the discriminator trunk). Fakes are made
   without gradient.
2. F and G (:func:`generator_loss`): ``softplus(-D(E(G(F(z)))))``; E and D are frozen (no
   parameter gradients) but pass gradients through to G and F.
3. Latent reciprocity (:func:`reciprocity_loss`): ``mean((E(G(w)) - w.detach())^2)``, w = F(z).
   In the official code the gradient also reaches F through G's input and F sits in the decoder
   optimizer, so **F is updated in step 3 too** (``update_mapping=True``, the default); the paper
   lists only E and G (``update_mapping=False``). D gets no gradient.

Fakes use the generator noise (``'random'``) and, in steps 1 and 2, the official style-mixing
regularisation (probability 0.9, a second w for slots at or after a random cutoff in
``[1, 2 * (lod + 1)]``). The functions return the loss and a dict of detached scalars.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ganedit.losses import d_logistic_loss, g_nonsaturating_loss, r1_penalty
from ganedit.training.optim import frozen
from ganedit_stylealae.model import ALAEModel

STYLE_MIXING_PROB = 0.9
R1_GAMMA = 10.0


def fade_in_reals(x: torch.Tensor, blend: float) -> torch.Tensor:
    """Real images during a LOD transition: ``blend * x + (1 - blend) * up(avgpool(x))`` (nearest up),
    so D(E(.)) sees reals as blurry as the fading-in generator's output (official ``train_alae.py``)."""
    if blend >= 1:
        return x
    prev = F.interpolate(F.avg_pool2d(x, 2, 2), size=x.shape[-2:])
    return x * blend + prev * (1.0 - blend)


def sample_z(model: ALAEModel, batch: int, rng: torch.Generator | None = None,
             device: torch.device | str | None = None) -> torch.Tensor:
    device = device or model.dlatent_avg.device
    z = torch.randn(batch, model.arch.latent_size, generator=rng,
                    device=rng.device if rng is not None else "cpu")
    return z.to(device)


def generate(model: ALAEModel, z: torch.Tensor, lod: int | None = None, blend: float = 1.0,
             mixing_prob: float | None = None, noise_mode: str = "random",
             rng: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(w [B, latent], images)``: G(F(z)) with optional style mixing (official ``Model.generate``)."""
    lod = model.arch.check_lod(lod)
    w = model.mapping_f(z)
    styles = w[:, None].repeat(1, model.arch.num_ws, 1)
    if mixing_prob and float(torch.rand((), generator=rng)) < mixing_prob:
        w2 = model.mapping_f(sample_z(model, z.shape[0], rng, z.device))
        cutoff = int(torch.randint(1, 2 * (lod + 1) + 1, (), generator=rng))
        slot = torch.arange(model.arch.num_ws, device=z.device)[None, :, None]
        styles = torch.where(slot < cutoff, styles, w2[:, None].expand_as(styles))
    images = model.decoder(styles, lod, blend, noise_mode, generator=rng)
    return w, images


def encoder_discriminator_loss(model: ALAEModel, reals: torch.Tensor, z: torch.Tensor, lod: int | None = None,
                               blend: float = 1.0, r1_gamma: float = R1_GAMMA,
                               mixing_prob: float | None = STYLE_MIXING_PROB, noise_mode: str = "random",
                               rng: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Step 1 (update E and D): logistic adversarial loss on D(E(.)) + R1 on reals."""
    with torch.no_grad():
        _, fakes = generate(model, z, lod, blend, mixing_prob, noise_mode, rng)
    reals = reals.detach().requires_grad_(r1_gamma != 0)
    d_real = model.mapping_d(model.encoder(reals, lod, blend))
    d_fake = model.mapping_d(model.encoder(fakes, lod, blend))
    loss = d_logistic_loss(d_real, d_fake)
    logs = {"d_adv": float(loss.detach())}
    if r1_gamma:
        r1 = r1_penalty(d_real, reals)
        loss = loss + 0.5 * r1_gamma * r1
        logs["r1"] = float(r1.detach())
    logs.update(d_real=float(d_real.detach().mean()), d_fake=float(d_fake.detach().mean()))
    return loss, logs


def generator_loss(model: ALAEModel, z: torch.Tensor, lod: int | None = None, blend: float = 1.0,
                   mixing_prob: float | None = STYLE_MIXING_PROB, noise_mode: str = "random",
                   rng: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Step 2 (update F and G): non-saturating ``softplus(-D(E(G(F(z)))))`` with E and D frozen."""
    _, fakes = generate(model, z, lod, blend, mixing_prob, noise_mode, rng)
    with frozen(model.encoder, model.mapping_d):
        d_fake = model.mapping_d(model.encoder(fakes, lod, blend))
    loss = g_nonsaturating_loss(d_fake)
    return loss, {"g_adv": float(loss.detach())}


def reciprocity_loss(model: ALAEModel, z: torch.Tensor, lod: int | None = None, blend: float = 1.0,
                     noise_mode: str = "random", update_mapping: bool = True,
                     rng: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Step 3 (update E and G, and F when ``update_mapping``): ``mean((E(G(w)) - w.detach())^2)``."""
    if update_mapping:
        w, images = generate(model, z, lod, blend, None, noise_mode, rng)
    else:
        with torch.no_grad():
            w = model.mapping_f(z)
        styles = w[:, None].repeat(1, model.arch.num_ws, 1)
        images = model.decoder(styles, lod, blend, noise_mode, generator=rng)
    w_hat = model.encoder(images, lod, blend)
    loss = (w_hat - w.detach()).pow(2).mean()
    return loss, {"reciprocity": float(loss.detach())}


def pixel_reconstruction_loss(model: ALAEModel, reals: torch.Tensor, lod: int | None = None, blend: float = 1.0,
                              noise_mode: str = "random",
                              rng: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """Ours (not in the paper or the official code): ``mean((G(E(x)) - x)^2)`` on real images.

    ALAE's only reconstruction signal is the latent reciprocity on *generated* images; this term
    asks E and G to reconstruct the real ones too (an optional addition to step 3, updating E and G).
    """
    w = model.encoder(reals, lod, blend)
    images = model.decoder(w[:, None].repeat(1, model.arch.num_ws, 1), lod, blend, noise_mode, generator=rng)
    loss = (images - reals).pow(2).mean()
    return loss, {"pixel": float(loss.detach())}
