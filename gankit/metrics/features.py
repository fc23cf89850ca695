"""Streaming feature extraction from folders or tensors, and cached real-image statistics.

Images are read in batches (bounded memory), optionally resized, turned into [-1, 1] tensors and
passed through an extractor (any module mapping N x 3 x H x W in [-1, 1] to N x D). FID needs only
the mean and covariance, accumulated in float64 without keeping the features. The statistics of
a real folder are cached as ``.npz`` keyed by the files' content hashes, the extractor and the
resize setting, so training-time FID does not recompute them and any change to the folder
invalidates them.

Under ``torch.distributed`` (e.g. ``torchrun``, as the engine's DDP runs), each process extracts
every ``world``-th image and the results are combined: moments by ``all_reduce``, features by
``all_gather`` back into the single-process order, so every rank gets the same numbers.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.core.errors import BadInputError

Extractor = Callable[[torch.Tensor], torch.Tensor]
Source = str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | torch.Tensor


def list_images(
    source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], limit: int | None = None
) -> list[Path]:
    """The images of a folder / file list / glob, sorted; the first ``limit`` if given."""
    from gankit.core.images import expand_inputs

    items = [source] if isinstance(source, str | os.PathLike) else list(source)
    files = expand_inputs(items)
    if not files:
        raise BadInputError(f"{source}: no images")
    if limit is not None:
        if len(files) < limit:
            raise BadInputError(
                f"{source}: {len(files)} image(s), fewer than the {limit} asked for"
            )
        files = files[:limit]
    return files


def count(source: Source, limit: int | None = None) -> int:
    if isinstance(source, torch.Tensor):
        return len(source) if limit is None else min(limit, len(source))
    return len(list_images(source, limit))


def _load(path: Path) -> torch.Tensor:
    from gankit.core.images import pil_to_tensor, read_image

    return pil_to_tensor(read_image(path))


def process_group() -> tuple[int, int]:
    """(rank, world size) of the initialised ``torch.distributed`` group, else (0, 1)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def iter_batches(
    source: Source, batch_size: int = 50, limit: int | None = None, shard: tuple[int, int] = (0, 1)
) -> Iterator[torch.Tensor]:
    """[-1, 1] image batches of shard ``(rank, world)`` (every world-th image from rank).

    Images of different sizes go in different batches.
    """
    rank, world = shard
    if batch_size < 1:
        raise BadInputError(f"batch size must be >= 1, got {batch_size}")
    if isinstance(source, torch.Tensor):
        if source.dim() != 4 or source.shape[1] != 3:
            raise BadInputError(f"expected N x 3 x H x W images, got {tuple(source.shape)}")
        if len(source) == 0:
            raise BadInputError("no images given (empty tensor)")
        if limit is not None and len(source) < limit:
            raise BadInputError(f"{len(source)} image(s) given, fewer than the {limit} asked for")
        source = source[:limit][rank::world]
        yield from source.split(batch_size)
        return
    batch: list[torch.Tensor] = []
    for path in list_images(source, limit)[rank::world]:
        img = _load(path)
        if batch and (len(batch) == batch_size or img.shape != batch[0].shape):
            yield torch.stack(batch)
            batch = []
        batch.append(img)
    if batch:
        yield torch.stack(batch)


class Moments:
    """Running mean and covariance in float64 without keeping the features.

    Sums are taken around the first batch's mean, so the covariance does not lose precision to
    cancellation when features have a large mean.
    """

    def __init__(self) -> None:
        self.n = 0
        self.shift: torch.Tensor | None = None
        self.total: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None

    def update(self, feats: torch.Tensor) -> None:
        f = feats.detach().to(torch.float64).flatten(1)
        if self.shift is None:
            self.shift = f.mean(0)
            self.total = torch.zeros_like(self.shift)
            self.outer = torch.zeros(f.shape[1], f.shape[1], dtype=torch.float64, device=f.device)
        f = f - self.shift
        self.n += f.shape[0]
        self.total += f.sum(0)
        self.outer += f.T @ f

    def all_reduce(self, device: torch.device) -> None:
        """Combine the moments of all processes (each saw one shard) on every process."""
        import torch.distributed as dist

        dim = torch.tensor([0 if self.total is None else self.total.numel()], device=device)
        dist.all_reduce(dim, op=dist.ReduceOp.MAX)
        d = int(dim)
        count = torch.tensor([float(self.n)], dtype=torch.float64, device=device)
        weighted_mean = torch.zeros(d, dtype=torch.float64, device=device)
        second = torch.zeros(d, d, dtype=torch.float64, device=device)
        if self.n and self.shift is not None and self.total is not None and self.outer is not None:
            offset = self.total / self.n
            mean = self.shift + offset
            scatter = self.outer - self.n * torch.outer(offset, offset)
            weighted_mean += self.n * mean.to(device)
            second += (scatter + self.n * torch.outer(mean, mean)).to(device)
        for t in (count, weighted_mean, second):
            dist.all_reduce(t)
        self.n = int(count)
        if self.n == 0:
            return
        mean = weighted_mean / self.n
        self.shift, self.total = mean, torch.zeros_like(mean)
        self.outer = second - self.n * torch.outer(mean, mean)

    def stats(self, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance (divided by ``n - ddof``; see ``frechet.COVARIANCES``)."""
        if self.n < 2 or self.shift is None or self.total is None or self.outer is None:
            raise BadInputError(f"need at least 2 images for a covariance, got {self.n}")
        mean = self.total / self.n
        sigma = (self.outer - self.n * torch.outer(mean, mean)) / (self.n - ddof)
        return (self.shift + mean).cpu().numpy(), sigma.cpu().numpy()


def extractor_device(
    extractor: Extractor, device: torch.device | str | None = None
) -> torch.device:
    """``device`` if given, else where the extractor's parameters are (CPU for plain callables)."""
    if device is not None:
        return torch.device(device)
    try:
        return next(extractor.parameters()).device  # type: ignore[attr-defined]
    except (AttributeError, StopIteration):
        return torch.device("cpu")


def stream(
    source: Source,
    extractor: Extractor,
    batch_size: int = 50,
    device: torch.device | str | None = None,
    limit: int | None = None,
    progress: bool = False,
    label: str = "features",
) -> Iterator[torch.Tensor]:
    """Features (N_batch x D, on ``device``) of this process's shard, batch by batch.

    The progress bar, if asked for, shows rank 0's share.
    """
    dev = extractor_device(extractor, device)
    rank, world = process_group()
    progress = progress and rank == 0
    total = len(range(rank, count(source, limit), world)) if progress else 0
    bar_ctx: Any = None
    if progress:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        # On stderr, so that ``--json`` output on stdout stays clean.
        bar_ctx = Progress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=True,
            console=Console(stderr=True),
        )
        bar_ctx.start()
        task = bar_ctx.add_task(label, total=total)
    try:
        with torch.no_grad():
            for batch in iter_batches(source, batch_size, limit, (rank, world)):
                feats = extractor(batch.to(dev))
                if feats.dim() != 2:
                    feats = feats.flatten(1)
                if bar_ctx is not None:
                    bar_ctx.advance(task, len(batch))
                yield feats
    finally:
        if bar_ctx is not None:
            bar_ctx.stop()


