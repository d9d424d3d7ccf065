"""Native checkpoints (safetensors weights + JSON config in the header) and safe torch loading."""

from __future__ import annotations

import json
import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import torch

from ganedit.errors import GanEditError
from ganedit.io.atomic import atomic_path

NATIVE_KEY = "ganedit"
FORMAT_VERSION = 1


class CheckpointError(GanEditError, ValueError):
    """A missing, unreadable, foreign, mismatched or damaged (NaN/inf) checkpoint."""


def iter_tensors(obj: Any, prefix: str = "") -> Iterator[tuple[str, torch.Tensor]]:
    """``(dotted key, tensor)`` for every tensor inside nested dicts, lists and tuples (other
    objects are not entered)."""
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from iter_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from iter_tensors(value, f"{prefix}.{i}" if prefix else str(i))


def check_finite(obj: Any, source: str | os.PathLike, prefix: str = "") -> None:
    """Refuse NaN/inf weights: raise :class:`CheckpointError` naming the first floating-point tensor
    of ``obj`` (a tensor or nested containers of them) that holds one, and the file ``source``.

    Every checkpoint loader calls this (native files, torch files, pickles of every plugin, and so
    ``ganedit convert`` too): damaged weights would otherwise load, and only fail later as a NaN
    image or loss with a misleading hint.
    """
    for key, t in iter_tensors(obj, prefix):
        if not (t.is_floating_point() or t.is_complex()) or t.numel() == 0 or t.is_meta:
            continue
        finite = torch.isfinite(t)
        if not bool(finite.all()):
            bad = t[~finite]
            kinds = [name for name, hit in (("NaN", bool(torch.isnan(bad).any())),
                                            ("inf", bool(torch.isinf(bad).any()))) if hit]
            raise CheckpointError(f"{source}: tensor {key or '<root>'!r} holds {bad.numel()} non-finite "
                                  f"value(s) ({'/'.join(kinds)}) of {t.numel()}; the checkpoint is damaged "
                                  f"(diverged training or a bad export) and is refused")


def save_native(path: str | os.PathLike, tensors: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
    """Write ``tensors`` as safetensors with ``config`` (JSON) in the header, atomically.

    ``config`` should carry at least ``kind`` and ``type`` (the registered component name) plus the
    architecture, so that the file alone rebuilds the network.
    """
    from safetensors.torch import save_file

    meta = {NATIVE_KEY: json.dumps({"format_version": FORMAT_VERSION, **config}, sort_keys=True)}
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    with atomic_path(path, suffix=".safetensors") as tmp:
        save_file(flat, str(tmp), metadata=meta)


def is_native(path: str | os.PathLike) -> bool:
    """True when ``path`` is a safetensors file written by ganedit."""
    try:
        return read_native_config(path) is not None
    except CheckpointError:
        return False


def read_native_config(path: str | os.PathLike) -> dict[str, Any] | None:
    """The JSON config of a native checkpoint, ``None`` for other safetensors files."""
    p = Path(path)
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{p}: not a safetensors file (too short)")
            n = int.from_bytes(head, "little")
            if n <= 0 or n > 100_000_000:
                raise CheckpointError(f"{p}: not a safetensors file")
            header = json.loads(fh.read(n))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{p}: not a readable safetensors file ({exc})") from None
    meta = header.get("__metadata__") or {}
    if NATIVE_KEY not in meta:
        return None
    return json.loads(meta[NATIVE_KEY])


def load_native(path: str | os.PathLike, expect: dict[str, str] | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load ``(tensors, config)``; ``expect`` (e.g. ``{'type': 'stylegan2'}``) guards foreign files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    config = read_native_config(p)
    if config is None:
        raise CheckpointError(f"{p}: safetensors file without a ganedit config (not written by ganedit)")
    for key, want in (expect or {}).items():
        if config.get(key) != want:
            raise CheckpointError(f"{p}: checkpoint is a {key}={config.get(key)!r}, expected {want!r}")
    try:
        tensors = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{p}: truncated or corrupt safetensors file ({exc})") from None
    check_finite(tensors, p)
    return tensors, config


def safe_torch_load(path: str | os.PathLike, allow: tuple[type, ...] = ()) -> Any:
    """``torch.load`` with ``weights_only=True`` (no pickled code runs) and clear errors; every
    tensor in the loaded containers is checked to be finite (:func:`check_finite`).

    ``allow`` adds classes to the safe-globals list (e.g. ``argparse.Namespace``).
    """
    obj = _torch_load(path, allow)
    check_finite(obj, path)
    return obj


def _torch_load(path: str | os.PathLike, allow: tuple[type, ...]) -> Any:
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    try:
        if allow:
            with torch.serialization.safe_globals(list(allow)):
                return torch.load(p, map_location="cpu", weights_only=True)
        return torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"(unsupported GLOBAL [^\s]+|Unsupported global: [^\s]+)", text, re.IGNORECASE)
        if found:
            raise CheckpointError(f"{p}: refused to load: the file needs code objects beyond tensors and "
                                  f"containers ({found.group(1)}); nothing from it was executed") from None
        raise CheckpointError(f"{p}: not a readable torch checkpoint (truncated or another format)") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, IndexError, KeyError, ValueError,
            AttributeError, TypeError) as exc:
        # Junk bytes make the unpickler fail in many ways; all mean "not a torch checkpoint".
        raise CheckpointError(f"{p}: not a readable torch checkpoint (truncated or another format): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
