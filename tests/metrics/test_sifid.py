"""SIFID with a small extractor injected by the test (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from gankit.core.errors import BadInputError, MissingWeightsError
from gankit.metrics.sifid import sifid


def _extractor() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Conv2d(8, 6, 3)).eval()


def _real() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 3, 40, 48, generator=g) * 2 - 1


def test_zero_for_identical_and_increasing_with_noise():
    real, ext = _real(), _extractor()
    g = torch.Generator().manual_seed(2)
    noise = torch.randn(real.shape[1:], generator=g)
    fakes = torch.stack([real[0] + s * noise for s in (0.0, 0.05, 0.2, 0.6)])
    values = sifid(real, fakes, ext)
    assert len(values) == 4
    assert abs(values[0]) < 1e-9
    assert all(b > a for a, b in zip(values, values[1:], strict=False))


def test_matches_sifid_score_computed_directly():
    """tamarott/SinGAN SIFID/sifid_score.py: positions of the feature map as samples
    (``act = pred.reshape(C, H*W).T``), ``np.mean`` / ``np.cov(rowvar=False)``, and the
    pytorch-fid Fréchet formula with ``scipy.linalg.sqrtm``, written out here."""
    real, ext = _real(), _extractor()
    fake = torch.flip(real, dims=[-1]) * 0.7
    with torch.no_grad():
        fr = ext(real)[0].flatten(1).T.double().numpy()
        ff = ext(fake)[0].flatten(1).T.double().numpy()
    m1, s1, m2, s2 = fr.mean(0), np.cov(fr, rowvar=False), ff.mean(0), np.cov(ff, rowvar=False)
    diff = m1 - m2
    ref = (
        diff.dot(diff)
        + np.trace(s1)
        + np.trace(s2)
        - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real)
    )
    assert sifid(real, fake, ext)[0] == pytest.approx(float(ref), rel=1e-6)


def test_errors():
    real, ext = _real(), _extractor()
    with pytest.raises(BadInputError, match="one image"):
        sifid(torch.cat([real, real]), real, ext)
    with pytest.raises(BadInputError, match="3 x H x W"):
        sifid(real[:, :1], real, ext)
    with pytest.raises(BadInputError, match="too small"):
        sifid(real[..., :7, :7], real[..., :7, :7], ext)


def test_default_extractor_offline_names_the_option(monkeypatch):
    monkeypatch.setenv("GANKIT_OFFLINE", "1")
    from gankit.metrics.extractors import cached

    cached.cache_clear()
    with pytest.raises(MissingWeightsError, match="--inception PATH"):
        sifid(_real(), _real())
