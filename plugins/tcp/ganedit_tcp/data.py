"""Dataset ``cross_domain``: items that hold one image of each of several domains.

For cross-domain style transfer TCP (and SwapAE) are trained jointly on two image sets. Item ``i``
is a stack ``[K, 3, H, W]`` with one image per domain; the trainers lay items out image by image,
so with two domains every swap pair is (domain 0, domain 1) and each step transfers styles
across domains in both directions, while the discriminators see both domains. ``batch_size``
still counts images (it must be a multiple of the number of domains).

Which image of each domain an item holds comes from a fixed, seeded permutation per domain, so
pairings vary from item to item and every image appears about equally often.
"""

from __future__ import annotations

from typing import Any

import torch
from pydantic import Field

import ganedit
from ganedit import Params
from ganedit.config import SlotList
from ganedit.context import builder


class CrossDomainDataset(ganedit.Dataset, name="cross_domain"):
    """One image from each of several datasets (domains) per item, ``[K, 3, H, W]``."""

    class Params(Params):
        domains: SlotList("dataset") = Field(min_length=2, description="one dataset per domain (same resolution)")  # type: ignore[valid-type]
        length: int | None = Field(None, ge=1, description="items per epoch (default: the largest domain)")
        seed: int = Field(0, ge=0, description="seed of the pairing permutations")

    def __init__(self, domains: list[torch.utils.data.Dataset], length: int | None = None, seed: int = 0):
        if len(domains) < 2:
            raise ValueError("cross_domain needs at least two domains")
        sizes = {int(getattr(d, "resolution", -1)) for d in domains}
        if len(sizes) != 1:
            raise ValueError(f"cross_domain: the domains have different resolutions {sorted(sizes)}")
        self.domains = domains
        self.resolution = sizes.pop()
        self.length = int(length or max(len(d) for d in domains))  # type: ignore[arg-type]
        self.images_per_item = len(domains)
        gens = [torch.Generator().manual_seed(seed * 7919 + k) for k in range(len(domains))]
        self._order = [torch.randperm(self.length, generator=g) for g in gens]

    def __len__(self) -> int:
        return self.length

    def index(self, item: int, domain: int) -> int:
        """Which image of ``domain`` item ``item`` holds."""
        return int(self._order[domain][item]) % len(self.domains[domain])  # type: ignore[arg-type]

    def __getitem__(self, item: int) -> torch.Tensor:
        if not 0 <= item < self.length:
            raise IndexError(item)
        return torch.stack([d[self.index(item, k)] for k, d in enumerate(self.domains)])

    @classmethod
    def from_params(cls, params: "CrossDomainDataset.Params", context: Any = None) -> "CrossDomainDataset":
        context = builder(context)
        domains = [context.build("dataset", spec) for spec in params.domains]
        return cls(domains, params.length, params.seed)


__all__ = ["CrossDomainDataset"]
