"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs", sec. 4).

The unbiased estimate of the squared MMD under the polynomial kernel
``k(x, y) = (x.y / d + 1)^3``, averaged over random subsets (100 subsets of 1000 by default).
Subsets are drawn as torch-fidelity draws them (``numpy.random.RandomState(seed).choice`` without
replacement, generated images first), so equal features give torch-fidelity's numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.core.errors import BadInputError


def polynomial_kernel(
    x: torch.Tensor,
    y: torch.Tensor,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> torch.Tensor:
    gamma = 1.0 / x.shape[1] if gamma is None else gamma
    return (x @ y.T * gamma + coef0) ** degree


def mmd2_unbiased(k_xx: torch.Tensor, k_xy: torch.Tensor, k_yy: torch.Tensor) -> float:
    """Unbiased MMD^2 from the three kernel matrices of two equal-sized samples."""
    m = k_xx.shape[0]
    sum_xx = k_xx.sum() - k_xx.diagonal().sum()
    sum_yy = k_yy.sum() - k_yy.diagonal().sum()
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


def kid_from_features(
    real: Any,
    fake: Any,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
    seed: int = 2020,
) -> tuple[float, float]:
    """KID mean and standard deviation over ``subsets`` random subsets of ``subset_size``."""
    r = torch.as_tensor(real).detach().to(torch.float64)
    f = torch.as_tensor(fake).detach().to(torch.float64)
    if r.dim() != 2 or f.dim() != 2 or r.shape[1] != f.shape[1]:
        raise BadInputError(
            f"kid: features must be N x D with the same D, got {tuple(r.shape)} "
            f"and {tuple(f.shape)}"
        )
    if subsets < 1 or subset_size < 2:
        raise BadInputError("kid: need at least 1 subset of at least 2 samples")
    if min(len(r), len(f)) < subset_size:
        raise BadInputError(
            f"kid: subset size {subset_size} is larger than the number of images (real {len(r)}, "
            f"fake {len(f)}); use more images or a smaller --subset-size"
        )
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        x = f[torch.from_numpy(rng.choice(len(f), subset_size, replace=False))]
        y = r[torch.from_numpy(rng.choice(len(r), subset_size, replace=False))]
        kern = {"degree": degree, "gamma": gamma, "coef0": coef0}
        values[i] = mmd2_unbiased(
            polynomial_kernel(x, x, **kern),
            polynomial_kernel(x, y, **kern),
            polynomial_kernel(y, y, **kern),
        )
    return float(values.mean()), float(values.std())
