"""Running a config: validation (once), seeding, threads, the output folder's lock, the task.

The run holds the folder's lock (:mod:`ganedit.io.output`) from before the task is built until it
ends. The :class:`~ganedit.context.RunContext` writes every output file: ``config.yaml`` and
``plugins.json`` when the run *starts* (the first time the task touches its output folder, i.e.
after the config validated and the task built its components), ``metrics.json``, images, logs and
checkpoints while it runs. A run that fails before starting leaves an existing folder as it was
(and removes a folder it created).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch

from ganedit.accel import unused_run_options
from ganedit.config import ConfigError, RunConfig, apply_overrides, read_yaml, validate_config
from ganedit.context import RunContext
from ganedit.io.output import locked_folder
from ganedit.registry import Registry, load_registry
from ganedit.training.state import seed_everything


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


def default_output(config: RunConfig) -> Path:
    stem = Path(config.source).stem if config.source else config.task
    return Path("runs") / stem


def prepare_config(config: RunConfig | dict | str | os.PathLike, overrides: list[str] | None = None,
                   device: str | None = None, seed: int | None = None,
                   registry: Registry | None = None) -> RunConfig:
    """A validated config from a path, a dict or a :class:`RunConfig`, with ``--set`` overrides and
    ``device`` / ``seed`` applied before its one validation (a validated config only gets the
    changed keys validated)."""
    updates = {k: v for k, v in (("device", device), ("seed", seed)) if v is not None}
    if isinstance(config, (str, os.PathLike)):
        raw, source = apply_overrides(read_yaml(config), overrides), str(config)
    elif isinstance(config, dict):
        raw, source = apply_overrides(config, overrides), None
    elif overrides:
        raw, source = apply_overrides(config.resolved(), overrides), config.source
    else:
        return config.override(**updates) if updates else config
    return validate_config({**raw, **updates}, registry=registry, source=source)


def run(config: RunConfig | dict | str | os.PathLike, output: str | os.PathLike | None = None,
        overrides: list[str] | None = None, device: str | None = None, seed: int | None = None,
        quiet: bool = False, registry: Registry | None = None,
        progress: Callable[..., Iterable] | None = None) -> dict[str, Any]:
    """Validate (if needed) and run a config; returns the ``summary`` written to ``metrics.json``.

    ``progress``, if given, replaces the tqdm bars: ``progress(iterable, total=, desc=)`` must return
    an iterable over ``iterable`` (``ganedit serve`` turns it into the page's progress bar)."""
    registry = registry or load_registry()
    config = prepare_config(config, overrides, device, seed, registry)
    out = Path(output or config.output or default_output(config))
    dev = resolve_device(config.device)
    main_process = int(os.environ.get("RANK", "0")) == 0  # under torchrun only rank 0 writes run files
    task_entry = registry.get("task", config.task)

    with locked_folder(out, lock=main_process):
        seed_everything(config.seed)
        with torch_threads(config.threads):
            context = RunContext(config, out, dev, registry, quiet=quiet, progress=progress, record=main_process)
            task = context.create(task_entry, config.params)
            try:
                summary = task.run(context) or {}
                unused = [] if getattr(context, "run_options_used", False) else unused_run_options(config)
                if unused:
                    context.log(f"{config.task}: {', '.join(unused)} had no effect (this task does not use "
                                f"the run options; it ran in fp32, eagerly)")
            finally:
                context.close()
                if context.started:
                    # Now with every component the run used; when the run is failing anyway (e.g. a
                    # full disk), its own error is the one to report.
                    with contextlib.suppress(OSError) if sys.exc_info()[0] else contextlib.nullcontext():
                        context.write_plugins()
        if not context.metrics_written:
            context.write_metrics(summary)
    return summary


__all__ = ["RunContext", "default_output", "prepare_config", "resolve_device", "run", "seed_everything",
           "torch_threads"]
