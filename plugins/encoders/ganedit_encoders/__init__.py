"""ganedit first-party plugin: the GAN-inversion encoders users own, from their official checkpoints.

Encoders ``e4e`` (encoder4editing), ``psp`` (pixel2style2pixel) and ``restyle`` (ReStyle over a
pSp or e4e backbone) read the training ``.pt`` files of the official repos (``weights_only``: no
pickled code runs). The decoder stored in the same file loads as a ``stylegan2`` generator.
Use them through the ``encoder`` inverter, alone or as the ``initial:`` of ``pti`` /
``near_perfect``; see docs/checkpoints.md.

Python API::

    from ganedit_encoders import load_encoder_checkpoint
    ckpt = load_encoder_checkpoint("e4e_ffhq_encode.pt")       # encoder network, latent_avg, opts
"""

from ganedit_encoders.checkpoint import EncoderCheckpoint, load_encoder_checkpoint
from ganedit_encoders.components import E4EEncoder, PSPEncoder, ReStyleEncoder, encoder_input

__all__ = ["E4EEncoder", "EncoderCheckpoint", "PSPEncoder", "ReStyleEncoder", "encoder_input",
           "load_encoder_checkpoint"]
