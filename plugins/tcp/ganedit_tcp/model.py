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

The classes below subclass the SwapAE plugin's classes; nothing is copied.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from pydantic import Field, FilePath
from torch import nn

from ganedit.nn import ConvLayer

from ganedit_swapae.arch import EncoderArch, SwapAEOptions
from ganedit_swapae.discriminator import SwapAEDiscriminator, SwapAEPatchDiscriminator
from ganedit_swapae.encoder import SwapAEEncoder
from ganedit_swapae.generator import SwapAEGenerator


@dataclass
class ContentHead:
    """Shape of the content head ``H_c``: ``layers`` convolutions of ``kernel`` x ``kernel``, all
    but the last keeping the trunk width (with activation), the last compressing to the content
    code channels (bias, no activation). ``(1, 2)`` is SwapAE's ``ToSpatialCode``."""

    kernel: int = 1
    layers: int = 2

    @property
    def is_swapae(self) -> bool:
        return self.kernel == 1 and self.layers == 2

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "ContentHead":
        data = dict(data or {})
        unknown = set(data) - {"kernel", "layers"}
        if unknown:
            raise ValueError(f"unknown content head fields {sorted(unknown)}")
        head = cls(int(data.get("kernel", 1)), int(data.get("layers", 2)))
        if head.kernel not in (1, 3) or head.layers < 1:
            raise ValueError(f"content head needs kernel 1 or 3 and at least one layer, got {head}")
        return head


def content_head(channels: int, code_channels: int, head: ContentHead) -> nn.Sequential:
    """``H_c``: ``head.layers`` convolutions; children ``0 .. layers-1`` (SwapAE's key layout)."""
    padding = "reflect" if head.kernel > 1 else "zero"
    layers: list[nn.Module] = [ConvLayer(channels, channels, head.kernel, padding=padding)
                               for _ in range(head.layers - 1)]
    layers.append(ConvLayer(channels, code_channels, head.kernel, activate=False, bias=True, padding=padding))
    return nn.Sequential(*layers)


class TCPOptions(SwapAEOptions):
    """SwapAE architecture options plus the shape of the content head ``H_c``."""

    content_head_kernel: int | None = Field(None, description="kernel of the content-head convolutions: "
                                            "1 (SwapAE's ToSpatialCode, default) or 3")
    content_head_layers: int | None = Field(None, ge=1, description="number of content-head convolutions "
                                            "(default 2, as SwapAE)")

    def head(self, fallback: ContentHead | None = None) -> ContentHead:
        base = fallback or ContentHead()
        return ContentHead.from_dict({"kernel": self.content_head_kernel or base.kernel,
                                      "layers": self.content_head_layers or base.layers})

    def head_given(self) -> dict[str, int]:
        out = {}
        if self.content_head_kernel is not None:
            out["kernel"] = self.content_head_kernel
        if self.content_head_layers is not None:
            out["layers"] = self.content_head_layers
        return out


class TCPEncoder(SwapAEEncoder, name="tcp"):
    """TCP encoder: shared trunk, content head ``H_c`` (spatial content code ``C``) and style head
    ``H_s`` (style vector ``S``); ``encode`` gives ``Latent.structure_texture(C, S)``, both codes
    L2-normalised as in SwapAE."""

    class Params(TCPOptions):
        checkpoint: FilePath | None = Field(None, description="TCP or SwapAE checkpoint (native or official)")

    def __init__(self, arch: EncoderArch, head: ContentHead | None = None):
        super().__init__(arch)
        self.head = head or ContentHead()
        if not self.head.is_swapae:
            self.ToSpatialCode = content_head(arch.channels[arch.num_downsampling_sp], arch.spatial_code_ch,
                                              self.head)

    @classmethod
    def from_params(cls, params: "TCPEncoder.Params", context: Any = None) -> "TCPEncoder":
        from ganedit_tcp.checkpoint import build_part

        return build_part("encoder", params)


class TCPGenerator(SwapAEGenerator, name="tcp"):
    """TCP generator ``G(C, S)``: the SwapAE generator (style vector or spatial style map)."""

    class Params(SwapAEOptions):
        checkpoint: FilePath | None = Field(None, description="TCP or SwapAE checkpoint (native or official)")

    @classmethod
    def from_params(cls, params: "TCPGenerator.Params", context: Any = None) -> SwapAEGenerator:
        from ganedit_tcp.checkpoint import build_part

        return build_part("generator", params)


class TCPDiscriminator(SwapAEDiscriminator, name="tcp"):
    """TCP image discriminator: SwapAE's StyleGAN2 residual D."""

    class Params(SwapAEOptions):
        checkpoint: FilePath | None = Field(None, description="TCP or SwapAE checkpoint (native or official)")

    @classmethod
    def from_params(cls, params: "TCPDiscriminator.Params", context: Any = None) -> SwapAEDiscriminator:
        from ganedit_tcp.checkpoint import build_part

        return build_part("discriminator", params)


class TCPPatchDiscriminator(SwapAEPatchDiscriminator, name="tcp_patch"):
    """TCP co-occurrence patch discriminator: SwapAE's Dpatch."""

    class Params(SwapAEOptions):
        checkpoint: FilePath | None = Field(None, description="TCP or SwapAE checkpoint (native or official)")

    @classmethod
    def from_params(cls, params: "TCPPatchDiscriminator.Params", context: Any = None) -> SwapAEPatchDiscriminator:
        from ganedit_tcp.checkpoint import build_part

        return build_part("patch_discriminator", params)


__all__ = ["ContentHead", "TCPDiscriminator", "TCPEncoder", "TCPGenerator", "TCPOptions",
           "TCPPatchDiscriminator", "content_head"]
