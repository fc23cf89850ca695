"""Minibatch standard deviation (Karras et al. 2018, sec. 3) against NVlabs' grouping by hand."""

from __future__ import annotations

import torch

from gankit.nn.minibatch_std import minibatch_stddev


def test_minibatch_stddev_by_hand() -> None:
    x = torch.randn(8, 3, 2, 2)
    out = minibatch_stddev(x, group_size=4)
    assert out.shape == (8, 4, 2, 2) and torch.equal(out[:, :3], x)
    for n in range(8):
        group = x[[m for m in range(8) if m % 2 == n % 2]]  # NVlabs: group = n % (N / G)
        std = (group.var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
        assert torch.allclose(out[n, 3], std.expand(2, 2), atol=1e-6)
