"""Fused bias + leaky ReLU (StyleGAN2's bias_act) against its reference form."""

from __future__ import annotations

import pytest
import torch

from gankit.nn.bias_act import bias_act_ref, fused_leaky_relu


@pytest.mark.parametrize("clamp", [None, 0.5])
def test_bias_act_fast_equals_reference(clamp):
    x, b = torch.randn(3, 5, 4, 4), torch.randn(5)
    torch.testing.assert_close(fused_leaky_relu(x, b, clamp=clamp), bias_act_ref(x, b, clamp=clamp))
    x2 = torch.randn(3, 5)  # fully connected activations (bias on dim 1 of a 2-D tensor)
    torch.testing.assert_close(fused_leaky_relu(x2, b), bias_act_ref(x2, b))
    assert fused_leaky_relu(torch.tensor([-1.0, 2.0])).tolist() == pytest.approx(
        [-0.2 * 2**0.5, 2 * 2**0.5]
    )
