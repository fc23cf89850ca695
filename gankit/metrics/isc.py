"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs", sec. 4).

``exp(E_x KL(p(y|x) || p(y)))`` over the FID Inception's 1008 unbiased logits, in 10 splits of
the shuffled images, reported as mean and standard deviation over splits, as torch-fidelity does
(same shuffle seed), so equal logits give its numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from gankit.core.errors import BadInputError


def inception_score_from_logits(
    logits: Any, splits: int = 10, seed: int = 2020
) -> tuple[float, float]:
    x = torch.as_tensor(logits).detach()
    if x.dim() != 2 or len(x) < splits or splits < 1:
        raise BadInputError(
            f"inception score: need at least {splits} images (one per split), "
            f"got logits of shape {tuple(x.shape)}"
        )
    n = len(x)
    x = x[torch.from_numpy(np.random.RandomState(seed).permutation(n))].double()
    p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        marginal = p[lo:hi].mean(dim=0, keepdim=True)
        kl = (p[lo:hi] * (log_p[lo:hi] - marginal.log())).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))
