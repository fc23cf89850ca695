"""Tiny StyleGAN shapes that keep the tests fast on two CPU cores."""

from __future__ import annotations

import pytest

from gankit.core import registry

TINY = {"size": 16, "style_dim": 32, "n_mlp": 2, "channel_base": 256, "channel_max": 32}


def tiny(name: str = "stylegan2", **changes):
    """Build a registered StyleGAN network with tiny widths (16x16, 32-d styles, <= 32 ch)."""
    return registry.build(name, **{**TINY, **changes})


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors run faster on one thread than on cores shared with other jobs."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def make_tiny():
    return tiny


@pytest.fixture
def tiny_g():
    import torch

    torch.manual_seed(0)
    g = tiny()
    with torch.no_grad():  # non-zero noise strengths so that noise modes differ
        for name, p in g.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.3)
    return g
