"""Where a recipe's training randomness comes from: one seam for production and parity tests.

Production draws from the global torch RNG, which the engine seeds and saves with each
checkpoint. The training-parity tests (docs/CONTRIBUTING.md, "Parity fixtures") set a recipe's
``draws`` to the numbers a reference implementation drew, so that the recipe's own step runs on
them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class Draws:
    """Standard normal and uniform [0, 1) tensors from the global torch RNG."""

    def normal(self, shape: Sequence[int], device: torch.device | str) -> torch.Tensor:
        return torch.randn(*shape, device=device)

    def uniform(self, shape: Sequence[int], device: torch.device | str) -> torch.Tensor:
        return torch.rand(*shape, device=device)
