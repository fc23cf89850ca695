"""Single-Image FID (SIFID; Shaham et al. 2019, "SinGAN", sec. 4.1).

FID computed between the internal patch statistics of one real and one generated image: the
features are a convolutional block's outputs and every spatial position is a sample. As
tamarott/SinGAN's ``SIFID/sifid_score.py``, the default block is the 192-channel output of
Inception v3 (torchvision's ImageNet weights, no resizing) and the covariance is unbiased.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from gankit.core.errors import BadInputError
from gankit.metrics.features import extractor_device
from gankit.metrics.frechet import frechet_distance, gaussian_stats

Extractor = Callable[[torch.Tensor], torch.Tensor]


def _check_images(name: str, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() not in (3, 4) or x.shape[-3] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise BadInputError(f"sifid: {name} must be 3 x H x W or N x 3 x H x W images, got {shape}")
    return x.unsqueeze(0) if x.dim() == 3 else x


def patch_stats(image: torch.Tensor, extractor: Extractor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ``extractor``'s features over the spatial positions of one image."""
    feats = extractor(image)
    if feats.dim() != 4:
        raise BadInputError(
            f"sifid: the extractor must return N x C x h x w maps, got {tuple(feats.shape)}"
        )
    samples = feats[0].flatten(1).T
    if samples.shape[0] < 2:
        raise BadInputError(
            f"sifid: image {tuple(image.shape[-2:])} is too small: the feature map "
            f"has {samples.shape[0]} position(s), at least 2 are needed"
        )
    return gaussian_stats(samples)


def sifid(
    real: torch.Tensor, fakes: torch.Tensor, extractor: Extractor | None = None
) -> list[float]:
    """SIFID of each fake against the real image (both in [-1, 1]); one value per fake.

    ``extractor`` maps [-1, 1] images to N x C x h x w features; by default SinGAN's (it needs
    torchvision's Inception v3 weights, downloaded once or given with ``--inception``). The
    paper reports the mean over fakes.
    """
    real = _check_images("real", real)
    fakes = _check_images("fakes", fakes)
    if real.shape[0] != 1:
        raise BadInputError(f"sifid: real must be one image, got {real.shape[0]}")
    if fakes.shape[0] == 0:
        raise BadInputError("sifid: no fake images given")
    if extractor is None:
        from gankit.metrics.extractors import cached

        extractor = cached("sifid")
    device = extractor_device(extractor)
    with torch.no_grad():
        mu_r, sigma_r = patch_stats(real.to(device), extractor)
        out = []
        for fake in fakes:
            mu_f, sigma_f = patch_stats(fake.unsqueeze(0).to(device), extractor)
            out.append(frechet_distance(mu_r, sigma_r, mu_f, sigma_f))
    return out
