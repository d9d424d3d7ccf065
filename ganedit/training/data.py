"""The training data stream: deterministic, sharded, infinite, with a checkpointable position."""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterator

import torch


def move_to(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move tensors inside (nested) lists/tuples/dicts to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: move_to(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to(v, device, non_blocking) for v in batch)
    return batch


def fetch(dataset: torch.utils.data.Dataset, indices: list[int]) -> list[Any]:
    """The samples at ``indices``: through the dataset's ``__getitems__`` when it has one (as a
    DataLoader does; e.g. the procedural dataset renders a whole batch at once), else one by one."""
    getitems = getattr(dataset, "__getitems__", None)
    return list(getitems(indices)) if getitems else [dataset[i] for i in indices]


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
            batch = self.collate_fn(fetch(self.dataset, idx))
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
