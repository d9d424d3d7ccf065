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
import random
import shutil
import signal
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from pydantic import Field
from torch import nn

from ganedit.accel import Accel, fast_adam_options
from ganedit.distributed import (
    DistInfo,
    all_gather_object,
    barrier,
    cleanup,
    init_distributed,
    unwrap,
    wrap_ddp,
)
from ganedit.interfaces import Params
from ganedit.io.atomic import atomic_path, atomic_write_text
from ganedit.io.checkpoint import CheckpointError, safe_torch_load

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "ganedit.training"
CHECKPOINT_VERSION = 1
LOG_FILE = "train_log.jsonl"


class NonFiniteLossError(FloatingPointError):
    """A loss (or, before a checkpoint, a parameter) became NaN or infinite."""


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT/SIGTERM after finishing its step and saving a checkpoint."""

    def __init__(self, message: str, summary: dict[str, Any]):
        super().__init__(message)
        self.summary = summary


# --------------------------------------------------------------------------- small helpers


@torch.no_grad()
def accumulate(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` for parameters; buffers are copied.

    Copying buffers keeps running statistics and fixed noise maps of the EMA copy equal to the
    trained model's (rosinality's ``accumulate`` skips them, which leaves ``g_ema``'s noise
    buffers different from ``g``'s). One multi-tensor (``_foreach``) call per operation: the same
    arithmetic as a loop over the tensors, without the per-tensor Python cost.
    """
    model = unwrap(model)
    ema_params = dict(ema.named_parameters())
    names = [n for n, _ in model.named_parameters()]
    if names:
        dst = [ema_params[n] for n in names]
        torch._foreach_mul_(dst, decay)
        torch._foreach_add_(dst, [p.detach() for p in model.parameters()], alpha=1.0 - decay)
    ema_buffers = dict(ema.named_buffers())
    pairs = [(ema_buffers[n], b) for n, b in model.named_buffers()]
    if pairs:
        torch._foreach_copy_([d for d, _ in pairs], [b for _, b in pairs])


def requires_grad(module: nn.Module, flag: bool) -> None:
    """Switch gradient tracking for all parameters of ``module``."""
    for p in module.parameters():
        p.requires_grad_(flag)


def lazy_ratio(reg_every: int) -> float:
    """``c = k / (k + 1)``: the share of optimizer steps that are regular ones (1 when ``k == 0``)."""
    return reg_every / (reg_every + 1) if reg_every > 0 else 1.0


def make_adam(params: Iterable[torch.Tensor] | Iterable[dict[str, Any]], lr: float,
              betas: tuple[float, float] = (0.0, 0.99), reg_every: int = 0,
              eps: float = 1e-8) -> torch.optim.Adam:
    """Adam with StyleGAN2's lazy-regularization correction.

    A regularizer applied every ``reg_every`` steps adds one extra optimizer step per ``reg_every``
    regular ones; scaling ``lr`` by ``c = k/(k+1)`` and raising ``betas`` to ``c`` keeps the
    per-image learning dynamics of the non-lazy schedule (Karras et al. 2020, appendix B).
    """
    c = lazy_ratio(reg_every)
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=eps,
                            **fast_adam_options())



