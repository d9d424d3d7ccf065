"""TCP checkpoints: the SwapAE native layout with ``type: tcp`` and the content-head shape.

A native TCP file is a safetensors file whose JSON config is that of a native SwapAE file
(``kind: autoencoder``, ``parts`` with each network's architecture, tensors stored as
``<part>.<name>``) with ``type: 'tcp'`` and a ``tcp`` section holding the content head
(``{'content_head': {'kernel': k, 'layers': n}}``). SwapAE checkpoints (native or official) load as
TCP models too (their content head is SwapAE's), which is how TCP fine-tuning starts.

Class-agnostic like :mod:`ganedit_swapae.formats`: loaders take ``factories`` (``{part: class}``;
the encoder's also takes the content head), :mod:`ganedit_tcp.checkpoint` supplies TCP's networks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Mapping

from torch import nn

from ganedit.io.checkpoint import CheckpointError, read_native_config

from ganedit_swapae import formats as swapae_formats
from ganedit_swapae.formats import NATIVE_TYPE as SWAPAE_TYPE
from ganedit_swapae.formats import PARTS, Factories, SwapAEModel, is_native_file, save_swapae

from ganedit_tcp.head import ContentHead, TCPOptions

NATIVE_KIND = "autoencoder"
NATIVE_TYPE = "tcp"


@dataclass
class TCPModel(SwapAEModel):
    """The networks of one TCP checkpoint and its content-head shape."""

    head: ContentHead = field(default_factory=ContentHead)


def _with_head(factories: Factories, head: ContentHead) -> Factories:
    """``factories`` whose encoder is built with the content head ``head``."""
    if "encoder" not in factories:
        return factories
    return {**factories, "encoder": partial(factories["encoder"], head=head)}


def _as_tcp(base: SwapAEModel, head: ContentHead) -> TCPModel:
    return TCPModel(**{p: getattr(base, p) for p in PARTS}, options=base.options, meta=base.meta, head=head)


def new_tcp_model(options: Mapping[str, Any] | None, head: ContentHead | None, parts: tuple[str, ...],
                  factories: Factories) -> TCPModel:
    """Freshly initialised TCP networks (SwapAE's initialisation; the encoder is drawn last)."""
    head = head or ContentHead()
    order = tuple(p for p in parts if p != "encoder") + (("encoder",) if "encoder" in parts else ())
    return _as_tcp(swapae_formats.new_model(options, order, _with_head(factories, head)), head)


def save_tcp(path: str | os.PathLike, model: TCPModel, extra: Mapping[str, Any] | None = None) -> None:
    """Write the model's parts natively: SwapAE's layout with ``type: tcp`` and the content head."""
    if not model.parts():
        raise ValueError("nothing to save: the TCP model has no networks")
    save_swapae(path, model, extra=extra, type_name=NATIVE_TYPE,
                config_fields={"tcp": {"content_head": model.head.to_dict()}})


def _native_config(path: Path) -> dict[str, Any] | None:
    return read_native_config(path) if is_native_file(path) else None


def load_tcp(path: str | os.PathLike, overrides: Mapping[str, Any] | None, head: Mapping[str, int] | None,
             parts: tuple[str, ...], require: bool, factories: Factories) -> TCPModel:
    """Load ``parts`` of a TCP file, or of a SwapAE checkpoint (native or official) as a TCP model.

    ``overrides`` are SwapAE options that must agree with the weights; ``head`` an explicit
    content-head shape (``{'kernel': .., 'layers': ..}``) that must agree with the file's.
    """
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    config = _native_config(p)
    wanted = dict(head or {})
    if config is not None and config.get("type") == NATIVE_TYPE:
        try:
            stored = ContentHead.from_dict((config.get("tcp") or {}).get("content_head"))
        except ValueError as exc:
            raise CheckpointError(f"{p}: invalid TCP content head in the config ({exc})") from None
        for key, value in wanted.items():
            if getattr(stored, key) != int(value):
                raise CheckpointError(f"{p}: the config asks for content_head_{key}={value}, the checkpoint "
                                      f"has {getattr(stored, key)}")
        base = swapae_formats.load_swapae_native(p, overrides, parts, require, (NATIVE_TYPE,),
                                                 _with_head(factories, stored))
        return _as_tcp(base, stored)
    if wanted and not ContentHead.from_dict(wanted).is_swapae:
        raise CheckpointError(f"{p}: a SwapAE checkpoint has SwapAE's content head (1x1, 2 layers); "
                              f"the config asks for {wanted}")
    swapae_head = ContentHead()
    base = swapae_formats.load_swapae(p, overrides, parts, require, (SWAPAE_TYPE,), _with_head(factories, swapae_head))
    return _as_tcp(base, swapae_head)


def load_part(part: str, params: Any, make: Any) -> nn.Module:
    """What the TCP networks' ``from_params`` do: load part ``part`` of ``params.checkpoint`` (or
    build it fresh from the options) with ``make`` (the calling class)."""
    overrides = params.given()
    head = params.head_given() if isinstance(params, TCPOptions) else {}
    factories = {part: make}
    checkpoint = getattr(params, "checkpoint", None)
    if checkpoint is None:
        return getattr(new_tcp_model(overrides, ContentHead.from_dict(head), (part,), factories), part)
    return getattr(load_tcp(checkpoint, overrides, head, (part,), True, factories), part)


def is_tcp_checkpoint(path: str | os.PathLike) -> bool:
    """True for a native TCP file."""
    try:
        config = _native_config(Path(path))
    except (OSError, CheckpointError):
        return False
    return bool(config) and config.get("type") == NATIVE_TYPE


__all__ = ["NATIVE_TYPE", "TCPModel", "is_tcp_checkpoint", "load_part", "load_tcp", "new_tcp_model", "save_tcp"]
