"""FID during training, without touching the engine: a recipe calls the monitor in ``train_step``.

``losses.update(self.fid(step, self.generate))`` adds ``{"fid": value}`` every ``every`` steps, and
the engine logs it to JSONL and TensorBoard like any loss (so ``every`` must be a multiple of
``trainer.log_every``). The real statistics come from the ``.npz`` cache, so they are computed
once per dataset. Generation runs under ``no_grad`` from a fixed seed inside a forked RNG: the
training's random streams, and so exact resume, are unaffected.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gankit.core.errors import UsageError
from gankit.core.seed import cuda_devices
from gankit.metrics.features import Extractor, Moments, Source, extractor_device
from gankit.metrics.frechet import frechet_distance


class FIDMonitor:
    """FID of ``n`` generated images against ``real`` every ``every`` training steps."""

    def __init__(
        self,
        real: Source,
        every: int,
        n: int = 1000,
        extractor: Extractor | None = None,
        extractor_id: str | None = None,
        inception: str | None = None,
        batch_size: int = 50,
        seed: int = 0,
        device: Any = None,
    ) -> None:
        if every < 1 or n < 2 or batch_size < 1:
            raise UsageError(
                f"FID monitor needs every >= 1, n >= 2 and batch_size >= 1 "
                f"(got every={every}, n={n}, batch_size={batch_size})"
            )
        self.real, self.every, self.n = real, every, n
        self.extractor, self.extractor_id = extractor, extractor_id
        self.inception, self.batch_size = inception, batch_size
        self.seed, self.device = seed, device
        self._real_stats: tuple[np.ndarray, np.ndarray] | None = None

    def _network(self) -> Extractor:
        if self.extractor is None:
            from gankit.metrics.evaluate import default_fid_extractor

            self.extractor, self.extractor_id = default_fid_extractor(self.inception, self.device)
        return self.extractor

    def real_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the real images, computed (or read from the cache) once.

        Under ``torch.distributed`` the first call is collective (each rank reads a shard), so
        every rank must make it; later calls, and :meth:`compute` after it, are local.
        """
        if self._real_stats is None:
            from gankit.metrics.evaluate import fid_statistics

            self._real_stats = fid_statistics(
                self.real, self._network(), self.extractor_id, batch_size=self.batch_size
            )
        return self._real_stats

    def compute(self, generate: Callable[[int], torch.Tensor]) -> float:
        """FID now: ``generate(k)`` must return k images (k x 3 x H x W in [-1, 1])."""
        extractor = self._network()
        real_stats = self.real_statistics()
        moments = Moments()
        with torch.no_grad(), torch.random.fork_rng(devices=cuda_devices()):
            torch.manual_seed(self.seed)
            for start in range(0, self.n, self.batch_size):
                images = generate(min(self.batch_size, self.n - start))
                moments.update(extractor(images.to(extractor_device(extractor))).flatten(1))
        return frechet_distance(*real_stats, *moments.stats())

    def __call__(self, step: int, generate: Callable[[int], torch.Tensor]) -> dict[str, float]:
        """``{"fid": value}`` after every ``every``-th step (``step`` is 0-based), else ``{}``."""
        if (step + 1) % self.every:
            return {}
        return {"fid": self.compute(generate)}
