"""KID, precision/recall and IS against direct implementations, torch-fidelity and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity import metric_isc, metric_kid, metric_prc

from gankit.core.errors import BadInputError
from gankit.metrics.isc import inception_score_from_logits
from gankit.metrics.kid import kid_from_features
from gankit.metrics.prc import precision_recall_from_features


def _direct_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 written out pair by pair (the O(n^2) definition)."""
    d, m = x.shape[1], len(x)

    def k(a, b):
        return (float(a @ b) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_single_full_subset_equals_direct_definition():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(30, 6)), rng.normal(0.3, 1.2, size=(30, 6))
    mean, std = kid_from_features(real, fake, subsets=1, subset_size=30)
    assert mean == pytest.approx(_direct_mmd2(fake, real), rel=1e-10)
    assert std == 0.0


def test_kid_matches_torch_fidelity_subsets():
    g = torch.Generator().manual_seed(1)
    real, fake = torch.randn(120, 16, generator=g), torch.randn(110, 16, generator=g) + 0.2
    ours = kid_from_features(real, fake, subsets=7, subset_size=50)
    ref = metric_kid.kid_features_to_metric(
        fake.double(), real.double(), kid_subsets=7, kid_subset_size=50, verbose=False
    )
    assert ours[0] == pytest.approx(ref[metric_kid.KEY_METRIC_KID_MEAN], rel=1e-9)
    assert ours[1] == pytest.approx(ref[metric_kid.KEY_METRIC_KID_STD], rel=1e-7)


def test_kid_too_few_images():
    with pytest.raises(BadInputError, match="subset size"):
        kid_from_features(np.zeros((10, 3)), np.zeros((10, 3)), subset_size=1000)


def test_precision_recall_known_overlap():
    # Fake: half on the real data's support, half far away -> precision ~0.5, recall ~1.
    g = torch.Generator().manual_seed(2)
    real = torch.rand(400, 2, generator=g)
    fake = torch.cat(
        [torch.rand(200, 2, generator=g) * 0.9 + 0.05, torch.rand(200, 2, generator=g) + 10.0]
    )
    precision, recall = precision_recall_from_features(real, fake, k=3)
    assert precision == pytest.approx(0.5, abs=0.02)
    # The far half inflates fake radii only among themselves; the near half covers the square.
    assert recall > 0.8
    p_same, r_same = precision_recall_from_features(real, real.clone(), k=3)
    assert p_same == 1.0 and r_same == 1.0


def test_precision_recall_matches_torch_fidelity():
    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(150, 8, generator=g), torch.randn(130, 8, generator=g) * 1.3
    ours = precision_recall_from_features(real, fake, k=3, block=40)
    # torch-fidelity's convention: features_1 = generated, features_2 = real.
    ref = metric_prc.calculate_precision_recall_full(fake, real, 3, 10000)
    assert ours == pytest.approx(ref, abs=1e-9)


def test_precision_recall_matches_nvlabs_compute_pr():
    """stylegan2-ada-pytorch metrics/precision_recall.py lines 49-59 written out: radius =
    kthvalue(k + 1) of the manifold's distances, a probe counts if within any radius."""
    g = torch.Generator().manual_seed(4)
    real, fake = torch.randn(120, 6, generator=g), torch.randn(100, 6, generator=g) * 1.2
    ref = []
    for manifold, probes in ((real, fake), (fake, real)):
        kth = torch.cdist(manifold, manifold).kthvalue(4).values
        ref.append(float((torch.cdist(probes, manifold) <= kth).any(dim=1).float().mean()))
    assert precision_recall_from_features(real, fake, k=3, block=32) == pytest.approx(tuple(ref))


def test_inception_score_closed_forms_and_torch_fidelity():
    # Confident and evenly spread over C classes -> IS = C; identical predictions -> IS = 1.
    c = 5
    logits = torch.full((50, c), -30.0)
    logits[torch.arange(50), torch.arange(50) % c] = 30.0
    assert inception_score_from_logits(logits, splits=1)[0] == pytest.approx(c, rel=1e-6)
    assert inception_score_from_logits(torch.zeros(20, c), splits=2)[0] == pytest.approx(1.0)
    x = torch.randn(60, 10, generator=torch.Generator().manual_seed(4)) * 3
    ref = metric_isc.isc_features_to_metric(x, splits=4)
    ours = inception_score_from_logits(x, splits=4)
    assert ours == pytest.approx(
        (ref[metric_isc.KEY_METRIC_ISC_MEAN], ref[metric_isc.KEY_METRIC_ISC_STD]), rel=1e-9
    )
    with pytest.raises(BadInputError, match="at least 10"):
        inception_score_from_logits(torch.zeros(5, 3))