def seed_everything(seed: int) -> None:
    """Seed torch (all devices), numpy's global RNG and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    random.seed(seed)


def capture_rng_state() -> dict[str, Any]:
    """The RNG states of this process as tensors / plain values (``weights_only``-loadable)."""
    np_state = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "gauss": float(np_state[4]),
        },
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64),
                   "gauss": py_gauss},
        "cuda": [],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    torch.set_rng_state(state["torch"].to(torch.uint8).cpu())
    npst = state["numpy"]
    np.random.set_state(("MT19937", npst["keys"].numpy().astype(np.uint32), int(npst["pos"]),
                         int(npst["has_gauss"]), float(npst["gauss"])))
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    cuda = state.get("cuda") or []
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.to(torch.uint8) for s in cuda])


@contextlib.contextmanager
def _preserved_rng(device: torch.device) -> Iterator[None]:
    """Run a block without advancing any RNG (torch CPU/CUDA, numpy, Python)."""
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def move_to(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move tensors inside (nested) lists/tuples/dicts to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: move_to(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device, non_blocking) for v in batch)
    return batch


# --------------------------------------------------------------------------- data


class DataStream:
    """A deterministic, infinite stream of batches whose position can be checkpointed.

    Each epoch's order comes from a :class:`~torch.utils.data.DistributedSampler` seeded with
    ``seed`` and the epoch number (one shard per process; a single shard without DDP). Batches run
    across epoch boundaries, so every sample is used and the position is simply ``(epoch, offset)``
    in samples, independent of the batch size (which may change during training).
    With ``num_workers > 0`` a DataLoader prefetches, but the position still counts only the batches
    actually handed out, so resume is exact as long as the dataset itself is deterministic.
    """

    def __init__(self, dataset: torch.utils.data.Dataset, batch_size: int, *, seed: int = 0,
                 rank: int = 0, world_size: int = 1, shuffle: bool = True, num_workers: int = 0,
                 device: torch.device | str = "cpu", collate_fn: Callable | None = None):
        if len(dataset) == 0:  # type: ignore[arg-type]
            raise ValueError(f"training dataset {type(dataset).__name__} is empty")
        self.dataset = dataset
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.shuffle = shuffle
        self.num_workers = num_workers
        self.device = torch.device(device)
        self.collate_fn = collate_fn or torch.utils.data.default_collate
        self.epoch = 0
        self.offset = 0
        self._batch_size = batch_size
        self._order: list[int] | None = None
        self._order_epoch = -1
        self._loader_iter: Iterator | None = None

    # ---- position
    @property
    def batch_size(self) -> int:
        return self._batch_size

    @batch_size.setter
    def batch_size(self, value: int) -> None:
        if value != self._batch_size:
            self._batch_size = value
            self._reset_loader()

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "offset": self.offset, "seed": self.seed,
                "world_size": self.world_size, "shuffle": self.shuffle}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self.offset = int(state["offset"])
        self._reset_loader()

    # ---- indices
    def epoch_indices(self, epoch: int) -> list[int]:
        """This process's sample order for ``epoch``."""
        if self._order_epoch != epoch:
            sampler = torch.utils.data.DistributedSampler(
                self.dataset, num_replicas=self.world_size, rank=self.rank, shuffle=self.shuffle,
                seed=self.seed, drop_last=False)
            sampler.set_epoch(epoch)
            self._order = list(sampler)
            self._order_epoch = epoch
        assert self._order is not None
        return self._order

    def _take(self, epoch: int, offset: int, n: int) -> tuple[list[int], int, int]:
        out: list[int] = []
        while len(out) < n:
            order = self.epoch_indices(epoch)
            chunk = order[offset:offset + n - len(out)]
            out.extend(chunk)
            offset += len(chunk)
            if offset >= len(order):
                epoch, offset = epoch + 1, 0
        return out, epoch, offset

    def _advance(self, n: int) -> None:
        _, self.epoch, self.offset = self._take(self.epoch, self.offset, n)

    # ---- batches
    def __iter__(self) -> "DataStream":
        return self

    def __next__(self) -> Any:
        if self.num_workers <= 0:
            idx, self.epoch, self.offset = self._take(self.epoch, self.offset, self._batch_size)
            batch = self.collate_fn([self.dataset[i] for i in idx])
        else:
            if self._loader_iter is None:
                self._loader_iter = iter(self._make_loader())
            batch = next(self._loader_iter)
            self._advance(self._batch_size)
        return move_to(batch, self.device, non_blocking=self.device.type == "cuda")

    def _batches_from(self, epoch: int, offset: int) -> Iterator[list[int]]:
        stream = copy.copy(self)
        stream._loader_iter = None
        while True:
            idx, epoch, offset = stream._take(epoch, offset, self._batch_size)
            yield idx

    def _make_loader(self) -> torch.utils.data.DataLoader:
        start = (self.epoch, self.offset)
        # A private generator: DataLoader draws its worker base seed from it, so creating the
        # loader (again, on resume) never advances the global torch RNG.
        gen = torch.Generator().manual_seed(self.seed + 7919 * self.rank)
        return torch.utils.data.DataLoader(
            self.dataset, batch_sampler=_BatchSampler(self, *start), num_workers=self.num_workers,
            collate_fn=self.collate_fn, pin_memory=self.device.type == "cuda", generator=gen)

    def _reset_loader(self) -> None:
        self._loader_iter = None

    def close(self) -> None:
        self._loader_iter = None


