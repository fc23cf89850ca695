"""Image normalisation layers and a way to freeze their statistics for tiled inference.

AnimeGAN's generators normalise each feature map over the whole image (v2: layer norm over
(C, H, W), i.e. ``GroupNorm(1, C)``, as in the v2 PyTorch port; v1: instance norm per channel).
Run naively on tiles, each tile gets its own mean and variance and the colours drift tile by tile.
:func:`frozen_norm_stats` records the statistics of every such layer on a whole-image pass and
replays them on the tiles, so the tiles are normalised exactly as the whole image would be.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("layer", "channel", "instance", "instance_affine")


class ChannelLayerNorm(nn.LayerNorm):
    """Layer norm over the channels of each pixel of an NCHW map (ConvNeXt's ``LayerNorm2d``).

    Per-pixel statistics make it tile-consistent by construction.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def make_norm(kind: str, channels: int) -> nn.Module:
    """``layer``: GroupNorm(1, C) (per-channel affine); ``channel``: per-pixel layer norm;
    ``instance``: InstanceNorm2d without affine parameters (TF ``instance_norm`` as ported);
    ``instance_affine``: InstanceNorm2d with per-channel scale and shift, eps 1e-5 (the TF
    ``tools/ops.instance_norm`` of AnimeGAN v1)."""
    if kind == "layer":
        return nn.GroupNorm(1, channels, affine=True)
    if kind == "channel":
        return ChannelLayerNorm(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "instance_affine":
        return nn.InstanceNorm2d(channels, eps=1e-5, affine=True)
    raise ValueError(f"unknown norm {kind!r}; choose from {', '.join(NORMS)}")


def _stat_dims(module: nn.Module) -> tuple[int, ...] | None:
    if isinstance(module, nn.GroupNorm) and module.num_groups == 1:
        return (1, 2, 3)
    if isinstance(module, nn.InstanceNorm2d) and not module.track_running_stats:
        return (2, 3)
    return None


def _normalise(module: nn.Module, x: torch.Tensor, mean: torch.Tensor,
               var: torch.Tensor) -> torch.Tensor:
    y = (x - mean.to(x.dtype)) * torch.rsqrt(var.to(x.dtype) + module.eps)
    if getattr(module, "weight", None) is not None:
        shape = (1, -1, 1, 1)
        y = y * module.weight.view(shape).to(x.dtype) + module.bias.view(shape).to(x.dtype)
    return y


@contextlib.contextmanager
def frozen_norm_stats(
    model: nn.Module, mode: str, store: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> Iterator[None]:
    """Inside the block, the whole-image norms of ``model`` either record (``mode="record"``) the
    statistics of the first image of the batch into ``store`` (keyed by module name) or replay
    them (``mode="use"``), broadcast over the batch so that all tiles of one image share them.
    """
    if mode not in ("record", "use"):
        raise ValueError(f"mode must be 'record' or 'use', got {mode!r}")
    patched: list[nn.Module] = []

    def make_forward(name: str, module: nn.Module, dims: tuple[int, ...]):
        def forward(x: torch.Tensor) -> torch.Tensor:
            if mode == "record":
                var, mean = torch.var_mean(x.float(), dim=dims, keepdim=True, correction=0)
                store[name] = (mean[:1], var[:1])
            else:
                mean, var = store[name]
            return _normalise(module, x, mean, var)

        return forward

    try:
        for name, module in model.named_modules():
            dims = _stat_dims(module)
            if dims is not None:
                module.forward = make_forward(name, module, dims)
                patched.append(module)
        yield
    finally:
        for module in patched:
            del module.forward
