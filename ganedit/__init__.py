"""ganedit: a plugin-based framework for GAN inversion and image editing.

Python API::

    import ganedit
    cfg = ganedit.load_config("configs/near_inversion.yaml")
    summary = ganedit.run(cfg, output="runs/demo")
    G = ganedit.build("generator", {"type": "stylegan2", "params": {"checkpoint": "g.pt"}})
"""

from __future__ import annotations

from typing import Any

from ganedit.hookspecs import hookimpl
from ganedit.interfaces import (
    Component,
    Dataset,
    Discriminator,
    Edit,
    Editor,
    Encoder,
    Generator,
    InversionResult,
    Inverter,
    Loss,
    Params,
    Task,
)
from ganedit.latent import Latent, LatentError
from ganedit.registry import Registry, load_registry

__version__ = "0.1.0"


def build(kind: str, spec: Any, registry: Registry | None = None, device: Any = None) -> Any:
    """Build a component: ``build('generator', {'type': 'stylegan2', 'params': {...}})`` (modules
    are moved to ``device`` when given); see :class:`ganedit.context.BuildContext`."""
    from ganedit.context import BuildContext

    return BuildContext(registry, device).build(kind, spec)


def load_config(path: Any, overrides: list[str] | None = None, registry: Registry | None = None):
    """Read and validate a YAML run config (see :mod:`ganedit.config`)."""
    from ganedit.config import load_config as _load

    return _load(path, overrides=overrides, registry=registry)


def run(config: Any, output: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Run a config (path, dict or validated :class:`~ganedit.config.RunConfig`); returns the summary."""
    from ganedit.runner import run as _run

    return _run(config, output=output, **kwargs)


__all__ = [
    "Component",
    "Dataset",
    "Discriminator",
    "Edit",
    "Editor",
    "Encoder",
    "Generator",
    "InversionResult",
    "Inverter",
    "Latent",
    "LatentError",
    "Loss",
    "Params",
    "Registry",
    "Task",
    "build",
    "hookimpl",
    "load_config",
    "load_registry",
    "run",
]
