"""Distribution metrics on images: FID, KID, Inception Score, precision/recall.

Each takes folders (or file lists / globs) or N x 3 x H x W tensors in [-1, 1], and an optional
extractor (any module mapping such images to N x D features) that replaces the standard network;
tests inject a small one. With the default networks the numbers are torch-fidelity's and
torchmetrics' for the same 8-bit images (same network, same uint8 input and resize).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.core.errors import BadInputError
from gankit.metrics import extractors
from gankit.metrics import features as F
from gankit.metrics.frechet import covariance_ddof, frechet_distance
from gankit.metrics.isc import inception_score_from_logits
from gankit.metrics.kid import kid_from_features
from gankit.metrics.prc import precision_recall_from_features

PR_NETWORKS = {"nvlabs": "vgg16-nvlabs", "torch-fidelity": "vgg16"}
"""Precision/recall feature networks by CLI name -> :func:`extractors.cached` kind."""
FID_EXTRACTOR_ID = "fid-inception-tf-2015-12-05-6726825d/pool3-2048"
PathLike = str | os.PathLike[str] | None


def _network(kind: str, weights: PathLike, device: Any) -> torch.nn.Module:
    from gankit.core.device import resolve_device

    net = extractors.cached(kind, None if weights is None else os.fspath(weights))
    return net.to(resolve_device(device or "auto"))


def fid_extractor_id(inception: PathLike = None) -> str:
    """The cache id of the FID network: a local weights file enters it by its SHA-256, so cached
    statistics never outlive the weights they were computed with."""
    from gankit.core.download import sha256_file

    if inception is not None and Path(inception).is_file():
        return f"{FID_EXTRACTOR_ID}@sha256:{sha256_file(inception)}"
    return FID_EXTRACTOR_ID


def default_fid_extractor(
    inception: PathLike = None, device: Any = None
) -> tuple[torch.nn.Module, str]:
    """The standard FID network and its cache id (:func:`fid_extractor_id`)."""
    return _network("fid", inception, device), fid_extractor_id(inception)


def _is_stats_file(source: F.Source) -> bool:
    return isinstance(source, str | os.PathLike) and Path(source).suffix.lower() == ".npz"


def load_stats_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``mu`` and ``sigma`` from an ``.npz`` (pytorch-fid's and gankit's cache format)."""
    try:
        with np.load(path) as data:
            return data["mu"], data["sigma"]
    except (OSError, ValueError, KeyError) as err:
        raise BadInputError(f"{path}: not a statistics file with mu and sigma ({err})") from None


