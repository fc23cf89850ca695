"""Minibatch standard deviation (Karras et al. 2018, "Progressive Growing of GANs", sec. 3).

The critic sees, as extra feature maps, how much its features vary across a small group of
samples; a generator that collapses to few modes produces groups with a tell-tale low spread.
The layout follows NVlabs' releases (PGGAN ``minibatch_stddev_layer``, StyleGAN2
``MinibatchStdLayer``): sample ``n`` belongs to group ``n % (N / G)``, the variance is the
biased one over the group, and each statistic is averaged over its channel slice and all pixels.
"""

from __future__ import annotations

import torch
from torch import nn


def minibatch_stddev(x: torch.Tensor, group_size: int = 4, num_channels: int = 1) -> torch.Tensor:
    """Append ``num_channels`` feature maps holding the group standard deviation of ``x`` (NCHW).

    The group is ``min(group_size, N)``; ``N`` must be divisible by it (as in the reference code,
    which fails otherwise), so the caller chooses batch sizes accordingly.
    """
    n, c, h, w = x.shape
    g = min(group_size, n)
    if n % g:
        raise ValueError(f"minibatch stddev: batch {n} is not divisible by group size {g}")
    if c % num_channels:
        raise ValueError(f"minibatch stddev: {c} channels not divisible by {num_channels}")
    y = x.reshape(g, -1, num_channels, c // num_channels, h, w).float()
    y = y - y.mean(dim=0)
    y = (y.square().mean(dim=0) + 1e-8).sqrt()
    y = y.mean(dim=(2, 3, 4))  # [N/G, num_channels]
    y = y.reshape(-1, num_channels, 1, 1).repeat(g, 1, h, w).to(x.dtype)
    return torch.cat([x, y], dim=1)


class MinibatchStdDev(nn.Module):
    """Module form of :func:`minibatch_stddev` (no parameters)."""

    def __init__(self, group_size: int = 4, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return minibatch_stddev(x, self.group_size, self.num_channels)

    def extra_repr(self) -> str:
        return f"group_size={self.group_size}, num_channels={self.num_channels}"
