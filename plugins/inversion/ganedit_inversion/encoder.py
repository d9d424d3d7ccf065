"""Encoder inversion: one forward pass through any registered ``ganedit.Encoder``."""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

from ganedit.config import Slot
from ganedit.context import builder
from ganedit.interfaces import Encoder, Generator, InversionResult, Inverter, Params
from ganedit.latent import LatentError

from ganedit_inversion.generator_ops import device_of, fit_targets, ws_of


class EncoderInverter(Inverter, name="encoder"):
    """Invert with one encoder pass; the encoder's output space must be one the generator accepts."""

    class Params(Params):
        encoder: Slot("encoder") = Field(description="the encoder component")

    def __init__(self, params: "EncoderInverter.Params", encoder: Encoder):
        super().__init__(params)
        self.encoder = encoder

    @classmethod
    def from_params(cls, params: "EncoderInverter.Params", context: Any = None) -> "EncoderInverter":
        return cls(params, builder(context).build("encoder", params.encoder))

    @classmethod
    def output_space(cls, params: "EncoderInverter.Params | None" = None) -> str:
        if params is None or params.encoder.entry is None:
            return "w+"
        return params.encoder.cls.output_space(params.encoder.params)

    @classmethod
    def required_generator_spaces(cls, params: Any = None) -> tuple[str, ...]:
        return (cls.output_space(params),)

    def check_generator(self, generator: Generator, discriminator: Any = None) -> None:
        """Before any image: an encoder that states its code shape (``n_styles``, ``w_dim``) must
        match the generator's ``num_ws`` / ``w_dim``."""
        name = getattr(self.encoder, "source", type(self.encoder).__name__)
        for mine, theirs in (("n_styles", "num_ws"), ("w_dim", "w_dim")):
            a, b = getattr(self.encoder, mine, None), getattr(generator, theirs, None)
            if a is not None and b is not None and int(a) != int(b):
                raise LatentError(f"encoder inverter: encoder {name} predicts codes with {mine}={a}, the generator "
                                  f"has {theirs}={b} (an encoder trained for another generator?)")

    def independent_images(self) -> bool:
        return True  # one forward pass per image (encoders run in eval mode)

    @torch.no_grad()
    def invert(self, generator: Generator, images: torch.Tensor, *, discriminator: Any = None,
               callback: Any = None) -> InversionResult:
        target = fit_targets(images, generator, "encoder inverter")
        encoder = self.encoder
        if isinstance(encoder, torch.nn.Module):
            encoder = encoder.to(device_of(generator)).eval()
        latent = encoder.encode(target)
        name = type(self.encoder).__name__
        if latent.space not in generator.latent_spaces():
            raise LatentError(f"encoder inverter: {name} produced a {latent.space!r} latent, the generator "
                              f"accepts {list(generator.latent_spaces())}")
        if latent.space in ("z", "w", "w+"):
            ws_of(generator, latent, f"encoder inverter ({name})")  # shape check with a clear message
        latent = latent.to(device_of(generator))
        recon = generator.generate(latent).detach()
        return InversionResult(latent=latent, generator=generator, metrics={"steps": 1},
                               initial_images=recon)
