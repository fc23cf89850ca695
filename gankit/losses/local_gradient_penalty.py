"""WGAN-GP for patch critics with the gradient norm taken at every pixel (SinGAN, ConSinGAN).

The reference SinGAN code (``functions.calc_gradient_penalty``) interpolates real and fake with
one scalar and penalises ``(||grad_x D||_2 - 1)^2`` where the norm runs over the channels of each
pixel, then averages over pixels: each position is a sample of the patch distribution
(Shaham et al. 2019, sec. 2.2; Gulrajani et al. 2017, eq. 3).
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def local_gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    weight: float = 0.1,
    alpha: torch.Tensor | None = None,
) -> torch.Tensor:
    """``weight * mean over pixels of (||grad D(x_hat)||_channels - 1)^2``, one alpha per batch."""
    if alpha is None:
        alpha = torch.rand((), device=real.device, dtype=real.dtype)
    x_hat = (alpha * real.detach() + (1.0 - alpha) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return weight * ((grad.norm(2, dim=1) - 1.0) ** 2).mean()
