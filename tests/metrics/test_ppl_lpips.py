"""PPL with callables (no family code) and LPIPS with an injected model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.core.errors import BadInputError, UsageError
from gankit.metrics.lpips import lpips
from gankit.metrics.ppl import ppl, prepare, slerp


def _sq_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return ((a - b) ** 2).flatten(1).sum(1)


def _as_image(w: torch.Tensor) -> torch.Tensor:
    return w.view(len(w), 1, 2, 4)


def test_w_space_end_sampling_equals_filtered_mean_of_exact_path_lengths():
    drawn = []

    def latent_fn(n, gen):
        w = torch.randn(n, 8, generator=gen, dtype=torch.float64)
        drawn.append(w)
        return w

    value = ppl(
        _as_image,
        latent_fn,
        _sq_distance,
        num_samples=300,
        batch_size=64,
        epsilon=1e-3,
        space="w",
        sampling="end",
    )
    # Linear generator + squared L2: every pair's path length is |w1 - w0|^2 exactly.
    exact = np.concatenate(
        [((w[len(w) // 2 :] - w[: len(w) // 2]) ** 2).sum(1).numpy() for w in drawn]
    )
    lo, hi = np.percentile(exact, 1, method="lower"), np.percentile(exact, 99, method="higher")
    assert value == pytest.approx(exact[(exact >= lo) & (exact <= hi)].mean(), rel=1e-6)


def test_noise_is_shared_within_a_pair():
    def latent_fn(n, gen):
        return torch.randn(n, 8, generator=gen, dtype=torch.float64)

    def noisy(w):
        return _as_image(w) + torch.randn(len(w), 1, 2, 4, dtype=torch.float64)

    clean = ppl(_as_image, latent_fn, _sq_distance, num_samples=50, epsilon=1e-3)
    assert ppl(noisy, latent_fn, _sq_distance, num_samples=50, epsilon=1e-3) == pytest.approx(
        clean, rel=1e-6
    )


def test_z_space_full_sampling_uses_slerp():
    def latent_fn(n, gen):
        return torch.randn(n, 8, generator=gen, dtype=torch.float64)

    value = ppl(
        _as_image, latent_fn, _sq_distance, num_samples=64, space="z", sampling="full", epsilon=1e-4
    )
    # On the unit sphere a step of eps along the great circle of angle theta has length
    # eps * theta, so every path length is at most pi^2.
    assert 0 < value <= np.pi**2 + 1e-6


def test_slerp_endpoints_and_norm():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g)
    zero, one = torch.zeros(4, 1), torch.ones(4, 1)
    assert torch.allclose(slerp(a, b, zero), a / a.norm(dim=1, keepdim=True), atol=1e-6)
    assert torch.allclose(slerp(a, b, one), b / b.norm(dim=1, keepdim=True), atol=1e-5)
    assert torch.allclose(slerp(a, b, one / 3).norm(dim=1), torch.ones(4), atol=1e-6)


def test_prepare_crops_faces_and_downsamples():
    x = torch.arange(1024 * 1024, dtype=torch.float32).view(1, 1, 1024, 1024)
    assert prepare(x, crop=False).shape == (1, 1, 256, 256)
    cropped = prepare(torch.zeros(1, 3, 512, 512), crop=True)
    assert cropped.shape == (1, 3, 256, 256)


def test_ppl_argument_errors():
    def latent_fn(n, gen):
        return torch.randn(n, 8, generator=gen)

    with pytest.raises(UsageError, match="space"):
        ppl(_as_image, latent_fn, _sq_distance, space="q")
    with pytest.raises(BadInputError, match="N x C x H x W"):
        ppl(lambda w: w, latent_fn, _sq_distance, num_samples=4)


def test_lpips_with_injected_model_averages_pairs():
    a = torch.zeros(3, 3, 8, 8)
    b = torch.ones(3, 3, 8, 8) * torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1, 1)

    def fake_lpips(x, y):
        return (x - y).abs().mean(dim=(1, 2, 3), keepdim=True)

    assert lpips(a, b, model=fake_lpips, batch_size=2) == pytest.approx(0.5)
    with pytest.raises(BadInputError, match="same shape"):
        lpips(a, b[:, :, :4], model=fake_lpips)
