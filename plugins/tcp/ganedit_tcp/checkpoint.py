"""TCP checkpoints with the plugin's networks: the public loading API (formats in
:mod:`ganedit_tcp.formats`)."""

from __future__ import annotations

import os
from typing import Any, Mapping

from ganedit_swapae.formats import PARTS

from ganedit_tcp import formats
from ganedit_tcp.formats import NATIVE_TYPE, TCPModel, is_tcp_checkpoint, save_tcp
from ganedit_tcp.head import ContentHead
from ganedit_tcp.model import TCPDiscriminator, TCPEncoder, TCPGenerator, TCPPatchDiscriminator

#: The networks of each part.
NETWORKS: dict[str, Any] = {"encoder": TCPEncoder, "generator": TCPGenerator, "discriminator": TCPDiscriminator,
                            "patch_discriminator": TCPPatchDiscriminator}


def new_tcp_model(options: Mapping[str, Any] | None = None, head: ContentHead | None = None,
                  parts: tuple[str, ...] = PARTS) -> TCPModel:
    """Freshly initialised TCP networks (SwapAE's initialisation)."""
    return formats.new_tcp_model(options, head, parts, NETWORKS)


def load_tcp(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
             head: Mapping[str, int] | None = None, parts: tuple[str, ...] = PARTS,
             require: bool = True) -> TCPModel:
    """Load ``parts`` of a TCP file, or of a SwapAE checkpoint (native or official) as a TCP model;
    see :func:`ganedit_tcp.formats.load_tcp`."""
    return formats.load_tcp(path, overrides, head, parts, require, NETWORKS)


__all__ = ["NATIVE_TYPE", "NETWORKS", "TCPModel", "is_tcp_checkpoint", "load_tcp", "new_tcp_model", "save_tcp"]
