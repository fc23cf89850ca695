"""Exponential moving average of a generator's weights (Karras et al. 2018, sec. 4.1 / app. A)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ExponentialMovingAverage:
    """Keeps ``shadow``, a copy of ``model`` whose parameters trail it by ``decay`` per update.

    Buffers (e.g. batch-norm statistics) are copied, not averaged, as in StyleGAN's ``G_ema``.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval().requires_grad_(False)
        for attr in ("arch_name", "config"):
            if hasattr(model, attr):
                setattr(self.shadow, attr, getattr(model, attr))

    @torch.no_grad()
    def update(self, model: nn.Module, decay: float | None = None) -> None:
        d = self.decay if decay is None else decay
        for s, p in zip(self.shadow.parameters(), model.parameters(), strict=True):
            s.lerp_(p.detach(), 1.0 - d)
        for s, b in zip(self.shadow.buffers(), model.buffers(), strict=True):
            s.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.shadow.load_state_dict(state["shadow"])
