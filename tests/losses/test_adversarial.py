"""The WGAN-GP gradient penalty (Gulrajani et al. 2017, eq. 3) on critics whose gradients are
known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.losses.adversarial import gradient_penalty


def test_gradient_penalty_linear_critic_by_hand() -> None:
    """D(x) = <w, x> + b has gradient w everywhere: penalty = lambda * (||w|| - 1)^2."""
    w = torch.tensor([0.5, -2.0, 1.0, 0.25]).view(1, 1, 2, 2)

    def critic(x: torch.Tensor) -> torch.Tensor:
        return (x * w).sum(dim=(1, 2, 3)) + 3.0

    real, fake = torch.randn(5, 1, 2, 2), torch.randn(5, 1, 2, 2)
    norm = (0.25 + 4.0 + 1.0 + 0.0625) ** 0.5
    expected = 10.0 * (norm - 1.0) ** 2
    assert gradient_penalty(critic, real, fake).item() == pytest.approx(expected, rel=1e-6)


def test_gradient_penalty_quadratic_critic_by_hand() -> None:
    """D(x) = sum(x^2): grad at x_hat = 2 x_hat, x_hat = a*real + (1-a)*fake per sample."""
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    fake = torch.tensor([[3.0, 0.0], [2.0, 1.0]])
    alpha = torch.tensor([[0.5], [0.25]])
    # x_hat = [[2, 1], [1.5, 0.5]]; ||2 x_hat|| = [2*sqrt(5), 2*sqrt(2.5)]
    norms = np.array([2 * 5**0.5, 2 * 2.5**0.5])
    expected = 7.0 * np.mean((norms - 1.0) ** 2)
    got = gradient_penalty(lambda x: x.pow(2).sum(1), real, fake, weight=7.0, alpha=alpha)
    assert got.item() == pytest.approx(expected, rel=1e-6)
