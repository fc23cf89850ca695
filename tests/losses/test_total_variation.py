"""Total variation against a hand-computed value."""

from __future__ import annotations

import pytest
import torch

from gankit.losses.total_variation import total_variation_loss


def test_total_variation_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # vertical diffs: -2, -3 -> (4 + 9)/2 / 2 ; horizontal: -1, -2 -> (1 + 4)/2 / 2
    assert total_variation_loss(x).item() == pytest.approx(13 / 4 + 5 / 4)
