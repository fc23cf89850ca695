"""Exponential moving average of a generator's weights (Karras et al. 2018, sec. 4.1 / app. A)."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class ExponentialMovingAverage:
    """Keeps ``shadow``, a copy of ``model`` whose parameters trail it by ``decay`` per update.

    Buffers (e.g. batch-norm statistics) are copied, not averaged, as in StyleGAN's ``G_ema``.
    One ``torch._foreach_lerp_`` over all parameters does what a per-parameter ``lerp_`` loop
    does, bit for bit, in one call (on CUDA in a few fused kernels instead of one per tensor).
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
        shadow, params = list(self.shadow.parameters()), list(model.parameters())
        if len(shadow) != len(params):
            raise ValueError(f"EMA of {len(shadow)} parameters updated from {len(params)}")
        if shadow:
            torch._foreach_lerp_(shadow, [p.detach() for p in params], 1.0 - d)
        buffers, theirs = list(self.shadow.buffers()), list(model.buffers())
        if len(buffers) != len(theirs):
            raise ValueError(f"EMA of {len(buffers)} buffers updated from {len(theirs)}")
        if buffers:
            torch._foreach_copy_(buffers, theirs)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "shadow": self.shadow.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay = float(state["decay"])
        self.shadow.load_state_dict(state["shadow"])
