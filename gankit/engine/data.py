"""Deterministic, resumable batches: the order depends only on (seed, epoch), never on the past."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochSampler(Sampler[int]):
    """A permutation of the dataset fixed by (seed, epoch), sharded across ranks, from a position.

    Resuming at step ``s`` builds the sampler for epoch ``s // steps_per_epoch`` and skips the
    batches already seen, so a resumed run draws exactly the batches an uninterrupted one would.
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        seed: int,
        epoch: int,
        start_batch: int,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ) -> None:
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.start_batch, self.rank, self.world_size, self.shuffle = (
            start_batch,
            rank,
            world_size,
            shuffle,
        )

    def _indices(self) -> list[int]:
        if self.shuffle:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        per_rank = self.n // self.world_size
        mine = order[self.rank * per_rank : (self.rank + 1) * per_rank]
        usable = len(mine) - len(mine) % self.batch_size
        return mine[self.start_batch * self.batch_size : usable]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return len(self._indices())


def steps_per_epoch(n: int, batch_size: int, world_size: int = 1) -> int:
    return (n // world_size) // batch_size


def batches(
    dataset: Dataset | None,
    batch_size: int,
    seed: int,
    start_step: int,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 0,
) -> Iterator[Any]:
    """Endless batches from ``start_step`` on; ``None`` forever for recipes without a dataset."""
    if dataset is None:
        while True:
            yield None
    n = len(dataset)  # type: ignore[arg-type]
    spe = steps_per_epoch(n, batch_size, world_size)
    epoch, start = divmod(start_step, spe)
    while True:
        sampler = EpochSampler(n, batch_size, seed, epoch, start, rank, world_size)
        loader = DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=True,
            num_workers=num_workers,
            generator=torch.Generator().manual_seed(seed + epoch),
        )
        yield from loader
        epoch, start = epoch + 1, 0
