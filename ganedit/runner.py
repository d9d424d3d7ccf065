"""Running a config: output folder layout, seeding, the run context handed to tasks.

Output folder: ``config.yaml`` (resolved config), ``plugins.json`` (versions of everything used),
``metrics.json`` (``summary`` + ``images``), ``images/`` (PNGs and grids), ``tb/`` (tensorboard),
``checkpoints/`` (training tasks). Every file is written atomically.

A run holds the folder's lock (:mod:`ganedit.io.output`) from before the task is built until it
ends. ``config.yaml`` and ``plugins.json`` are written when the run *starts*: the first time the
task touches its output folder (``context.output_dir`` and every writing helper), i.e. after the
config validated and the task built its components. A run that fails before that leaves an
existing folder as it was (and removes a folder it created).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
import yaml

from ganedit.config import ComponentSpec, RunConfig, validate_component, validate_config, ConfigError
from ganedit.io.atomic import atomic_write_json, atomic_write_text
from ganedit.io.images import make_grid, save_image
from ganedit.io.output import locked_folder
from ganedit.registry import Registry, load_registry


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device: 'cuda' was requested but no CUDA device is available")
    return torch.device(name)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``None``: leave the count alone), then restore the
    previous count, so that in-process callers (the Python API, tests) keep their setting."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


class RunContext:
    """What a task gets: output folder, device, seed, builders, logging and writing helpers."""

    def __init__(self, config: RunConfig, output_dir: Path, device: torch.device,
                 registry: Registry, quiet: bool = False, on_start: Callable[["RunContext"], None] | None = None,
                 progress: Callable[..., Iterable] | None = None):
        self.config = config
        self._output_dir = Path(output_dir)
        self._on_start = on_start
        self.started = False
        self.device = device
        self.seed = config.seed
        self.registry = registry
        self.quiet = quiet
        self._progress = progress
        self._writer = None
        self.metrics_written = False
        self.used: dict[str, set[str]] = {}

    # ----------------------------------------------------------------- components
    def build(self, kind: str, spec: ComponentSpec | dict, **context: Any) -> Any:
        """Build a component from a slot value; modules are moved to the run's device."""
        if isinstance(spec, ComponentSpec) and spec.validated is not None:
            entry, params = spec.entry, spec.validated
        else:
            entry, params, problems = validate_component(self.registry, kind, spec, path=kind)
            if problems:
                raise ConfigError(problems)
        self.used.setdefault(entry.dist, set()).add(f"{kind}:{entry.name}")
        obj = entry.cls.from_params(params, registry=self.registry, device=self.device, **context)
        if isinstance(obj, torch.nn.Module):
            obj = obj.to(self.device)
        return obj

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

    @property
    def output_dir(self) -> Path:
        """The run's output folder; the first access starts the run (writes ``config.yaml``)."""
        self.start()
        return self._output_dir

    def start(self) -> None:
        """Mark the run as started: write ``config.yaml`` and ``plugins.json`` (once)."""
        if self.started:
            return
        self.started = True
        if self._on_start is not None:
            self._on_start(self)

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

    # ----------------------------------------------------------------- outputs
    def save_image(self, relpath: str, image: torch.Tensor) -> Path:
        return save_image(self.images_dir / relpath, image)

    def save_grid(self, relpath: str, images: torch.Tensor, nrow: int = 8) -> Path:
        return save_image(self.images_dir / relpath, make_grid(images.detach().float().cpu(), nrow=nrow))

    def write_metrics(self, summary: dict[str, Any], images: list[dict[str, Any]] | None = None) -> Path:
        path = self.output_dir / "metrics.json"
        atomic_write_json(path, {"summary": summary, "images": images or []})
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


def plugins_report(registry: Registry) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "plugins": [p.as_dict() for p in registry.plugins],
    }


def default_output(config: RunConfig) -> Path:
    stem = Path(config.source).stem if config.source else config.task
    return Path("runs") / stem


def run(config: RunConfig | dict | str | os.PathLike, output: str | os.PathLike | None = None,
        overrides: list[str] | None = None, device: str | None = None, seed: int | None = None,
        quiet: bool = False, registry: Registry | None = None,
        progress: Callable[..., Iterable] | None = None) -> dict[str, Any]:
    """Validate (if needed) and run a config; returns the ``summary`` written to ``metrics.json``.

    ``progress``, if given, replaces the tqdm bars: ``progress(iterable, total=, desc=)`` must return
    an iterable over ``iterable`` (``ganedit serve`` turns it into the page's progress bar)."""
    from ganedit.config import apply_overrides, read_yaml

    registry = registry or load_registry()
    if isinstance(config, (str, os.PathLike)):
        raw = apply_overrides(read_yaml(config), overrides)
        source = str(config)
    elif isinstance(config, dict):
        raw, source = apply_overrides(config, overrides), None
    else:
        raw, source = (apply_overrides(config.resolved(), overrides) if overrides else None), config.source
    if raw is not None:
        if device is not None:
            raw["device"] = device
        if seed is not None:
            raw["seed"] = seed
        config = validate_config(raw, registry=registry, source=source)
    else:
        updates = {k: v for k, v in (("device", device), ("seed", seed)) if v is not None}
        if updates:
            config = validate_config({**config.resolved(), **updates}, registry=registry, source=source)
    assert isinstance(config, RunConfig)

    out = Path(output or config.output or default_output(config))
    dev = resolve_device(config.device)
    main_process = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes run files
    task_entry = registry.get("task", config.task)

    def write_plugins(context: RunContext) -> None:
        report = plugins_report(registry)
        report["used"] = {dist: sorted(v) for dist, v in context.used.items()}
        atomic_write_json(out / "plugins.json", report)

    def on_start(context: RunContext) -> None:
        if main_process:
            atomic_write_text(out / "config.yaml", yaml.safe_dump(config.resolved(), sort_keys=False))
            write_plugins(context)

    with locked_folder(out, lock=main_process):
        seed_everything(config.seed)
        with torch_threads(config.threads):
            context = RunContext(config, out, dev, registry, quiet=quiet, on_start=on_start,
                                 progress=progress)
            context.used.setdefault(task_entry.dist, set()).add(f"task:{task_entry.name}")
            task = task_entry.cls.from_params(config.params, registry=registry, device=dev)
            try:
                summary = task.run(context) or {}
            finally:
                context.close()
                if context.started and main_process:
                    # Now with every component the run used; when the run is failing anyway (e.g. a
                    # full disk), its own error is the one to report.
                    with contextlib.suppress(OSError) if sys.exc_info()[0] else contextlib.nullcontext():
                        write_plugins(context)
        if not context.metrics_written:
            context.write_metrics(summary)
    return summary
