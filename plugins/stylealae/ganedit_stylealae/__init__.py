"""ganedit first-party plugin: StyleALAE (Adversarial Latent Autoencoders, Pidhorskyi et al., CVPR 2020).

Components: ``generator: stylealae`` (F + G), ``encoder: stylealae`` (E), ``discriminator:
stylealae`` (D o E), task ``alae_reconstruct``; checkpoint format ``alae_official``.
"""

from ganedit_stylealae.arch import ALAEArch
from ganedit_stylealae.model import ALAEModel

__all__ = ["ALAEArch", "ALAEModel"]
