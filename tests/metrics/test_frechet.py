"""Fréchet distance: closed forms, the scipy sqrtm route, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.core.errors import BadInputError
from gankit.metrics.frechet import frechet_distance, frechet_distance_sqrtm, gaussian_stats


def test_closed_form_diagonal_gaussians():
    # For commuting (diagonal) covariances: |mu1-mu2|^2 + sum (sqrt(a) - sqrt(b))^2.
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.1, 3.0, 16), rng.uniform(0.1, 3.0, 16)
    mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, rel=1e-10)


def test_closed_form_scaled_covariance():
    # sigma2 = c^2 sigma1  ->  Tr(sigma1) * (1 - c)^2 (plus the mean term).
    rng = np.random.default_rng(1)
    q = rng.normal(size=(12, 12))
    s1 = q @ q.T + np.eye(12)
    got = frechet_distance(np.zeros(12), s1, np.ones(12), 4.0 * s1)
    assert got == pytest.approx(12 + np.trace(s1) * (1 - 2) ** 2, rel=1e-10)


def test_identical_statistics_give_zero():
    rng = np.random.default_rng(2)
    mu, sigma = gaussian_stats(rng.normal(size=(300, 32)))
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


@pytest.mark.parametrize("dim", [8, 64, 256])
def test_agrees_with_scipy_sqrtm(dim):
    rng = np.random.default_rng(dim)
    x = rng.normal(size=(4 * dim, dim))
    y = rng.normal(size=(3 * dim, dim)) @ rng.normal(scale=0.3, size=(dim, dim)) + 0.2
    m1, s1 = gaussian_stats(x)
    m2, s2 = gaussian_stats(y)
    fast = frechet_distance(m1, s1, m2, s2)
    ref = frechet_distance_sqrtm(m1, s1, m2, s2)
    assert fast == pytest.approx(ref, rel=1e-6)


def test_accepts_tensors_and_matches_numpy_cov():
    feats = torch.randn(100, 5, generator=torch.Generator().manual_seed(0))
    mu, sigma = gaussian_stats(feats)
    np.testing.assert_allclose(sigma, np.cov(feats.double().numpy(), rowvar=False), rtol=1e-12)
    assert frechet_distance(torch.from_numpy(mu), torch.from_numpy(sigma), mu, sigma) < 1e-9


def test_errors_are_clear():
    with pytest.raises(BadInputError, match="shape"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(BadInputError, match="NaN"):
        frechet_distance(np.zeros(2), np.eye(2), np.array([0.0, np.nan]), np.eye(2))
    with pytest.raises(BadInputError, match="at least 2"):
        gaussian_stats(np.zeros((1, 4)))
