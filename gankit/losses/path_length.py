"""Path-length regularisation (Karras et al. 2020, "StyleGAN2", sec. 3.2, eq. 4).

Encourages a fixed-size step in W to change the image by a fixed amount whatever the direction:
E_{w,y}(||J_w^T y||_2 - a)^2, with y random images scaled by 1/sqrt(H*W) so the expectation
does not depend on the resolution, and ``a`` the running mean of the lengths (decay 0.01).
"""

from __future__ import annotations

import math

import torch


def path_length_penalty(images: torch.Tensor, ws: torch.Tensor,
                        mean_length: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(penalty, lengths)``: the penalty about ``mean_length`` and the per-sample lengths.

    ``ws`` (``[N, L, D]``) must be part of the graph that produced ``images``. The caller keeps
    the running mean: ``mean += decay * (lengths.mean() - mean)``.
    """
    noise = torch.randn_like(images) / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * noise).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    return (lengths - mean_length).square().mean(), lengths
