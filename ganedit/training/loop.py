"""Shared GAN training machinery: the step loop, checkpoints, exact resume, EMA, lazy-reg Adam, DDP.

A concrete trainer subclasses :class:`Trainer` and fills three hooks:

* :meth:`Trainer.build` creates networks, optimizers and EMA copies through :meth:`add_module`,
  :meth:`add_optimizer`, :meth:`add_ema` and the data stream through :meth:`set_data`;
* :meth:`Trainer.train_step` does one iteration and returns its losses (scalar tensors);
* optionally :meth:`sample_images` (grids for TensorBoard / PNG), :meth:`extra_state` /
  :meth:`load_extra_state` (any other state resume needs) and :meth:`finalize` (final artefacts).

:meth:`Trainer.fit` owns everything else: process group, seeding, the progress bar, logging
(TensorBoard scalars and ``train_log.jsonl``), image grids, NaN/inf detection, atomic
checkpoints (``checkpoints/last.pt``, optional ``step-NNNNNNN.pt``), graceful stop on
SIGINT/SIGTERM and exact resume (modules, EMA copies, optimizers, step, torch/numpy/python RNG
states of every process, the data sampler position and the trainer's extra state).

Checkpoints contain only tensors and plain containers so they load with
``torch.load(weights_only=True)``.

Under ``torchrun`` every process runs the same trainer; :meth:`Trainer.add_module` returns a
``DistributedDataParallel`` wrapper (call it for forward passes; ``self.modules[name]`` stays the
bare network for ``requires_grad``, EMA and state dicts). DDP averages gradients in ``backward``
and insists that a backward pass reaching some parameters of a wrapped module reaches all of
them: regularizers whose graph skips parameters (R1 never reaches D's last bias) add
``0 * output`` to the loss, as rosinality's train.py does.
"""

from __future__ import annotations

import abc
import contextlib
import copy
import json
import logging
import math
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
from torch import nn

from ganedit.accel import Accel
from ganedit.distributed import DistInfo, barrier, cleanup, init_distributed, wrap_ddp
from ganedit.io.atomic import atomic_path
from ganedit.io.checkpoint import safe_torch_load
from ganedit.training.data import DataStream
from ganedit.training.optim import accumulate, requires_grad
from ganedit.training.signals import StopFlag, closing, graceful_stop
from ganedit.training.state import (load_trainer_state, preserved_rng, resume_path, seed_everything,
                                    trainer_state)
from ganedit.training.task import TrainParams

log = logging.getLogger(__name__)

LOG_FILE = "train_log.jsonl"
CHECKPOINT_DIR = Path("checkpoints")


class NonFiniteLossError(FloatingPointError):
    """A loss (or, before a checkpoint, a parameter) became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT/SIGTERM after finishing its step and saving a checkpoint."""

    def __init__(self, message: str, summary: dict[str, Any]):
        super().__init__(message)
        self.summary = summary


# --------------------------------------------------------------------------- trainer


