"""Path-length regularisation (Karras et al. 2020, "StyleGAN2", sec. 3.2, eq. 4).

Encourages a fixed-size step in W to change the image by a fixed amount whatever the direction:
E_{w,y}(||J_w^T y||_2 - a)^2, with y random images scaled by 1/sqrt(H*W) so the expectation
does not depend on the resolution, and ``a`` the running mean of the lengths (decay 0.01).
"""

from __future__ import annotations

import math

import torch


def path_length_penalty(
    images: torch.Tensor, ws: torch.Tensor, mean_length: float, decay: float, noise: torch.Tensor
) -> tuple[torch.Tensor, float]:
    """``(penalty, new_mean)``: the penalty about the running mean *after* this batch's update.

    The mean moves first, ``a <- a + decay * (mean(lengths) - a)``, and the penalty is taken
    about the moved mean with its graph kept, as NVlabs/stylegan2-ada-pytorch
    training/loss.py@d72cc7d (lines 85-87) and rosinality/stylegan2-pytorch train.py@bef283a
    (``g_path_regularize``) do. ``ws`` (``[N, L, D]``) must be part of the graph that produced
    ``images``; ``noise`` is standard normal of the images' shape (the caller draws it); the
    caller stores ``new_mean`` for the next call.
    """
    y = noise / math.sqrt(images.shape[2] * images.shape[3])
    (grad,) = torch.autograd.grad((images * y).sum(), ws, create_graph=True)
    lengths = grad.square().sum(2).mean(1).sqrt()
    mean = mean_length + decay * (lengths.mean() - mean_length)
    return (lengths - mean).square().mean(), float(mean.detach())