class _BatchSampler:
    """Infinite index batches starting at a stream position (for DataLoader workers)."""

    def __init__(self, stream: DataStream, epoch: int, offset: int):
        self.stream, self.epoch, self.offset = stream, epoch, offset

    def __iter__(self) -> Iterator[list[int]]:
        return self.stream._batches_from(self.epoch, self.offset)


# --------------------------------------------------------------------------- params


class TrainParams(Params):
    """Options every trainer shares (a task's Params subclass this and add its own)."""

    steps: int = Field(10000, ge=1, description="total number of training iterations")
    batch_size: int = Field(16, ge=1, description="images per iteration per process")
    log_every: int = Field(10, ge=1, description="iterations between loss logs (TensorBoard, train_log.jsonl)")
    sample_every: int = Field(500, ge=0, description="iterations between image grids (0: only at the end)")
    checkpoint_every: int = Field(1000, ge=0, description="iterations between checkpoints/last.pt "
                                                         "(0: only at exit)")
    snapshot_every: int = Field(0, ge=0, description="also keep checkpoints/step-NNNNNNN.pt every this "
                                                     "many iterations (0: never)")
    resume: bool | str = Field(True, description="true: continue from OUTPUT/checkpoints/last.pt if "
                                                 "it exists; false: start fresh; or a checkpoint path")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes per training process")


# --------------------------------------------------------------------------- trainer


class _StopFlag:
    def __init__(self) -> None:
        self.requested = False
        self.signum: int | None = None


@contextlib.contextmanager
def _graceful_stop() -> Iterator[_StopFlag]:
    """Turn the first SIGINT/SIGTERM into a request to stop after the current step.

    A second signal gets the previous handler (for Ctrl-C: an immediate KeyboardInterrupt).
    """
    flag = _StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    signums = [signal.SIGINT, signal.SIGTERM]
    old = {s: signal.getsignal(s) for s in signums}

    def handler(signum: int, frame: Any) -> None:
        flag.requested, flag.signum = True, signum
        for s in signums:
            signal.signal(s, old[s])
        log.warning("received signal %d: stopping after this step (send again to abort now)", signum)

    for s in signums:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        for s in signums:
            signal.signal(s, old[s])


