"""Where the augmentations' random numbers come from.

Training draws from torch's global generator (so a run's RNG state, saved in its checkpoints,
covers them); a parity test replays the draws a reference made, in the order it made them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch


class Draws:
    """The three kinds of draw an augmentation makes, with torch's own signatures."""

    def rand(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    def randn(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        raise NotImplementedError

    def randint(
        self, low: int, high: int, shape: Sequence[int], device: torch.device
    ) -> torch.Tensor:
        raise NotImplementedError


class TorchDraws(Draws):
    """Draws from torch's global generator (float32 uniform / normal, int64 integers)."""

    def rand(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        return torch.rand(list(shape), device=device)

    def randn(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        return torch.randn(list(shape), device=device)

    def randint(
        self, low: int, high: int, shape: Sequence[int], device: torch.device
    ) -> torch.Tensor:
        return torch.randint(low, high, list(shape), device=device)


class RecordedDraws(Draws):
    """Hands out recorded ``(kind, tensor)`` draws in order; a draw of another kind or shape
    than the next recorded one is an error (the two pipelines diverged)."""

    def __init__(self, draws: Iterable[tuple[str, torch.Tensor]]) -> None:
        self._queue = list(draws)
        self._next = 0

    @property
    def remaining(self) -> int:
        return len(self._queue) - self._next

    def _take(self, kind: str, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        if self._next >= len(self._queue):
            raise RuntimeError(f"no recorded draw left for {kind}{list(shape)}")
        got_kind, value = self._queue[self._next]
        if got_kind != kind or list(value.shape) != list(shape):
            raise RuntimeError(
                f"draw {self._next}: asked for {kind}{list(shape)}, recorded "
                f"{got_kind}{list(value.shape)}"
            )
        self._next += 1
        return value.to(device)

    def rand(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        return self._take("rand", shape, device)

    def randn(self, shape: Sequence[int], device: torch.device) -> torch.Tensor:
        return self._take("randn", shape, device)

    def randint(
        self, low: int, high: int, shape: Sequence[int], device: torch.device
    ) -> torch.Tensor:
        del low, high
        return self._take("randint", shape, device)