def fid_statistics(
    source: F.Source,
    extractor: F.Extractor | None = None,
    extractor_id: str | None = None,
    inception: PathLike = None,
    cache: bool = True,
    covariance: str = "unbiased",
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance for FID of a folder, tensor or ``.npz`` (cached for folders)."""
    if _is_stats_file(source):
        return load_stats_file(source)  # type: ignore[arg-type]
    ddof = covariance_ddof(covariance)
    if extractor is None:
        extractor, extractor_id = default_fid_extractor(inception, kwargs.pop("device", None))
    if cache and extractor_id is not None and not isinstance(source, torch.Tensor):
        return F.cached_statistics(
            source,
            extractor,
            extractor_id,
            ddof,  # type: ignore[arg-type]
            **kwargs,
        )
    return F.statistics(source, extractor, ddof, **kwargs)


def few_samples_warning(label: str, count: int, dims: int) -> str | None:
    """A one-line warning when ``count`` images cannot give a full-rank ``dims``-d covariance."""
    if count > dims:
        return None
    return (
        f"{label}: {count} images for {dims}-dimensional features: the covariance is "
        "singular and FID is biased high; use more images than feature dimensions"
    )


def fid(
    real: F.Source,
    fake: F.Source,
    *,
    extractor: F.Extractor | None = None,
    extractor_id: str | None = None,
    inception: PathLike = None,
    batch_size: int = 50,
    device: Any = None,
    n: int | None = None,
    cache: bool = True,
    covariance: str = "unbiased",
    progress: bool = False,
) -> float:
    """Fréchet Inception Distance (Heusel et al. 2017) between two image sets.

    ``real`` may also be an ``.npz`` of precomputed ``mu``/``sigma``. Real-folder statistics are
    cached (see :func:`gankit.metrics.features.cached_statistics`) when the extractor has an id;
    ``n`` uses the first n images of each set. ``covariance``: ``unbiased`` (N - 1, as TTUR,
    pytorch-fid and torch-fidelity) or ``nvlabs`` (N, as stylegan2-ada-pytorch; see
    :data:`gankit.metrics.frechet.COVARIANCES`). A set with no more images than feature
    dimensions is warned about (:func:`few_samples_warning`).
    """
    import warnings

    opts = {"batch_size": batch_size, "limit": n, "progress": progress, "covariance": covariance}
    if extractor is None:
        extractor, extractor_id = default_fid_extractor(inception, device)
    mu_r, sigma_r = fid_statistics(real, extractor, extractor_id, cache=cache, label="real", **opts)
    mu_f, sigma_f = fid_statistics(fake, extractor, None, cache=False, label="fake", **opts)
    for label, source in (("real", real), ("fake", fake)):
        if not _is_stats_file(source):
            message = few_samples_warning(label, F.count(source, n), len(mu_r))
            if message:
                warnings.warn(message, stacklevel=2)
    return frechet_distance(mu_r, sigma_r, mu_f, sigma_f)


def _both_features(
    real: F.Source,
    fake: F.Source,
    extractor: F.Extractor,
    batch_size: int,
    n: int | None,
    progress: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Features of the real and the fake images, at most ``n`` of each."""
    opts = {"batch_size": batch_size, "limit": n, "progress": progress}
    return (
        F.extract(real, extractor, label="real", **opts),
        F.extract(fake, extractor, label="fake", **opts),
    )


def kid(
    real: F.Source,
    fake: F.Source,
    *,
    extractor: F.Extractor | None = None,
    inception: PathLike = None,
    subsets: int = 100,
    subset_size: int = 1000,
    batch_size: int = 50,
    device: Any = None,
    n: int | None = None,
    progress: bool = False,
) -> tuple[float, float]:
    """Kernel Inception Distance (mean, std) over ``subsets`` subsets of ``subset_size``."""
    extractor = extractor or _network("fid", inception, device)
    fr, ff = _both_features(real, fake, extractor, batch_size, n, progress)
    return kid_from_features(fr, ff, subsets=subsets, subset_size=subset_size)


def inception_score(
    fake: F.Source,
    *,
    extractor: F.Extractor | None = None,
    inception: PathLike = None,
    splits: int = 10,
    batch_size: int = 50,
    device: Any = None,
    n: int | None = None,
    progress: bool = False,
) -> tuple[float, float]:
    """Inception Score (mean, std over ``splits``); ``extractor`` must return class logits."""
    extractor = extractor or _network("fid-logits", inception, device)
    logits = F.extract(
        fake, extractor, batch_size=batch_size, limit=n, progress=progress, label="fake"
    )
    return inception_score_from_logits(logits, splits=splits)


def precision_recall(
    real: F.Source,
    fake: F.Source,
    *,
    extractor: F.Extractor | None = None,
    weights: PathLike = None,
    k: int = 3,
    batch_size: int = 50,
    device: Any = None,
    n: int | None = None,
    progress: bool = False,
    network: str = "nvlabs",
) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) on VGG16 fc2 features:
    ``network`` "nvlabs" (NVlabs' ``vgg16.pt``, as stylegan2-ada-pytorch; features kept in
    float16 as it keeps them) or "torch-fidelity" (torchvision's VGG16, pre-ReLU fc2)."""
    if network not in PR_NETWORKS:
        raise BadInputError(f"precision/recall network must be one of {', '.join(PR_NETWORKS)}")
    extractor = extractor or _network(PR_NETWORKS[network], weights, device)
    fr, ff = _both_features(real, fake, extractor, batch_size, n, progress)
    return precision_recall_from_features(fr, ff, k=k)