@contextlib.contextmanager
def _closing(progress: Any) -> Iterator[None]:
    try:
        yield
    finally:
        if callable(getattr(progress, "close", None)):
            progress.close()


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
        return Path(self.context.output_dir) / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoint_dir / "last.pt"

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything exact resume needs. Collective under DDP (gathers every process's RNG)."""
        rng = all_gather_object(capture_rng_state(), self.dist)
        return {
            "format": CHECKPOINT_FORMAT,
            "version": CHECKPOINT_VERSION,
            "trainer": type(self).__name__,
            "step": self.step,
            "world_size": self.dist.world_size,
            "modules": {n: m.state_dict() for n, m in self.modules.items()},
            "ema": {n: m.state_dict() for n, m in self.ema_modules.items()},
            "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
            "data": self.data.state_dict() if self.data is not None else {},
            "rng": rng,
            "extra": self.extra_state(),
            "losses": dict(self.last_losses),
            "params": json.loads(json.dumps(self.params.model_dump(mode="json"))),
        }

    def load_state_dict(self, state: dict[str, Any], source: str = "checkpoint") -> None:
        """Restore :meth:`state_dict` output; mismatches raise :class:`CheckpointError`."""
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{source}: not a ganedit training checkpoint (expected a dict with "
                                  f"format={CHECKPOINT_FORMAT!r})")
        for group, mine in (("modules", self.modules), ("ema", self.ema_modules)):
            theirs = state.get(group, {})
            if set(theirs) != set(mine):
                raise CheckpointError(f"{source}: {group} {sorted(theirs)} do not match this trainer's "
                                      f"{sorted(mine)}")
            for name, module in mine.items():
                try:
                    module.load_state_dict(theirs[name], strict=True)
                except RuntimeError as exc:
                    first = " ".join(str(exc).split())[:400]
                    raise CheckpointError(f"{source}: {group[:-1] if group == 'modules' else group} "
                                          f"{name!r} does not match this run's architecture: {first}") from None
        theirs = state.get("optimizers", {})
        if set(theirs) != set(self.optimizers):
            raise CheckpointError(f"{source}: optimizers {sorted(theirs)} do not match this trainer's "
                                  f"{sorted(self.optimizers)}")
        for name, opt in self.optimizers.items():
            try:
                opt.load_state_dict(theirs[name])
            except (ValueError, KeyError) as exc:
                raise CheckpointError(f"{source}: optimizer {name!r} state does not fit: {exc}") from None
        if self.data is not None and state.get("data"):
            self.data.load_state_dict(state["data"])
        self.load_extra_state(state.get("extra", {}))
        self.step = int(state["step"])
        self.last_losses = {k: float(v) for k, v in state.get("losses", {}).items()}
        rng = state.get("rng") or []
        if len(rng) == self.dist.world_size:
            restore_rng_state(rng[self.dist.rank])
        else:
            # Another process count: the data shards differ anyway, so exactness is impossible;
            # continue with fresh, still deterministic, per-process streams.
            self._say(f"note: {source} was written by {len(rng)} process(es), this run has "
                      f"{self.dist.world_size}: RNG streams are reseeded (resume is not bit-exact)")
            seed_everything(self.context.seed + 1_000_003 * self.step + self.dist.rank)

    # ------------------------------------------------------------------ checkpoints
    def _resume_path(self) -> Path | None:
        resume = self.params.resume
        if resume is False:
            return None
        if resume is True:
            return self.last_checkpoint if self.last_checkpoint.is_file() else None
        p = Path(str(resume)).expanduser()
        if p.is_dir():
            for cand in (p / "checkpoints" / "last.pt", p / "last.pt"):
                if cand.is_file():
                    return cand
            raise CheckpointError(f"{p}: resume folder has no checkpoints/last.pt")
        if not p.is_file():
            raise CheckpointError(f"{p}: resume checkpoint not found")
        return p

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
            with atomic_path(path) as tmp:
                torch.save(state, tmp)
            snap = self.params.snapshot_every
            if snap and self.step % snap == 0:
                with atomic_path(self.checkpoint_dir / f"step-{self.step:07d}.pt") as tmp:
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
        atomic_write_text(path, "".join(line + "\n" for line in kept))

    def _log(self, losses: dict[str, float], images_per_sec: float) -> None:
        if not self.is_main:
            return
        with open(self._log_path(), "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": self.step, **losses}) + "\n")
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
        with _preserved_rng(self.device), torch.no_grad():
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
        self.accel = Accel.from_context(ctx, self.device, self.default_precision,
                                        self.default_channels_last and self.device.type == "cpu")
        if self.accel.precision != "fp32" or self.accel.compile:
            self._say(f"{self.name}: {self.accel.describe()}")
        # Same seed everywhere while building, so every process starts from identical weights
        # (DDP also broadcasts rank 0's), then one noise stream per process.
        seed_everything(ctx.seed)
        self.build()
        if self.data is None:
            raise RuntimeError(f"{type(self).__name__}.build() must call set_data(dataset)")
        seed_everything(ctx.seed + self.dist.rank)

        resume = self._resume_path()
        if resume is not None:
            state = safe_torch_load(resume)
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
        interrupted: _StopFlag | None = None
        t0 = time.perf_counter()
        with _graceful_stop() as stop, _closing(self._progress):
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


__all__ = [
    "DataStream",
    "NonFiniteLossError",
    "TrainParams",
    "Trainer",
    "TrainingInterrupted",
    "accumulate",
    "capture_rng_state",
    "lazy_ratio",
    "make_adam",
    "move_to",
    "read_train_log",
    "requires_grad",
    "restore_rng_state",
    "seed_everything",
]
