"""Deterministic, resumable batches: the order depends only on (seed, epoch), never on the past.

A dataset whose items combine several independently drawn sources (AnimeGAN's photos, style
images and smoothed style images come from three separately shuffled streams) declares
``streams``, the length of each source; it is then indexed with one index per stream, each
stream reshuffled independently whenever it runs out, still a function of (seed, epoch) only.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler


class EpochSampler(Sampler):
    """A permutation of the dataset fixed by (seed, epoch), sharded across ranks, from a position.

    Resuming at step ``s`` builds the sampler for epoch ``s // steps_per_epoch`` and skips the
    batches already seen, so a resumed run draws exactly the batches an uninterrupted one would.
    With ``streams``, item ``p`` is a tuple of one index per stream (see the module docstring).
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
        streams: tuple[int, ...] | None = None,
    ) -> None:
        self.n, self.batch_size, self.seed, self.epoch = n, batch_size, seed, epoch
        self.start_batch, self.rank, self.world_size, self.shuffle = (
            start_batch,
            rank,
            world_size,
            shuffle,
        )
        if streams is not None and min(streams, default=0) < 1:
            raise ValueError(f"every stream needs at least one item, got lengths {streams}")
        self.streams = streams

    def _stream_orders(self, g: torch.Generator) -> list[tuple[int, ...]]:
        """Item p of the epoch: one index per stream, each stream a chain of fresh permutations."""
        orders: list[list[int]] = []
        for length in self.streams or ():
            order: list[int] = []
            while len(order) < self.n:
                order += (
                    torch.randperm(length, generator=g).tolist()
                    if self.shuffle
                    else list(range(length))
                )
            orders.append(order[: self.n])
        return list(zip(*orders, strict=True))

    def _indices(self) -> list[int] | list[tuple[int, ...]]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        if self.streams:
            order = self._stream_orders(g)
        elif self.shuffle:
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        per_rank = self.n // self.world_size
        mine = order[self.rank * per_rank : (self.rank + 1) * per_rank]
        usable = len(mine) - len(mine) % self.batch_size
        return mine[self.start_batch * self.batch_size : usable]

    def __iter__(self) -> Iterator[int | tuple[int, ...]]:
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
    streams = getattr(dataset, "streams", None)
    spe = steps_per_epoch(n, batch_size, world_size)
    epoch, start = divmod(start_step, spe)
    while True:
        sampler = EpochSampler(n, batch_size, seed, epoch, start, rank, world_size, streams=streams)
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