def extract(source: Source, extractor: Extractor, **kwargs: Any) -> torch.Tensor:
    """All features of ``source`` (N x D, float32 on the CPU); see :func:`stream` for options."""
    parts = [f.float() for f in stream(source, extractor, **kwargs)]
    _, world = process_group()
    if world == 1:
        if not parts:
            raise BadInputError("no images to extract features from")
        return torch.cat(parts).cpu()
    return _gather_in_order(parts, extractor_device(extractor, kwargs.get("device")), world)


def _gather_in_order(parts: list[torch.Tensor], device: torch.device, world: int) -> torch.Tensor:
    """Every rank's features, put back in the order a single process would produce."""
    import torch.distributed as dist

    local = torch.cat(parts).to(device) if parts else torch.zeros(0, 0, device=device)
    shape = torch.tensor([local.shape[0], local.shape[1]], device=device)
    shapes = [torch.zeros_like(shape) for _ in range(world)]
    dist.all_gather(shapes, shape)
    rows, dim = max(int(s[0]) for s in shapes), max(int(s[1]) for s in shapes)
    padded = torch.zeros(rows, dim, device=device)
    padded[: local.shape[0], : local.shape[1]] = local
    gathered = [torch.zeros_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    total = sum(int(s[0]) for s in shapes)
    out = torch.empty(total, dim)
    for r, (part, s) in enumerate(zip(gathered, shapes, strict=True)):
        out[r::world] = part[: int(s[0])].cpu()
    return out


def statistics(
    source: Source, extractor: Extractor, ddof: int = 1, **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (``ddof``) of the features of ``source``, streamed (and combined
    across ranks)."""
    moments = Moments()
    for feats in stream(source, extractor, **kwargs):
        moments.update(feats)
    if process_group()[1] > 1:
        moments.all_reduce(extractor_device(extractor, kwargs.get("device")))
    return moments.stats(ddof)


def _content_key(files: list[Path], extractor_id: str, ddof: int) -> str:
    from gankit.core.download import sha256_file

    h = hashlib.sha256(
        json.dumps({"extractor": extractor_id, "ddof": ddof, "n": len(files)}).encode()
    )
    for f in files:
        h.update(bytes.fromhex(sha256_file(f)))
    return h.hexdigest()


def stats_cache_dir() -> Path:
    from gankit.core.checkpoint import cache_dir

    return cache_dir() / "metrics" / "stats"


def cached_statistics(
    folder: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    extractor: Extractor,
    extractor_id: str,
    ddof: int = 1,
    limit: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`statistics` of a folder, from the ``.npz`` cache when its content is unchanged."""
    from gankit.core.atomic import atomic_path

    files = list_images(folder, limit)
    key = _content_key(files, extractor_id, ddof)
    path = Path(cache_dir) if cache_dir is not None else stats_cache_dir()
    path = path / f"{key[:32]}.npz"
    if path.is_file():
        try:
            with np.load(path) as data:
                if str(data["key"]) == key:
                    return data["mu"], data["sigma"]
        except (OSError, ValueError, KeyError):
            pass  # an unreadable cache entry is recomputed and replaced
    mu, sigma = statistics(files, extractor, ddof, **kwargs)
    with atomic_path(path) as tmp:
        np.savez(tmp, mu=mu, sigma=sigma, key=np.array(key), n=np.array(len(files)))
    return mu, sigma
