"""Fréchet distance: closed forms, the scipy sqrtm route, and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.core.errors import BadInputError
from gankit.metrics import evaluate
from gankit.metrics.frechet import frechet_distance, gaussian_stats


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


def scipy_frechet(mu1, sigma1, mu2, sigma2) -> float:
    """The TTUR / pytorch-fid / SinGAN sifid_score.py formula, written out with scipy."""
    covmean = scipy.linalg.sqrtm(sigma1.dot(sigma2))
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean.real))


@pytest.mark.parametrize("dim", [8, 64, 256])
def test_agrees_with_scipy_sqrtm_and_torch_fidelity(dim):
    from torch_fidelity.metric_fid import fid_statistics_to_metric

    rng = np.random.default_rng(dim)
    x = rng.normal(size=(4 * dim, dim))
    y = rng.normal(size=(3 * dim, dim)) @ rng.normal(scale=0.3, size=(dim, dim)) + 0.2
    (m1, s1), (m2, s2) = ((f.mean(0), np.cov(f, rowvar=False)) for f in (x, y))
    fast = frechet_distance(m1, s1, m2, s2)
    assert fast == pytest.approx(scipy_frechet(m1, s1, m2, s2), rel=1e-6)
    tf = fid_statistics_to_metric({"mu": m1, "sigma": s1}, {"mu": m2, "sigma": s2}, False)
    assert fast == pytest.approx(tf["frechet_inception_distance"], rel=1e-6)


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


# --- against the standard code itself ---------------------------------------------------------
# NVlabs: fixtures computed by stylegan2-ada-pytorch's compute_fid (tools/parity/metrics_fid.py);
# torch-fidelity: its functions, called directly.

NVLABS = np.load(Path(__file__).parent / "parity" / "fid_nvlabs.npz")


class _FeaturesAsImages(torch.nn.Module):
    """Images N x 3 x 4 x 4 whose first channel carries a 16-d feature vector."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0].flatten(1)


def _as_images(features: np.ndarray) -> torch.Tensor:
    f = torch.from_numpy(features).view(-1, 1, 4, 4)
    return f.expand(-1, 3, 4, 4).contiguous()


def test_nvlabs_covariance_matches_nvlabs_code():
    for name in ("real", "gen"):
        mu, sigma = gaussian_stats(NVLABS[f"features_{name}"], ddof=0)
        np.testing.assert_allclose(mu, NVLABS[f"mu_{name}"], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(sigma, NVLABS[f"sigma_{name}"], rtol=1e-8, atol=1e-12)
    value = evaluate.fid(
        _as_images(NVLABS["features_real"]),
        _as_images(NVLABS["features_gen"]),
        extractor=_FeaturesAsImages(),
        covariance="nvlabs",
    )
    assert value == pytest.approx(float(NVLABS["fid"]), rel=1e-6)


def test_unbiased_covariance_matches_torch_fidelity():
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric

    real, gen = (torch.from_numpy(NVLABS[f"features_{n}"]).double() for n in ("real", "gen"))
    expected = fid_statistics_to_metric(
        fid_features_to_statistics(real), fid_features_to_statistics(gen), False
    )["frechet_inception_distance"]
    value = evaluate.fid(
        _as_images(NVLABS["features_real"]),
        _as_images(NVLABS["features_gen"]),
        extractor=_FeaturesAsImages(),
    )
    assert value == pytest.approx(expected, rel=1e-6)
    nvlabs = evaluate.fid(
        _as_images(NVLABS["features_real"]),
        _as_images(NVLABS["features_gen"]),
        extractor=_FeaturesAsImages(),
        covariance="nvlabs",
    )
    assert abs(value - nvlabs) > 1e-4  # the two conventions really differ at this N


def test_fewer_images_than_dimensions_warns():
    few = _as_images(NVLABS["features_real"][:12])
    with pytest.warns(UserWarning, match="12 images for 16-dimensional features"):
        evaluate.fid(few, _as_images(NVLABS["features_gen"]), extractor=_FeaturesAsImages())


def test_unknown_covariance_is_one_line():
    with pytest.raises(BadInputError, match="covariance must be one of"):
        evaluate.fid(
            _as_images(NVLABS["features_real"]),
            _as_images(NVLABS["features_gen"]),
            extractor=_FeaturesAsImages(),
            covariance="biased",
        )


def test_cached_statistics_key_follows_the_weights_content(tmp_path):
    weights = tmp_path / "inception.pth"
    weights.write_bytes(b"a" * 64)
    first = evaluate.fid_extractor_id(weights)
    weights.write_bytes(b"b" * 64)  # same name, same size, other weights
    assert evaluate.fid_extractor_id(weights) != first
    assert evaluate.fid_extractor_id(None) == evaluate.FID_EXTRACTOR_ID
