"""LPIPS between paired images (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep
Features as a Perceptual Metric"), through the ``lpips`` package (v0.1 linear layers)."""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from gankit.metrics.image_quality import _pair

Distance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def lpips_model(
    net: str = "alex",
    weights: str | os.PathLike[str] | None = None,
    device: torch.device | str | None = None,
) -> torch.nn.Module:
    """The cached LPIPS network (``net`` "alex" as the paper's default, or "vgg" as PPL uses)."""
    from gankit.core.device import resolve_device
    from gankit.core.errors import UsageError
    from gankit.metrics.extractors import cached

    if net not in ("alex", "vgg"):
        raise UsageError(f"LPIPS network must be alex or vgg, got {net!r}")
    model = cached(f"lpips-{net}", None if weights is None else os.fspath(weights))
    return model.to(resolve_device(device or "auto"))


def lpips(
    a: torch.Tensor,
    b: torch.Tensor,
    net: str = "alex",
    weights: str | os.PathLike[str] | None = None,
    model: Distance | None = None,
    batch_size: int = 16,
) -> float:
    """Mean LPIPS over image pairs in [-1, 1]; ``model`` replaces the standard network."""
    a, b = _pair(a, b, "lpips")
    if model is None:
        model = lpips_model(net, weights)
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else a.device
    values = []
    with torch.no_grad():
        for xa, xb in zip(a.float().split(batch_size), b.float().split(batch_size), strict=True):
            values.append(model(xa.to(device), xb.to(device)).flatten().double().cpu())
    return float(torch.cat(values).mean())
