"""The four StyleALAE networks of one architecture: F (``mapping_f``), G (``decoder``), E
(``encoder``) and the latent D (``mapping_d``).

Layers: ``arch`` -> the network modules -> ``networks`` -> ``checkpoint`` (official and native files)
-> ``model`` -> ``components`` -> ``plugin``.
"""

from __future__ import annotations

from torch import nn

from ganedit_stylealae.arch import ALAEArch
from ganedit_stylealae.encoder_net import ALAEEncoderNet
from ganedit_stylealae.mapping import LatentD, MappingF
from ganedit_stylealae.synthesis import ALAEDecoder

PARTS: tuple[str, ...] = ("mapping_f", "decoder", "encoder", "mapping_d")


def build_part(part: str, arch: ALAEArch) -> nn.Module:
    """A freshly initialised network ``part`` (``mapping_f``, ``decoder``, ``encoder``, ``mapping_d``)."""
    if part == "mapping_f":
        return MappingF(arch.latent_size, arch.mapping_layers)
    if part == "decoder":
        return ALAEDecoder(arch)
    if part == "encoder":
        return ALAEEncoderNet(arch)
    if part == "mapping_d":
        return LatentD(arch.latent_size, arch.d_layers, arch.d_activation)
    raise ValueError(f"unknown StyleALAE part {part!r}; parts: {PARTS}")
