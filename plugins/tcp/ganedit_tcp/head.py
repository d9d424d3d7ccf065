"""TCP's content head ``H_c`` (its shape, :class:`ContentHead`, and the convolutions) and the TCP
options: SwapAE's plus the content-head shape. Layers: ``head`` -> ``formats`` -> ``model`` (the
networks, registered) -> ``checkpoint`` (the public loading API) -> ``plugin``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pydantic import Field, FilePath
from torch import nn

from ganedit import Params
from ganedit.nn import ConvLayer

from ganedit_swapae.arch import SwapAEOptions


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


class _TCPCheckpoint(Params):
    checkpoint: FilePath | None = Field(None, description="TCP or SwapAE checkpoint (native or official)")


class TCPParams(_TCPCheckpoint, TCPOptions):
    """Params of the TCP encoder: the options, the content head and a checkpoint."""


class TCPPartParams(_TCPCheckpoint, SwapAEOptions):
    """Params of the other TCP networks (generator, discriminators): SwapAE's options and a checkpoint."""


__all__ = ["ContentHead", "TCPOptions", "TCPParams", "TCPPartParams", "content_head"]
