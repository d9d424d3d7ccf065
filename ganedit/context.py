"""The objects components and tasks get: :class:`BuildContext` builds components (the one build
path), :class:`RunContext` adds the run's output folder, which it alone writes.

``BuildContext.build(kind, spec)`` validates ``spec`` (unless already validated), records the
component for ``plugins.json``, calls ``cls.from_params(params, context)`` and moves a module to
the context's device. Nested slots (an inverter's ``initial``, a discriminator, a dataset's
domains) are built by the component's ``from_params`` through the same context, so device
placement and provenance cover everything that ran.

Output folder of a run (written only through :class:`RunContext`, atomically): ``config.yaml``
(resolved config) and ``plugins.json`` (versions of everything used) when the run starts, i.e.
the first time the task touches its folder; ``metrics.json`` (``summary`` + ``images``);
``images/`` (PNGs and grids); ``tb/`` (tensorboard); whatever else the task writes through
:meth:`RunContext.write_json`, :meth:`RunContext.write_text`, :meth:`RunContext.append_line` or
:meth:`RunContext.path` (checkpoints, logs, per-item records).
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import yaml

from ganedit.config import ComponentSpec, RunConfig, validate_spec
from ganedit.io.atomic import atomic_write_json, atomic_write_text
from ganedit.io.images import make_grid, save_image
from ganedit.registry import Entry, Registry, load_registry


class BuildContext:
    """Builds components for one registry and device; ``used`` records what was built."""

    def __init__(self, registry: Registry | None = None, device: torch.device | str | None = None):
        self._registry = registry
        self.device = torch.device(device) if device is not None else None
        self.used: dict[str, set[str]] = {}

    @property
    def registry(self) -> Registry:
        """The registry components are looked up in (the process-wide one unless given)."""
        return self._registry if self._registry is not None else load_registry()

    def build(self, kind: str, spec: ComponentSpec | dict[str, Any]) -> Any:
        """The component of ``spec`` (``{type, params}`` or a validated slot value)."""
        spec = validate_spec(kind, spec, self.registry)
        return self.create(spec.entry, spec.params)

    def create(self, entry: Entry, params: Any) -> Any:
        """Instantiate ``entry`` from validated ``params`` (the step every build goes through)."""
        self.used.setdefault(entry.dist, set()).add(f"{entry.kind}:{entry.name}")
        obj = entry.cls.from_params(params, context=self)
        if isinstance(obj, torch.nn.Module) and self.device is not None:
            obj = obj.to(self.device)
        return obj


def builder(context: "BuildContext | None") -> "BuildContext":
    """``context``, or a fresh :class:`BuildContext` (process-wide registry, no device) for a
    ``from_params`` called directly."""
    return context if context is not None else BuildContext()


def plugins_report(registry: Registry | None, used: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """What ``plugins.json`` holds: versions, every plugin's status and what this run used."""
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "plugins": [p.as_dict() for p in registry.plugins] if registry is not None else [],
    }
    if used is not None:
        report["used"] = {dist: sorted(v) for dist, v in used.items()}
    return report


class RunContext(BuildContext):
    """What a task gets: builders, output folder, device, seed, logging and the writers of every
    output file. ``record=True`` (the runner's main process) writes ``config.yaml`` and
    ``plugins.json``."""

    def __init__(self, config: RunConfig, output_dir: Path, device: torch.device, registry: Registry | None,
                 quiet: bool = False, progress: Callable[..., Iterable] | None = None, record: bool = False):
        super().__init__(registry, device)
        self.config = config
        self._output_dir = Path(output_dir)
        self.record = record
        self.started = False
        self.seed = config.seed
        self.quiet = quiet
        self._progress = progress
        self._writer = None
        self.metrics_written = False

    def generator(self, offset: int = 0) -> torch.Generator:
        """A CPU ``torch.Generator`` seeded from the run seed (plus ``offset``)."""
        return torch.Generator().manual_seed(self.seed + offset)

    # ----------------------------------------------------------------- progress / logs
    def progress(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 **kw: Any):
        if self._progress is not None:  # the caller's own reporter (e.g. the browser editor's bar)
            return self._progress(iterable, total=total, desc=desc)
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, disable=self.quiet, leave=False,
                    dynamic_ncols=True, **kw)

    def log(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr)

    def warn(self, message: str) -> None:
        """A line the user must see even with ``--quiet`` (a failed item, a skipped input)."""
        from tqdm.auto import tqdm

        tqdm.write(message, file=sys.stderr)  # keeps an active progress bar intact

    # ----------------------------------------------------------------- the folder
    @property
    def output_dir(self) -> Path:
        """The run's output folder; the first access starts the run (writes ``config.yaml``)."""
        self.start()
        return self._output_dir

    def start(self) -> None:
        """Mark the run as started: write ``config.yaml`` and ``plugins.json`` (once, when recording)."""
        if self.started:
            return
        self.started = True
        if self.record:
            atomic_write_text(self._output_dir / "config.yaml", yaml.safe_dump(self.config.resolved(), sort_keys=False))
            self.write_plugins()

    def write_plugins(self) -> None:
        """``plugins.json`` with every component built so far (again at the end of the run)."""
        if self.record:
            atomic_write_json(self._output_dir / "plugins.json", plugins_report(self._registry, self.used))

    def path(self, relpath: str | Path) -> Path:
        """``OUTPUT/relpath`` with its folder created, for files written by other libraries
        (checkpoints: write them through :func:`ganedit.io.atomic.atomic_path`)."""
        p = self.output_dir / relpath
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def writer(self):
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(self.output_dir / "tb"))
        return self._writer

    @property
    def checkpoint_dir(self) -> Path:
        d = self.output_dir / "checkpoints"
        d.mkdir(parents=True, exist_ok=True)
        return d

    @property
    def images_dir(self) -> Path:
        d = self.output_dir / "images"
        d.mkdir(parents=True, exist_ok=True)
        return d

    # ----------------------------------------------------------------- writers
    def save_image(self, relpath: str, image: torch.Tensor) -> Path:
        return save_image(self.images_dir / relpath, image)

    def save_grid(self, relpath: str, images: torch.Tensor, nrow: int = 8) -> Path:
        return save_image(self.images_dir / relpath, make_grid(images.detach().float().cpu(), nrow=nrow))

    def write_json(self, relpath: str | Path, data: Any) -> Path:
        """``OUTPUT/relpath`` as JSON, atomically."""
        path = self.path(relpath)
        atomic_write_json(path, data)
        return path

    def write_text(self, relpath: str | Path, text: str) -> Path:
        path = self.path(relpath)
        atomic_write_text(path, text)
        return path

    def append_line(self, relpath: str | Path, line: str) -> None:
        """Append one line to ``OUTPUT/relpath`` (logs that grow during the run)."""
        with open(self.path(relpath), "a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")

    def write_metrics(self, summary: dict[str, Any], images: list[dict[str, Any]] | None = None) -> Path:
        path = self.write_json("metrics.json", {"summary": summary, "images": images or []})
        self.metrics_written = True
        return path

    def read_metrics(self) -> dict[str, Any] | None:
        """The previous ``metrics.json`` of this output folder (for resume), if readable."""
        path = self._output_dir / "metrics.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
            self._writer = None
