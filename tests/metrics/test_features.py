"""Feature pipeline, cached statistics and FID/KID on folders with a small injected extractor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.core.errors import BadInputError, GankitError
from gankit.metrics import evaluate, features
from gankit.metrics.frechet import frechet_distance, gaussian_stats


class MeanColour(nn.Module):
    """A tiny extractor: per-channel means and standard deviations (6-d)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def _folder(root, name, n, seed, size=(16, 16)):
    folder = root / name
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        arr = rng.integers(0, 256, size=(*size[::-1], 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"{i:03d}.png")
    return folder


def test_streamed_statistics_equal_direct_ones(tmp_path):
    folder = _folder(tmp_path, "a", 7, 0)
    ext = MeanColour()
    feats = features.extract(folder, ext, batch_size=3)
    assert feats.shape == (7, 6) and ext.calls == 3
    mu, sigma = features.statistics(folder, ext, batch_size=2)
    mu_ref, sigma_ref = gaussian_stats(feats.double())
    np.testing.assert_allclose(mu, mu_ref, rtol=1e-6)
    np.testing.assert_allclose(sigma, sigma_ref, rtol=1e-5, atol=1e-9)


def test_moments_stay_accurate_with_a_large_mean():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 4, generator=g, dtype=torch.float64) + 1e6
    m = features.Moments()
    for chunk in x.split(64):
        m.update(chunk)
    np.testing.assert_allclose(m.stats()[1], np.cov(x.numpy(), rowvar=False), rtol=1e-6)


def test_fid_on_folders_and_tensors_agree(tmp_path):
    a, b = _folder(tmp_path, "a", 8, 1), _folder(tmp_path, "b", 8, 2)
    ext = MeanColour()
    value = evaluate.fid(a, b, extractor=ext, batch_size=4)
    ta = torch.stack([features._load(p) for p in sorted(a.iterdir())])
    tb = torch.stack([features._load(p) for p in sorted(b.iterdir())])
    assert evaluate.fid(ta, tb, extractor=ext) == pytest.approx(value, rel=1e-6)
    assert value > 0
    assert evaluate.fid(a, a, extractor=ext) == pytest.approx(0.0, abs=1e-6)
    kid_mean, _ = evaluate.kid(a, b, extractor=ext, subsets=3, subset_size=5)
    assert np.isfinite(kid_mean)


def test_real_statistics_are_cached_and_invalidated(tmp_path):
    real, fake = _folder(tmp_path, "real", 6, 3), _folder(tmp_path, "fake", 6, 4)
    cache = tmp_path / "cache"
    ext = MeanColour()
    kw = {"extractor": ext, "extractor_id": "mean-colour", "batch_size": 6}
    first = features.cached_statistics(real, ext, "mean-colour", cache_dir=cache, batch_size=6)
    assert ext.calls == 1 and len(list(cache.glob("*.npz"))) == 1
    again = features.cached_statistics(real, ext, "mean-colour", cache_dir=cache, batch_size=6)
    assert ext.calls == 1  # served from the cache
    np.testing.assert_array_equal(first[0], again[0])
    # A changed image, another covariance convention or another extractor id recompute.
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(real / "000.png")
    changed = features.cached_statistics(real, ext, "mean-colour", cache_dir=cache, batch_size=6)
    assert ext.calls == 2 and not np.allclose(changed[0], first[0])
    features.cached_statistics(real, ext, "mean-colour", ddof=0, cache_dir=cache, batch_size=6)
    assert ext.calls == 3 and len(list(cache.glob("*.npz"))) == 3
    # The default cache location is used by fid() when an extractor id is given.
    evaluate.fid(real, fake, **kw)
    calls = ext.calls
    evaluate.fid(real, fake, **kw)
    assert ext.calls == calls + 1  # only the fake set was extracted again


def test_stats_file_as_real(tmp_path):
    fake = _folder(tmp_path, "fake", 5, 5)
    ext = MeanColour()
    mu, sigma = features.statistics(fake, ext)
    np.savez(tmp_path / "ref.npz", mu=mu, sigma=sigma)
    assert evaluate.fid(tmp_path / "ref.npz", fake, extractor=ext) == pytest.approx(0, abs=1e-6)
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(BadInputError, match="mu and sigma"):
        evaluate.fid(tmp_path / "bad.npz", fake, extractor=ext)


def test_mixed_sizes_are_batched_separately_at_their_own_size(tmp_path):
    """No resize before the network: each network resizes with its own resampling."""
    folder = _folder(tmp_path, "mixed", 3, 6)
    Image.fromarray(np.zeros((20, 12, 3), np.uint8)).save(folder / "100.png")
    sizes = [tuple(b.shape[-2:]) for b in features.iter_batches(folder, batch_size=10)]
    assert sizes == [(16, 16), (20, 12)]


def test_clear_errors(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    ext = MeanColour()
    with pytest.raises(BadInputError, match="no images"):
        evaluate.fid(empty, empty, extractor=ext)
    few = _folder(tmp_path, "few", 3, 7)
    with pytest.raises(BadInputError, match="fewer than the 10"):
        evaluate.fid(few, few, extractor=ext, n=10)
    with pytest.raises(BadInputError, match="subset size"):
        evaluate.kid(few, few, extractor=ext)
    with pytest.raises(BadInputError, match="N x 3 x H x W"):
        features.extract(torch.zeros(2, 1, 8, 8), ext)
    one = _folder(tmp_path, "one", 1, 8)
    with pytest.raises(BadInputError, match="at least 2"):
        evaluate.fid(one, few, extractor=ext)


def test_fid_of_identical_statistics_is_zero_even_for_singular_covariance():
    # Fewer samples than dimensions: the covariance is singular, the eigh route stays finite.
    g = torch.Generator().manual_seed(9)
    x = torch.randn(10, 32, generator=g)
    mu, sigma = gaussian_stats(x)
    scale = np.trace(sigma)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6 * scale


def test_fid_monitor_logs_every_k_steps_without_disturbing_training_rng(tmp_path):
    from gankit.metrics.monitor import FIDMonitor

    real = _folder(tmp_path, "real", 8, 10)
    ext = MeanColour()
    monitor = FIDMonitor(
        real, every=3, n=6, extractor=ext, extractor_id="mean-colour", batch_size=4
    )

    def generate(k):
        return torch.rand(k, 3, 16, 16) * 2 - 1

    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    logged = [monitor(step, generate) for step in range(6)]
    assert [bool(x) for x in logged] == [False, False, True, False, False, True]
    assert torch.equal(torch.rand(1), expected_next)  # the training RNG stream is untouched
    assert logged[2]["fid"] == pytest.approx(logged[5]["fid"])  # fixed seed, same samples
    assert logged[2]["fid"] > 0
    with pytest.raises(GankitError, match="every >= 1"):
        FIDMonitor(real, every=0)


def test_a_local_inception_file_gets_its_own_cache_id(tmp_path, monkeypatch):
    monkeypatch.setattr(evaluate, "_network", lambda kind, weights, device: MeanColour())
    one, two = tmp_path / "one.pth", tmp_path / "two.pth"
    one.write_bytes(b"1")
    two.write_bytes(b"22")
    ids = {evaluate.default_fid_extractor(p)[1] for p in (None, one, two)}
    assert len(ids) == 3 and evaluate.FID_EXTRACTOR_ID in ids
