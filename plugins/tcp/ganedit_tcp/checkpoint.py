"""TCP checkpoints: the SwapAE native layout with ``type: tcp`` and the content-head shape.

A native TCP file is a safetensors file whose JSON config is that of a native SwapAE file
(``kind: autoencoder``, ``parts`` with each network's architecture, tensors stored as
``<part>.<name>``) with ``type: 'tcp'`` and a ``tcp`` section holding the content head
(``{'content_head': {'kernel': k, 'layers': n}}``). SwapAE checkpoints (native or official) load as
TCP models too (their content head is SwapAE's), which is how TCP fine-tuning starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from torch import nn

from ganedit.io.checkpoint import CheckpointError, load_native, read_native_config

from ganedit_swapae.arch import EncoderArch, resolve_options
from ganedit_swapae.checkpoint import (PARTS, SwapAEModel, load_swapae, load_swapae_native, new_model,
                                      save_swapae)

from ganedit_tcp.model import ContentHead, TCPEncoder, TCPOptions

NATIVE_KIND = "autoencoder"
NATIVE_TYPE = "tcp"


@dataclass
class TCPModel(SwapAEModel):
    """The networks of one TCP checkpoint and its content-head shape."""

    head: ContentHead = field(default_factory=ContentHead)


def new_tcp_model(options: Mapping[str, Any] | None = None, head: ContentHead | None = None,
                  parts: tuple[str, ...] = PARTS) -> TCPModel:
    """Freshly initialised TCP networks (SwapAE's initialisation)."""
    head = head or ContentHead()
    opts = resolve_options(dict(options or {}))
    others = tuple(p for p in parts if p != "encoder")
    base = new_model(opts, parts=others) if others else SwapAEModel(options=opts)
    model = TCPModel(**{p: getattr(base, p) for p in PARTS}, options=opts, head=head)
    if "encoder" in parts:
        model.encoder = TCPEncoder(EncoderArch.from_options(opts), head)
    return model


def save_tcp(path: str | os.PathLike, model: TCPModel, extra: Mapping[str, Any] | None = None) -> None:
    """Write the model's parts natively: SwapAE's layout with ``type: tcp`` and the content head."""
    if not model.parts():
        raise ValueError("nothing to save: the TCP model has no networks")
    save_swapae(path, model, extra=extra, type_name=NATIVE_TYPE,
                config_fields={"tcp": {"content_head": model.head.to_dict()}})


def _native_config(path: Path) -> dict[str, Any] | None:
    with open(path, "rb") as fh:
        head = fh.read(16)
    if path.suffix != ".safetensors" and not (len(head) >= 9 and head[8:9] == b"{"):
        return None
    return read_native_config(path)


def _load_encoder(path: Path, config: dict[str, Any], head: ContentHead) -> TCPEncoder:
    entry = config["parts"]["encoder"]
    try:
        arch = EncoderArch.from_dict(dict(entry["arch"]))
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}: invalid encoder architecture in the config ({exc})") from None
    encoder = TCPEncoder(arch, head)
    tensors, _ = load_native(path)
    sub = {k[len("encoder."):]: v for k, v in tensors.items() if k.startswith("encoder.")}
    try:
        encoder.load_state_dict(sub, strict=True)
    except RuntimeError as exc:
        first = " ".join(str(exc).split())[:300]
        raise CheckpointError(f"{path}: encoder weights do not fit the stored architecture: {first}") from None
    return encoder.eval()


def load_tcp(path: str | os.PathLike, overrides: Mapping[str, Any] | None = None,
             head: Mapping[str, int] | None = None, parts: tuple[str, ...] = PARTS,
             require: bool = True) -> TCPModel:
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
        others = tuple(x for x in parts if x != "encoder")
        base = (load_swapae_native(p, overrides, parts=others, require=require, types=(NATIVE_TYPE,))
                if others else SwapAEModel(options=resolve_options(dict(overrides or {}), config.get("options"))))
        model = TCPModel(**{x: getattr(base, x) for x in PARTS}, options=base.options,
                         meta=base.meta or {"source": str(p), "format": "native"}, head=stored)
        if "encoder" in parts:
            if "encoder" not in config.get("parts", {}):
                if require:
                    raise CheckpointError(f"{p}: has no encoder weights")
            else:
                model.encoder = _load_encoder(p, config, stored)
        return model
    if wanted and not ContentHead.from_dict(wanted).is_swapae:
        raise CheckpointError(f"{p}: a SwapAE checkpoint has SwapAE's content head (1x1, 2 layers); "
                              f"the config asks for {wanted}")
    base = load_swapae(p, overrides, parts=parts, require=require)
    model = TCPModel(**{x: getattr(base, x) for x in PARTS}, options=base.options, meta=base.meta)
    if base.encoder is not None:
        enc = TCPEncoder(base.encoder.arch)
        enc.load_state_dict(base.encoder.state_dict(), strict=True)
        model.encoder = enc.eval()
    return model


def build_part(part: str, params: Any) -> nn.Module:
    """What the registered TCP components' ``from_params`` do: load ``params.checkpoint`` or build
    a fresh network from the options."""
    overrides = params.given()
    head = params.head_given() if isinstance(params, TCPOptions) else {}
    checkpoint = getattr(params, "checkpoint", None)
    if checkpoint is None:
        return getattr(new_tcp_model(overrides, ContentHead.from_dict(head), parts=(part,)), part)
    return getattr(load_tcp(checkpoint, overrides, head, parts=(part,)), part)


def is_tcp_checkpoint(path: str | os.PathLike) -> bool:
    """True for a native TCP file."""
    try:
        config = _native_config(Path(path))
    except (OSError, CheckpointError):
        return False
    return bool(config) and config.get("type") == NATIVE_TYPE


__all__ = ["NATIVE_TYPE", "TCPModel", "build_part", "is_tcp_checkpoint", "load_tcp", "new_tcp_model", "save_tcp"]
