"""Improved precision and recall (Kynkäänniemi et al. 2019, sec. 3).

Each set's manifold is the union of balls around its samples reaching their k-th nearest
neighbour (k = 3). Precision: the fraction of generated samples inside the real manifold;
recall: the fraction of real samples inside the generated one. Distances are computed in blocks,
so memory stays bounded for 50k samples.
"""

from __future__ import annotations

from typing import Any

import torch

from gankit.core.errors import BadInputError


def _kth_radius(x: torch.Tensor, k: int, block: int) -> torch.Tensor:
    # k + 1: every point is its own nearest neighbour at distance 0.
    return torch.cat([torch.cdist(xb, x).kthvalue(k + 1, dim=1).values for xb in x.split(block)])


def _inside(
    query: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, block: int
) -> torch.Tensor:
    hits = [(torch.cdist(qb, centres) <= radii).any(dim=1) for qb in query.split(block)]
    return torch.cat(hits).float()


def precision_recall_from_features(
    real: Any, fake: Any, k: int = 3, block: int = 10000
) -> tuple[float, float]:
    """(precision, recall) of ``fake`` against ``real`` features (N x D each)."""
    r = torch.as_tensor(real).detach().float()
    f = torch.as_tensor(fake).detach().float()
    if r.dim() != 2 or f.dim() != 2 or r.shape[1] != f.shape[1]:
        raise BadInputError(
            f"precision/recall: features must be N x D with the same D, got "
            f"{tuple(r.shape)} and {tuple(f.shape)}"
        )
    if min(len(r), len(f)) <= k:
        raise BadInputError(
            f"precision/recall with k={k} needs more than {k} images in each set "
            f"(real {len(r)}, fake {len(f)})"
        )
    precision = _inside(f, r, _kth_radius(r, k, block), block).mean()
    recall = _inside(r, f, _kth_radius(f, k, block), block).mean()
    return float(precision), float(recall)
