"""TCP networks (You et al., "Towards Controllable and Photorealistic Region-wise Image
Manipulation", ACM MM 2021): the SwapAE networks, reused, with a configurable content head.

Our reading of the paper's model (no code was released; see ``docs/tcp.md``):

* a shared encoder trunk maps the image to a deep feature map ``e`` — SwapAE's ``FromRGB`` and
  ``DownToSpatialCode``;
* the content head ``H_c`` ("several ordinary convolutions compressing channels") gives the
  spatial content code ``C`` — SwapAE's ``ToSpatialCode`` (two 1x1 convolutions) by default;
  ``content_head_kernel: 3`` / ``content_head_layers`` make it a stack of 3x3 convolutions;
* the style head ``H_s`` ("downsampling convolutions, then vectorization") gives the style code
  ``S`` — SwapAE's ``DownToGlobalCode`` + mean pooling + ``ToGlobalCode``;
* the generator ``G(C, S)`` is the SwapAE generator, whose activation-side modulation takes a
  spatial style map (one style code per pixel), which region-wise editing needs;
* the discriminators are SwapAE's image D and co-occurrence patch D.

The classes below subclass the SwapAE plugin's classes; nothing is copied. Each loads itself from a
TCP or SwapAE checkpoint through :func:`ganedit_tcp.formats.load_part`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ganedit import Params

from ganedit_swapae.arch import EncoderArch
from ganedit_swapae.discriminator import SwapAEDiscriminator, SwapAEPatchDiscriminator
from ganedit_swapae.encoder import SwapAEEncoder
from ganedit_swapae.formats import SwapAEPart
from ganedit_swapae.generator import SwapAEGenerator

from ganedit_tcp.formats import load_part
from ganedit_tcp.head import ContentHead, TCPOptions, TCPParams, TCPPartParams, content_head


class TCPPart(SwapAEPart):
    """Mixin of the TCP networks (first base): TCP's params and loading (TCP or SwapAE files)."""

    Params: ClassVar[type[Params]] = TCPPartParams

    @classmethod
    def from_params(cls, params: Any, context: Any = None) -> Any:
        return load_part(cls.part, params, cls)


class TCPEncoder(TCPPart, SwapAEEncoder, name="tcp"):
    """TCP encoder: shared trunk, content head ``H_c`` (spatial content code ``C``) and style head
    ``H_s`` (style vector ``S``); ``encode`` gives ``Latent.structure_texture(C, S)``, both codes
    L2-normalised as in SwapAE."""

    Params = TCPParams

    def __init__(self, arch: EncoderArch, head: ContentHead | None = None):
        super().__init__(arch)
        self.head = head or ContentHead()
        if not self.head.is_swapae:
            self.ToSpatialCode = content_head(arch.channels[arch.num_downsampling_sp], arch.spatial_code_ch,
                                              self.head)


class TCPGenerator(TCPPart, SwapAEGenerator, name="tcp"):
    """TCP generator ``G(C, S)``: the SwapAE generator (style vector or spatial style map)."""


class TCPDiscriminator(TCPPart, SwapAEDiscriminator, name="tcp"):
    """TCP image discriminator: SwapAE's StyleGAN2 residual D."""


class TCPPatchDiscriminator(TCPPart, SwapAEPatchDiscriminator, name="tcp_patch"):
    """TCP co-occurrence patch discriminator: SwapAE's Dpatch."""


__all__ = ["ContentHead", "TCPDiscriminator", "TCPEncoder", "TCPGenerator", "TCPOptions",
           "TCPPatchDiscriminator", "content_head"]