class Trainer(abc.ABC):
    """Base class of GAN trainers; see the module docstring for the contract."""

    #: shown in the progress bar and logs
    name: str = "train"
    #: precision under ``precision: auto`` (a trainer may choose bf16 where its loss curve is shown
    #: to follow fp32's; hardware without native bf16 falls back to fp32)
    default_precision: str = "fp32"
    #: channels_last weights and batches on CPU unless the run says otherwise
    default_channels_last: bool = True

    def __init__(self, params: TrainParams, context: Any):
        self.params = params
        self.context = context
        self.modules: dict[str, nn.Module] = {}
        self.wrapped: dict[str, nn.Module] = {}
        self.ema_modules: dict[str, nn.Module] = {}
        self.ema_sources: dict[str, tuple[str, float, bool]] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.data: DataStream | None = None
        self.step = 0
        self.start_step = 0
        self.dist = DistInfo()
        self.device = torch.device("cpu")
        self.last_losses: dict[str, float] = {}
        self.resumed_from: Path | None = None
        self._saved_step: int | None = None
        self._last_good: tuple[Path, int] | None = None
        self._progress: Any = None
        self.accel = Accel(self.device)

    # ------------------------------------------------------------------ subclass hooks
    @abc.abstractmethod
    def build(self) -> None:
        """Create modules, optimizers, EMA copies and the data stream (runs on every process)."""

    @abc.abstractmethod
    def train_step(self, step: int, batch: Any) -> dict[str, torch.Tensor]:
        """One iteration (``step`` counts from 0); returns the losses to log, as scalars."""

    def sample_images(self) -> dict[str, torch.Tensor]:
        """Image batches ``{name: [N, 3, H, W] in [-1, 1]}`` to show (fixed z, reconstructions)."""
        return {}

    def extra_state(self) -> dict[str, Any]:
        """Other state that exact resume needs (tensors / plain values only)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`extra_state`."""

    def finalize(self) -> dict[str, Any]:
        """Write final artefacts (main process only); returns entries for the summary."""
        return {}

    # ------------------------------------------------------------------ registration
    def add_module(self, name: str, module: nn.Module, ddp: bool = True) -> nn.Module:
        """Register a trained network; returns what to call (the DDP wrapper when distributed)."""
        self._check_name(name)
        module = self.accel.module(module.to(self.device))
        self.modules[name] = module
        wrapped = wrap_ddp(module, self.dist) if ddp and any(p.requires_grad for p in module.parameters()) \
            else module
        wrapped = self.accel.compiled(wrapped)
        self.wrapped[name] = wrapped
        return wrapped

    def add_ema(self, name: str, source: str, decay: float, auto: bool = True) -> nn.Module:
        """An exponential-moving-average copy of module ``source`` (eval mode, no gradients).

        With ``auto`` it is updated after every :meth:`train_step`; otherwise call
        :meth:`update_ema` yourself.
        """
        self._check_name(name)
        if source not in self.modules:
            raise KeyError(f"add_ema({name!r}): no module {source!r}; add it first")
        ema = copy.deepcopy(self.modules[source]).eval()
        requires_grad(ema, False)
        self.ema_modules[name] = ema
        self.ema_sources[name] = (source, float(decay), auto)
        return ema

    def add_optimizer(self, name: str, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        if name in self.optimizers:
            raise KeyError(f"optimizer {name!r} registered twice")
        self.optimizers[name] = optimizer
        return optimizer

    def set_data(self, dataset: torch.utils.data.Dataset, batch_size: int | None = None,
                 shuffle: bool = True, collate_fn: Callable | None = None) -> DataStream:
        """Use ``dataset`` for training (sharded across processes, position checkpointed)."""
        self.data = DataStream(dataset, batch_size or self.params.batch_size, seed=self.context.seed,
                               rank=self.dist.rank, world_size=self.dist.world_size, shuffle=shuffle,
                               num_workers=self.params.num_workers, device=self.device,
                               collate_fn=collate_fn)
        return self.data

    def image_dataset(self, spec: Any, who: str, channels: int | None = None) -> tuple[Any, int, int]:
        """``(dataset, side, channels)`` of the dataset slot ``spec``, built through the run context
        and checked to give square images ``[C, R, R]`` (``C == channels`` when given)."""
        dataset = self.context.build("dataset", spec)
        first = dataset[0]
        if isinstance(first, (tuple, list)):
            first = first[0]
        res = int(getattr(dataset, "resolution", first.shape[-1]))
        if first.ndim != 3 or tuple(first.shape[-2:]) != (res, res) or channels not in (None, first.shape[0]):
            raise ValueError(f"{who} needs square images [{channels or 'C'}, {res}, {res}], the dataset gives "
                             f"{tuple(first.shape)}")
        return dataset, res, int(first.shape[0])

    def _check_name(self, name: str) -> None:
        if name in self.modules or name in self.ema_modules:
            raise KeyError(f"module {name!r} registered twice")

    # ------------------------------------------------------------------ step helpers
    def update_ema(self, name: str, decay: float | None = None) -> None:
        source, default, _ = self.ema_sources[name]
        accumulate(self.ema_modules[name], self.modules[source], default if decay is None else decay)

    def optimize(self, optimizer: str, loss: torch.Tensor) -> None:
        """``zero_grad``, ``backward``, ``step`` for the named optimizer (backward outside autocast,
        loss-scaled under fp16: :meth:`ganedit.accel.Accel.backward`)."""
        opt = self.optimizers[optimizer]
        opt.zero_grad(set_to_none=True)
        self.accel.backward(loss, [opt])

    def regularizer(self) -> contextlib.AbstractContextManager:
        """Context of a regularizer that differentiates twice (R1, path length): float32, eager."""
        return self.accel.full_precision()

    @staticmethod
    def due(step: int, every: int) -> bool:
        """Lazy-regularization schedule: True at iterations 0, k, 2k, ... (never when ``k <= 0``)."""
        return every > 0 and step % every == 0

    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    # ------------------------------------------------------------------ paths
    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.context.output_dir) / CHECKPOINT_DIR

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything exact resume needs (:func:`ganedit.training.state.trainer_state`)."""
        return trainer_state(self)

    def load_state_dict(self, state: dict[str, Any], source: str = "checkpoint") -> None:
        """Restore :meth:`state_dict` output; mismatches raise :class:`CheckpointError`."""
        load_trainer_state(self, state, source)

    # ------------------------------------------------------------------ checkpoints
    def _check_parameters_finite(self) -> None:
        for group in (self.modules, self.ema_modules):
            for mname, module in group.items():
                for pname, p in module.named_parameters():
                    if not torch.isfinite(p).all():
                        raise NonFiniteLossError(self._nonfinite_message(
                            f"parameter {mname}.{pname} is not finite"))

    def save_checkpoint(self) -> Path | None:
        """Write ``checkpoints/last.pt`` (and a step snapshot when due) atomically.

        Runs on every process (the RNG gather is collective); only the main process writes.
        Refuses to save non-finite parameters, so ``last.pt`` always stays the last good state.
        """
        self._check_parameters_finite()
        state = self.state_dict()
        path = self.last_checkpoint
        if self.is_main:
            with atomic_path(self.context.path(CHECKPOINT_DIR / path.name)) as tmp:
                torch.save(state, tmp)
            snap = self.params.snapshot_every
            if snap and self.step % snap == 0:
                with atomic_path(self.context.path(CHECKPOINT_DIR / f"step-{self.step:07d}.pt")) as tmp:
                    shutil.copyfile(path, tmp)
        barrier(self.dist)
        self._saved_step = self.step
        self._last_good = (path, self.step)
        return path

    def _nonfinite_message(self, what: str) -> str:
        where = (f"the last good checkpoint is {self._last_good[0]} (step {self._last_good[1]})"
                 if self._last_good else "no checkpoint was written")
        return f"training diverged at step {self.step}/{self.params.steps}: {what}; stopped, {where}"

    # ------------------------------------------------------------------ logging
    #: settings that may change between a run and its resumption without comment
    BOOKKEEPING = frozenset({"steps", "resume", "log_every", "sample_every", "checkpoint_every",
                             "snapshot_every", "num_workers"})

    def _changed_settings(self, old: dict[str, Any]) -> list[str]:
        new = json.loads(json.dumps(self.params.model_dump(mode="json")))
        return sorted(k for k in set(old) | set(new) if k not in self.BOOKKEEPING and old.get(k) != new.get(k))

    def _say(self, message: str) -> None:
        """A one-line note on stderr (main process, unless quiet)."""
        if not self.is_main:
            return
        say = getattr(self.context, "log", None)
        if callable(say):
            say(message)
        else:
            log.info(message)

    def _log_path(self) -> Path:
        return Path(self.context.output_dir) / LOG_FILE

    def _open_log(self, start: int) -> None:
        """Keep log lines up to ``start`` (drop those of steps the resumed run will redo)."""
        if not self.is_main:
            return
        path = self._log_path()
        kept: list[str] = []
        if start > 0 and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    if json.loads(line).get("step", 0) <= start:
                        kept.append(line)
                except json.JSONDecodeError:
                    break
        self.context.write_text(LOG_FILE, "".join(line + "\n" for line in kept))

    def _log(self, losses: dict[str, float], images_per_sec: float) -> None:
        if not self.is_main:
            return
        self.context.append_line(LOG_FILE, json.dumps({"step": self.step, **losses}))
        writer = self._writer()
        if writer is not None:
            for k, v in losses.items():
                writer.add_scalar(f"loss/{k}", v, self.step)
            writer.add_scalar("speed/images_per_sec", images_per_sec, self.step)
        if self._progress is not None and hasattr(self._progress, "set_postfix"):
            self._progress.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)

    def _writer(self) -> Any:
        return getattr(self.context, "writer", None)

    def _sample(self) -> None:
        """Image grids (main process only); RNG states are preserved so that sampling never changes
        the training stream (an uninterrupted and a resumed run stay identical)."""
        if not self.is_main:
            return
        with preserved_rng(self.device), torch.no_grad():
            images = self.sample_images()
        writer = self._writer()
        for name, imgs in images.items():
            imgs = imgs.detach().float().cpu().clamp(-1, 1)
            nrow = max(1, int(math.ceil(math.sqrt(imgs.shape[0]))))
            self.context.save_grid(f"{name}/step-{self.step:07d}.png", imgs, nrow=nrow)
            if writer is not None:
                writer.add_images(f"images/{name}", (imgs + 1) / 2, self.step)

    # ------------------------------------------------------------------ main loop
    def fit(self) -> dict[str, Any]:
        """Train to ``params.steps`` (resuming when asked); returns the run summary."""
        self.dist = init_distributed(getattr(self.context, "device", "cpu"))
        self.device = self.dist.device
        try:
            return self._fit()
        finally:
            if self.data is not None:
                self.data.close()
            cleanup(self.dist)

    def _fit(self) -> dict[str, Any]:
        ctx, p = self.context, self.params
        resume = resume_path(self.params.resume, self.last_checkpoint)
        state = safe_torch_load(resume) if resume is not None else None
        self.accel = Accel.from_context(ctx, self.device, self.default_precision,
                                        self.default_channels_last and self.device.type == "cpu",
                                        resumed=state.get("precision") if isinstance(state, dict) else None)
        if self.accel.precision != "fp32" or self.accel.compile:
            self._say(f"{self.name}: {self.accel.describe()}")
        # Same seed everywhere while building, so every process starts from identical weights
        # (DDP also broadcasts rank 0's), then one noise stream per process.
        seed_everything(ctx.seed)
        self.build()
        if self.data is None:
            raise RuntimeError(f"{type(self).__name__}.build() must call set_data(dataset)")
        seed_everything(ctx.seed + self.dist.rank)

        if resume is not None:
            self.load_state_dict(state, source=str(resume))
            self.resumed_from = resume
            self._saved_step = self.step
            self._last_good = (resume, self.step)
            self._say(f"resumed from {resume} at step {self.step}")
            changed = self._changed_settings(state.get("params") or {})
            if changed:
                self._say(f"note: resuming with changed settings: {', '.join(changed)}")
        self.start_step = start = self.step
        self._open_log(start)

        steps = range(start, p.steps)
        self._progress = None
        iterator: Iterable[int] = steps
        if self.is_main and not getattr(ctx, "quiet", False) and hasattr(ctx, "progress"):
            iterator = self._progress = ctx.progress(steps, total=len(steps), desc=self.name)

        for m in self.modules.values():
            m.train()
        interrupted: StopFlag | None = None
        t0 = time.perf_counter()
        with graceful_stop() as stop, closing(self._progress):
            for step in iterator:
                batch = self.accel.batch(next(self.data))
                with self.accel.autocast():
                    losses = self.train_step(step, batch)
                for name, (_, _, auto) in self.ema_sources.items():
                    if auto:
                        self.update_ema(name)
                self.step = step + 1
                values, stop_all = self._gather_losses(losses, stop.requested)
                bad = {k: v for k, v in values.items() if not math.isfinite(v)}
                if bad:
                    what = ", ".join(f"loss {k} = {v}" for k, v in bad.items())
                    raise NonFiniteLossError(self._nonfinite_message(what))
                self.last_losses = values
                elapsed = max(time.perf_counter() - t0, 1e-9)
                ips = (self.step - start) * self._images_per_step() / elapsed
                if self.step % p.log_every == 0 or self.step == p.steps:
                    self._log(values, ips)
                if p.sample_every and self.step % p.sample_every == 0:
                    self._sample()
                if p.checkpoint_every and self.step % p.checkpoint_every == 0:
                    self.save_checkpoint()
                if stop_all:
                    interrupted = stop
                    break
        elapsed = time.perf_counter() - t0

        if self._saved_step != self.step:
            self.save_checkpoint()
        done = self.step - start
        summary: dict[str, Any] = {
            "steps": self.step,
            "target_steps": p.steps,
            "start_step": start,
            "resumed_from": str(self.resumed_from) if self.resumed_from else None,
            "world_size": self.dist.world_size,
            "batch_size": p.batch_size,
            "images_seen": self.step * self._images_per_step(),
            "elapsed_s": round(elapsed, 3),
            "images_per_sec": round(done * self._images_per_step() / elapsed, 3) if done and elapsed > 0
            else 0.0,
            "final_losses": dict(self.last_losses),
            "checkpoint": str(self.last_checkpoint),
            "interrupted": interrupted is not None,
        }
        if interrupted is None:
            if not (p.sample_every and self.step % p.sample_every == 0 and done):
                self._sample()
            if self.is_main:
                summary.update(self.finalize())
        barrier(self.dist)
        writer = self._writer() if self.is_main else None
        if writer is not None and hasattr(writer, "flush"):
            writer.flush()
        if not self.is_main and hasattr(ctx, "metrics_written"):
            ctx.metrics_written = True  # the runner on other processes must not race rank 0's metrics.json
        if interrupted is not None:
            if self.is_main and hasattr(ctx, "write_metrics"):
                ctx.write_metrics(summary)
            raise TrainingInterrupted(
                f"training interrupted by signal {interrupted.signum} at step {self.step}/{p.steps}; "
                f"checkpoint saved to {self.last_checkpoint} (rerun with resume: true to continue)",
                summary)
        return summary

    def _images_per_step(self) -> int:
        bs = self.data.batch_size if self.data is not None else self.params.batch_size
        return bs * self.dist.world_size

    def _gather_losses(self, losses: dict[str, Any], stop: bool) -> tuple[dict[str, float], bool]:
        """Losses as floats (averaged over processes) and whether any process wants to stop.

        One small all-reduce per step: NaN on any process reaches every process, so all of them
        stop together instead of leaving the others waiting in a collective.
        """
        keys = sorted(losses)
        vec = torch.stack([torch.as_tensor(losses[k]).detach().float().reshape(()).to(self.device)
                           for k in keys] + [torch.tensor(float(stop), device=self.device)])
        if self.dist.distributed:
            import torch.distributed as dist

            dist.all_reduce(vec, op=dist.ReduceOp.SUM)
            vec[:-1] /= self.dist.world_size
        vals = vec.tolist()
        return dict(zip(keys, vals[:-1])), vals[-1] > 0


def read_train_log(output_dir: str | Path) -> list[dict[str, float]]:
    """The ``train_log.jsonl`` entries of a run (``[{'step': n, loss: value, ...}, ...]``)."""
    path = Path(output_dir) / LOG_FILE
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


__all__ = ["LOG_FILE", "NonFiniteLossError", "Trainer", "TrainingInterrupted", "read_train_log"]
