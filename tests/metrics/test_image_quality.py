"""PSNR / SSIM / MS-SSIM against scikit-image and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage import metrics as skimage_metrics

from gankit.core.errors import BadInputError
from gankit.metrics.image_quality import ms_ssim, psnr, ssim


def _pair(seed: int, shape=(2, 3, 40, 36), noise=0.2):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1
    b = (a + noise * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(-1, 1)
    return a, b


def test_psnr_closed_form_and_skimage():
    a = torch.zeros(1, 3, 8, 8)
    b = torch.full((1, 3, 8, 8), 0.2)
    assert psnr(a, b) == pytest.approx(10 * math.log10(2.0**2 / 0.04), rel=1e-6)
    a, b = _pair(0)
    ref = np.mean(
        [
            skimage_metrics.peak_signal_noise_ratio(a[i].numpy(), b[i].numpy(), data_range=2.0)
            for i in range(2)
        ]
    )
    assert psnr(a, b) == pytest.approx(ref, rel=1e-6)
    assert psnr(a, a) == math.inf


def test_ssim_matches_skimage_gaussian_reference():
    a, b = _pair(1)
    ref = np.mean(
        [
            skimage_metrics.structural_similarity(
                a[i].numpy().transpose(1, 2, 0),
                b[i].numpy().transpose(1, 2, 0),
                data_range=2.0,
                channel_axis=2,
                gaussian_weights=True,
                sigma=1.5,
                use_sample_covariance=False,
            )
            for i in range(2)
        ]
    )
    assert ssim(a, b) == pytest.approx(ref, abs=1e-9)
    assert ssim(a[0], a[0]) == pytest.approx(1.0)


def test_ms_ssim_is_one_for_identical_and_drops_with_noise():
    a, b = _pair(2, shape=(1, 3, 176, 176), noise=0.3)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-9)
    assert ms_ssim(a, b) < 0.99


def test_mismatched_or_small_images_are_refused():
    a, b = _pair(3)
    with pytest.raises(BadInputError, match="same shape"):
        psnr(a, b[..., :-1])
    with pytest.raises(BadInputError, match="at least 11x11"):
        ssim(a[..., :8, :8], b[..., :8, :8])
    with pytest.raises(BadInputError, match="176"):
        ms_ssim(a, b)
