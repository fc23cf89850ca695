"""The Fréchet distance between two Gaussians, the core of FID and SIFID.

FID (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
Equilibrium", eq. 6) is ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``. The reference tools
(TTUR, pytorch-fid, torch-fidelity) take the matrix square root of the non-symmetric product with
``scipy.linalg.sqrtm``, which is slow for 2048-d features. Only its trace is needed, and with
``S1 = L L^T`` (Cholesky) the product ``S1 S2`` is similar to the symmetric ``L^T S2 L``, so the
trace is the sum of the square roots of that matrix's eigenvalues: one Cholesky factorisation and
one symmetric eigenvalue problem in float64. A singular ``S1`` (fewer samples than dimensions)
uses its symmetric square root from an eigendecomposition instead.
:func:`frechet_distance_sqrtm` keeps the reference route for tests and the benchmark.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.core.errors import BadInputError

ArrayLike = Any
"""A NumPy array or a torch tensor."""


def _as_float64(x: ArrayLike, device: torch.device | str | None) -> torch.Tensor:
    t = x.detach() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    return t.to(device=device or t.device, dtype=torch.float64)


def _check_shapes(
    mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor
) -> None:
    d = mu1.shape[0] if mu1.dim() == 1 else -1
    for name, t, shape in (
        ("mu2", mu2, (d,)),
        ("sigma1", sigma1, (d, d)),
        ("sigma2", sigma2, (d, d)),
    ):
        if d < 1 or tuple(t.shape) != shape:
            raise BadInputError(
                f"Fréchet distance needs mu1, mu2 of shape (d,) and sigma1, sigma2 of shape "
                f"(d, d); "
                f"got mu1 {tuple(mu1.shape)} and {name} {tuple(t.shape)}"
            )


COVARIANCES = {"unbiased": 1, "nvlabs": 0}
"""Covariance conventions, name -> ``ddof``: ``unbiased`` divides by N - 1 (``np.cov``: TTUR,
pytorch-fid, torch-fidelity); ``nvlabs`` divides by N (stylegan2-ada-pytorch
metrics/metric_utils.py ``FeatureStats.get_mean_cov``: ``raw_cov / num_items - outer(mean)``)."""


def covariance_ddof(convention: str) -> int:
    """``ddof`` of a :data:`COVARIANCES` name; a one-line error for any other."""
    if convention not in COVARIANCES:
        raise BadInputError(
            f"covariance must be one of {', '.join(COVARIANCES)}, got {convention!r}"
        )
    return COVARIANCES[convention]


def gaussian_stats(features: ArrayLike, ddof: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ``features`` (N x D), float64; ``ddof=1`` is
    ``np.cov(rowvar=False)``, ``ddof=0`` NVlabs' convention (see :data:`COVARIANCES`)."""
    f = _as_float64(features, "cpu")
    if f.dim() != 2 or f.shape[0] < 2:
        raise BadInputError(
            f"need at least 2 feature vectors (N x D) for a covariance, got shape {tuple(f.shape)}"
        )
    mu = f.mean(0)
    centred = f - mu
    sigma = centred.T @ centred / (f.shape[0] - ddof)
    return mu.numpy(), sigma.numpy()


def frechet_distance(
    mu1: ArrayLike,
    sigma1: ArrayLike,
    mu2: ArrayLike,
    sigma2: ArrayLike,
    device: torch.device | str | None = None,
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), via Cholesky + eigenvalues.

    Computed in float64 on ``device`` (default: where the inputs are; CPU for NumPy arrays).
    Agrees with the ``scipy.linalg.sqrtm`` route of the reference tools to about 1e-6 relative
    (tests and ``benchmarks/metrics_fid_speed.py`` check it).
    """
    m1, s1 = _as_float64(mu1, device), _as_float64(sigma1, device)
    m2, s2 = (_as_float64(mu2, m1.device), _as_float64(sigma2, m1.device))
    _check_shapes(m1, s1, m2, s2)
    if not all(bool(torch.isfinite(t).all()) for t in (m1, s1, m2, s2)):
        raise BadInputError("Fréchet distance: statistics contain NaN or infinite values")
    s1 = (s1 + s1.T) / 2
    factor, info = torch.linalg.cholesky_ex(s1)
    if int(info) != 0:  # singular (fewer samples than dimensions): symmetric square root instead
        evals1, evecs1 = torch.linalg.eigh(s1)
        factor = (evecs1 * evals1.clamp(min=0).sqrt()) @ evecs1.T
    inner = factor.T @ s2 @ factor
    inner = (inner + inner.T) / 2
    tr_covmean = torch.linalg.eigvalsh(inner).clamp(min=0).sqrt().sum()
    diff = m1 - m2
    value = diff @ diff + torch.trace(s1) + torch.trace(s2) - 2 * tr_covmean
    return float(value)


def frechet_distance_sqrtm(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike, eps: float = 1e-6
) -> float:
    """The reference tools' route (``scipy.linalg.sqrtm`` of ``sigma1 @ sigma2``), for comparison.

    Like pytorch-fid, a singular product is retried with ``eps`` added to both diagonals and a
    small imaginary part from round-off is dropped.
    """
    from scipy import linalg

    m1, m2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    _check_shapes(*(torch.from_numpy(a) for a in (m1, s1, m2, s2)))
    covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(s1.shape[0]) * eps
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise BadInputError(
                "Fréchet distance: the covariance product has a large imaginary "
                "square root; the statistics are not valid covariances"
            )
        covmean = covmean.real
    diff = m1 - m2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))
