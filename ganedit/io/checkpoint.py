"""Checkpoints: native files (safetensors weights + JSON config in the header), safe torch loading,
and the one checked state loading every loader uses.

* :func:`save_model` / :func:`load_model`: a model's parts (``<part>.<key>`` tensors) plus its
  config (``kind``, ``type``, architecture) in one native file;
* :func:`load_state`: copy a state dict into a module after checking every key and shape;
* :func:`safe_torch_load`: ``torch.load(weights_only=True)`` with clear errors;
* :func:`check_finite`: refuse NaN/inf weights (every loader calls it);
* :func:`check_weights_file`: the same check on a file of any format without building a network
  (``ganedit validate``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch import nn

from ganedit.errors import GanEditError
from ganedit.io.atomic import atomic_path

NATIVE_KEY = "ganedit"
FORMAT_VERSION = 1


class CheckpointError(GanEditError, ValueError):
    """A missing, unreadable, foreign, mismatched or damaged (NaN/inf) checkpoint."""


class DamagedWeightsError(CheckpointError):
    """A checkpoint holding NaN or inf weights (raised by :func:`check_finite`)."""


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
    """Refuse NaN/inf weights: raise :class:`DamagedWeightsError` naming the first floating-point tensor
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
            raise DamagedWeightsError(f"{source}: {f'tensor {key!r}' if key else 'its tensor'} holds {bad.numel()} non-finite "
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


def load_native(path: str | os.PathLike, expect: Mapping[str, str | Sequence[str]] | None = None
                ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load ``(tensors, config)``; ``expect`` (e.g. ``{'type': 'stylegan2'}``, or a tuple of accepted
    values) guards foreign files."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    config = read_native_config(p)
    if config is None:
        raise CheckpointError(f"{p}: safetensors file without a ganedit config (not written by ganedit)")
    for key, want in (expect or {}).items():
        wants = (want,) if isinstance(want, str) else tuple(want)
        if config.get(key) not in wants:
            raise CheckpointError(f"{p}: checkpoint is a {config.get('kind')!r}/{config.get('type')!r} file "
                                  f"({key}={config.get(key)!r}, expected {' or '.join(map(repr, wants))})")
    try:
        tensors = load_file(str(p))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{p}: truncated or corrupt safetensors file ({exc})") from None
    check_finite(tensors, p)
    return tensors, config


def few(items: Sequence[str], n: int = 4) -> str:
    """The first ``n`` of ``items``, comma-separated, with how many there are when more."""
    shown = ", ".join(items[:n])
    return shown + (f", ... ({len(items)} in all)" if len(items) > n else "")


def load_state(module: nn.Module, state: Mapping[str, Any], source: str | os.PathLike, what: str, *,
               arch: str = "the architecture", optional: Sequence[str] = (), assign: bool = False,
               keys_message: str = "{source}: {what} does not match {arch} ({details})",
               shape_message: str = "{source}: {what} has shape mismatches: {details}") -> None:
    """Copy ``state`` into ``module`` after checking every key, type and shape (the one checked
    state loading of every loader); a :class:`CheckpointError` naming ``source`` and ``what``
    otherwise. ``optional`` keys of ``module`` may be absent (they keep their value); floating
    tensors are loaded as float32; ``assign`` hands the tensors over (modules built on ``meta``).

    The messages are ``keys_message`` (``details``: missing / unexpected keys) and
    ``shape_message`` (``details``: ``key (shape) vs expected (shape)``, ...; also ``key``,
    ``got``, ``want`` of the first mismatch) formatted with ``source``, ``what`` and ``arch``.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and k not in optional]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        details = "; ".join(f"{label} {few(keys)}" for label, keys in (("missing", missing), ("unexpected", unexpected))
                            if keys)
        raise CheckpointError(keys_message.format(source=source, what=what, arch=arch, details=details))
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{source}: {what}[{key!r}] is a {type(value).__name__}, expected a tensor")
    wrong = [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state.items() if tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        key, got, want = wrong[0]
        details = few([f"{k} {g} vs expected {w}" for k, g, w in wrong])
        raise CheckpointError(shape_message.format(source=source, what=what, arch=arch, details=details, key=key,
                                                   got=got, want=want))
    with torch.no_grad():
        module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()},
                               strict=not optional, assign=assign)


def save_model(path: str | os.PathLike, parts: Mapping[str, nn.Module | Mapping[str, torch.Tensor]],
               config: dict[str, Any]) -> None:
    """Write the state of each part (a module or a state dict) as ``<part>.<key>`` tensors (part
    ``''``: the keys as they are) with ``config`` (its ``kind``, ``type`` and architecture) in the
    header: a native checkpoint."""
    tensors: dict[str, torch.Tensor] = {}
    for name, part in parts.items():
        state = part.state_dict() if isinstance(part, nn.Module) else part
        tensors.update({f"{name}.{k}" if name else k: v for k, v in state.items()})
    save_native(path, tensors, config)


def load_model(path: str | os.PathLike, expect: Mapping[str, str | Sequence[str]] | None = None
               ) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """``(parts, config)`` of a native checkpoint written by :func:`save_model`: the tensors grouped
    by their first name component (``'g_ema.style.1.weight'`` -> ``parts['g_ema']['style.1.weight']``);
    a tensor without one is its own group under ``''``."""
    tensors, config = load_native(path, expect)
    parts: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        head, _, rest = key.partition(".")
        if rest:
            parts.setdefault(head, {})[rest] = value
        else:
            parts.setdefault("", {})[key] = value
    return parts, config


def safe_torch_load(path: str | os.PathLike, allow: tuple[type, ...] = ()) -> Any:
    """``torch.load`` with ``weights_only=True`` (no pickled code runs) and clear errors; every
    tensor in the loaded containers is checked to be finite (:func:`check_finite`).

    ``allow`` adds classes to the safe-globals list (e.g. ``argparse.Namespace``).
    """
    obj = _torch_load(path, allow)
    check_finite(obj, path)
    return obj


def _weights_kind(path: Path) -> str | None:
    """``'safetensors'``, ``'numpy'``, ``'torch'`` (a torch zip or any pickle) from the first bytes of
    ``path``, ``None`` for anything else (an image, a YAML file, ...)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(9)
            if head[:6] == b"\x93NUMPY":
                return "numpy"
            if len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") < 100_000_000:
                return "safetensors"
            if head[:1] == b"\x80":  # a pickle (legacy torch.save, NVIDIA network pickles)
                return "torch"
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
            if any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                return "torch"
            if names and all(n.endswith(".npy") for n in names):
                return "numpy"
    except (OSError, zipfile.BadZipFile):
        pass
    return None


def read_numpy(path: str | os.PathLike) -> torch.Tensor | dict[str, torch.Tensor]:
    """The arrays of a numpy file, read without pickles: a tensor for ``.npy``, ``{name: tensor}``
    for an ``.npz`` archive; any unreadable file is a :class:`CheckpointError` naming it. Values are
    not checked (callers name what they read in :func:`check_finite`)."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: file not found")
    try:
        loaded = np.load(p, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return torch.from_numpy(np.array(loaded))
        with loaded:
            return {k: torch.from_numpy(np.array(loaded[k])) for k in loaded.files}
    except Exception as exc:  # noqa: BLE001 - junk bytes fail numpy in many ways (EOFError, BadZipFile, ...)
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{p}: not a readable numpy .npy/.npz file ({why})") from None


def check_weights_file(path: str | os.PathLike, registry: Any = None) -> str | None:
    """Read every tensor of the weights file ``path`` without building a network or executing pickled
    code, and raise :class:`DamagedWeightsError` naming the tensor and the file when one holds NaN or
    inf; returns how the file was read, ``None`` when it is no weights file (an image, a YAML file).

    Safetensors (native or not), numpy ``.npy`` / ``.npz`` and torch files are read here (tensor by
    tensor for safetensors); a file none of these reads, e.g. an NVIDIA network pickle, goes through
    the converter of the ``registry`` format that sniffs it (into a temporary file: every converter
    checks the weights it reads). Other problems of a file (truncated, foreign, mismatched) are left
    to the loader of the component that reads it, which knows what it expects.
    """
    p = Path(path)
    kind = _weights_kind(p)
    try:
        if kind == "safetensors":
            from safetensors import safe_open

            with safe_open(str(p), "pt") as fh:
                for key in fh.keys():
                    check_finite(fh.get_tensor(key), p, prefix=key)
            return kind
        if kind == "numpy":
            check_finite(read_numpy(p), p)
            return kind
    except DamagedWeightsError:
        raise
    except Exception:  # noqa: BLE001 - unreadable: the component's loader reports it with context
        return None
    if kind == "torch":
        try:
            check_finite(_torch_load(p, (argparse.Namespace,)), p)
            return kind
        except DamagedWeightsError:
            raise
        except CheckpointError:
            pass  # not a plain torch file: a registered format may read it
    fmt = registry.sniff(p) if registry is not None and kind is not None else None
    if fmt is None:
        return None
    with tempfile.TemporaryDirectory(prefix="ganedit-check-") as tmp:
        try:
            fmt.convert(p, Path(tmp) / "weights.safetensors")
        except DamagedWeightsError:
            raise
        except Exception:  # noqa: BLE001 - as above
            return None
    return fmt.name


def options_dict(value: Any, source: str | os.PathLike, what: str) -> dict[str, Any]:
    """An official checkpoint's training options ``what`` (``argparse.Namespace``, dict or None) as a
    plain dict; anything else is a :class:`CheckpointError`."""
    if value is None:
        return {}
    if isinstance(value, argparse.Namespace):
        return dict(vars(value))
    if isinstance(value, Mapping):
        return dict(value)
    raise CheckpointError(f"{source}: {what!r} is a {type(value).__name__}, expected an argparse.Namespace "
                          f"or a dict")


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
    except Exception as exc:  # noqa: BLE001
        # Junk bytes make the unpickler fail in many ways (struct.error, RuntimeError, EOFError,
        # BadZipFile, ...); all mean "not a torch checkpoint".
        raise CheckpointError(f"{p}: not a readable torch checkpoint (truncated or another format): "
                              f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
