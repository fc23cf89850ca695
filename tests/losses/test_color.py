"""The YUV colour loss (AnimeGANv2) against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from gankit.losses.color import color_loss, rgb_to_yuv


def test_yuv_and_colour_loss_by_hand():
    white = torch.ones(1, 3, 2, 2)
    yuv = rgb_to_yuv(white)
    assert torch.allclose(yuv[:, 0], torch.ones(1, 2, 2))
    assert yuv[:, 1:].abs().max() < 1e-6
    black = -torch.ones(1, 3, 2, 2)
    # Y differs by 1 (L1 = 1); U, V are 0 for both greys
    assert color_loss(white, black).item() == pytest.approx(1.0, abs=1e-6)
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)
    u, v = -0.14714119, 0.61497538
    expected = 0.299 + 0.5 * u * u + 0.5 * v * v  # Huber = x^2/2 for |x| < 1
    assert color_loss(red, -torch.ones(1, 3, 1, 1)).item() == pytest.approx(expected, rel=1e-5)
