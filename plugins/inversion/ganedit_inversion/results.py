"""Saving and loading inversion outputs: latents, tuned generators (full or as a weight delta).

Files (native safetensors with a JSON config in the header, see :mod:`ganedit.io.checkpoint`):

* ``latent.safetensors``: config ``{kind: latent, type: latent, space}``, tensors of the latent;
* ``generator.safetensors``: the whole tuned generator in its own native format (StyleGAN2:
  ``g_ema`` + the checkpoint's discriminator), loadable as ``{type: stylegan2, params: {checkpoint: ...}}``;
* ``generator_delta.safetensors``: only the tensors the inversion changed (their new values), config
  ``{kind: generator_delta, type: delta, base: <generator spec>}``; load it on top of the base with
  :func:`apply_generator_delta` or the ``tuned`` generator component.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, FilePath

from ganedit.config import Slot
from ganedit.context import builder
from ganedit.interfaces import Generator, Params
from ganedit.io.checkpoint import CheckpointError, load_native, read_native_config, save_native
from ganedit.latent import Latent, load_latent

LATENT_FILE = "latent.safetensors"
GENERATOR_FILE = "generator.safetensors"
DELTA_FILE = "generator_delta.safetensors"


# ----------------------------------------------------------------------------- generator deltas


@torch.no_grad()
def changed_tensors(original: Generator, tuned: Generator) -> dict[str, torch.Tensor]:
    """State-dict entries (parameters and buffers, e.g. noise maps) that differ after tuning."""
    base = original.state_dict()
    out = {}
    for key, value in tuned.state_dict().items():
        ref = base.get(key)
        if ref is None or ref.shape != value.shape or not torch.equal(ref.to(value.device), value):
            out[key] = value.detach().cpu().contiguous()
    return out


def save_generator_delta(path: str | os.PathLike, original: Generator, tuned: Generator,
                         base: dict[str, Any] | None = None) -> Path:
    """Write the tensors ``tuned`` changed relative to ``original`` (exact new values)."""
    tensors = changed_tensors(original, tuned)
    if not tensors:
        # safetensors needs one tensor at least; an empty marker keeps the file valid.
        tensors = {"__empty__": torch.zeros(0)}
    save_native(path, tensors, {"kind": "generator_delta", "type": "delta", "base": base or {},
                                "generator_class": type(original).__name__})
    return Path(path)


@torch.no_grad()
def apply_generator_delta(generator: Generator, path: str | os.PathLike) -> Generator:
    """Load a delta written by :func:`save_generator_delta` into ``generator`` (in place)."""
    tensors, _ = load_native(path, expect={"kind": "generator_delta"})
    tensors = {k: v for k, v in tensors.items() if k != "__empty__"}
    state = generator.state_dict()
    unknown = [k for k in tensors if k not in state]
    if unknown:
        raise CheckpointError(f"{path}: delta holds tensors this generator does not have: {unknown[:4]} "
                              f"(was it made for another architecture?)")
    bad = [k for k, v in tensors.items() if tuple(v.shape) != tuple(state[k].shape)]
    if bad:
        k = bad[0]
        raise CheckpointError(f"{path}: tensor {k!r} has shape {tuple(tensors[k].shape)}, the generator's "
                              f"is {tuple(state[k].shape)}")
    for key, value in tensors.items():
        state[key].copy_(value.to(state[key]))
    return generator


def save_generator(directory: str | os.PathLike, original: Generator, tuned: Generator, mode: str,
                   base: dict[str, Any] | None = None) -> Path | None:
    """Save a tuned generator as ``full`` (its own native checkpoint, when it can save itself) or
    ``delta``; returns the written path (``None`` for mode ``none``)."""
    d = Path(directory)
    if mode == "none":
        return None
    if mode == "full" and callable(getattr(tuned, "save", None)):
        path = d / GENERATOR_FILE
        tuned.save(path)
        return path
    return save_generator_delta(d / DELTA_FILE, original, tuned, base)


def load_generator(path: str | os.PathLike, base: Generator | dict[str, Any] | None = None,
                   registry: Any = None) -> Generator:
    """A generator from a saved inversion: a full native checkpoint, or a delta applied to ``base``
    (a generator instance, a component spec, or by default the spec recorded in the delta)."""
    import ganedit

    config = read_native_config(path)
    if config is None:
        raise CheckpointError(f"{path}: not a ganedit file")
    if config.get("kind") == "generator_delta":
        if base is None:
            base = config.get("base") or None
            if not base:
                raise CheckpointError(f"{path}: delta without a recorded base generator; pass `base`")
        generator = base if isinstance(base, Generator) else ganedit.build("generator", base, registry=registry)
        return apply_generator_delta(generator, path)
    if config.get("kind") == "generator":
        return ganedit.build("generator", {"type": config.get("type"), "params": {"checkpoint": str(path)}},
                             registry=registry)
    raise CheckpointError(f"{path}: holds a {config.get('kind')!r}, expected a generator or generator_delta")


def load_inversion(directory: str | os.PathLike, base: Generator | dict[str, Any] | None = None,
                   registry: Any = None) -> tuple[Generator | None, Latent]:
    """``(generator, latent)`` of one image's folder ``inversions/<name>/`` of an ``invert`` run.

    The generator is the tuned one when the run saved it; otherwise ``base`` (``None`` if absent)."""
    d = Path(directory)
    latent = load_latent(d / LATENT_FILE)
    for name in (GENERATOR_FILE, DELTA_FILE):
        if (d / name).is_file():
            return load_generator(d / name, base, registry), latent
    if isinstance(base, dict):
        import ganedit

        base = ganedit.build("generator", base, registry=registry)
    return base, latent


# ----------------------------------------------------------------------------- component


class TunedGenerator(Generator, name="tuned"):
    """A base generator with an inversion's weight delta applied (``generator_delta.safetensors``)."""

    class Params(Params):
        base: Slot("generator") = Field(description="the generator the delta was made from")
        delta: FilePath = Field(description="generator_delta.safetensors written by the invert task")

    @classmethod
    def latent_spaces(cls, params: "TunedGenerator.Params | None" = None) -> tuple[str, ...]:
        if params is None or params.base.entry is None:
            return ("w", "w+")
        return tuple(params.base.cls.latent_spaces(params.base.params))

    @classmethod
    def from_params(cls, params: "TunedGenerator.Params", context: Any = None) -> Generator:
        generator = builder(context).build("generator", params.base)
        # The built object is the base generator itself, with the tuned tensors loaded in.
        return apply_generator_delta(generator, params.delta)

    def generate(self, latent: Latent, noise_mode: str = "const") -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError("TunedGenerator.from_params returns the base generator")
