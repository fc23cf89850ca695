"""Paired full-reference scores: PSNR, SSIM and MS-SSIM (Pix2Pix, Isola et al. 2017, sec. 4).

Built on torchmetrics. SSIM follows Wang et al. 2004 ("Image Quality Assessment: From Error
Visibility to Structural Similarity") and their reference code: the SSIM map is averaged only where
the 11x11 Gaussian window lies inside the image, which equals scikit-image's
``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
torchmetrics' own ``structural_similarity_index_measure`` also averages the border positions it
computes on reflected pixels, so its value differs slightly; gankit crops them. Images are gankit
tensors in [-1, 1], so the data range is 2. Every score is computed per image pair and averaged
over the batch.
"""

from __future__ import annotations

import torch

from gankit.core.errors import BadInputError

DATA_RANGE = 2.0
"""Images are in [-1, 1]."""
_HALF_WINDOW = 5
"""Half of the 11x11 Gaussian window (sigma 1.5, truncated at 3.5 sigma)."""


def _pair(a: torch.Tensor, b: torch.Tensor, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        raise BadInputError(f"{what}: expected two image tensors")
    if a.dim() == 3:
        a, b = a.unsqueeze(0), b.unsqueeze(0) if b.dim() == 3 else b
    if a.dim() != 4 or tuple(a.shape) != tuple(b.shape):
        raise BadInputError(
            f"{what}: images must have the same shape (C x H x W or N x C x H x W); got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    return a.detach().double(), b.detach().double()


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB averaged over image pairs (inf for identical images)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio

    a, b = _pair(a, b, "psnr")
    per_image = peak_signal_noise_ratio(
        a, b, data_range=DATA_RANGE, reduction="none", dim=(1, 2, 3)
    )
    return float(per_image.mean())


def ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Structural similarity (11x11 Gaussian window, sigma 1.5, K = 0.01/0.03), mean over pairs."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    a, b = _pair(a, b, "ssim")
    if min(a.shape[-2:]) < 11:
        raise BadInputError(
            f"ssim: images must be at least 11x11 pixels, got {tuple(a.shape[-2:])}"
        )
    _, ssim_map = structural_similarity_index_measure(
        a, b, data_range=DATA_RANGE, return_full_image=True
    )
    inside = ssim_map[..., _HALF_WINDOW:-_HALF_WINDOW, _HALF_WINDOW:-_HALF_WINDOW]
    return float(inside.mean(dim=(1, 2, 3)).mean())


def ms_ssim(a: torch.Tensor, b: torch.Tensor) -> float:
    """Multi-scale SSIM (Wang et al. 2003) with the standard 5 scales and weights.

    Five scales with an 11-pixel window need images of at least 176 pixels on each side.
    """
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure

    a, b = _pair(a, b, "ms_ssim")
    if min(a.shape[-2:]) < 176:
        raise BadInputError(
            f"ms_ssim: images must be at least 176x176 pixels, got {tuple(a.shape[-2:])}"
        )
    return float(multiscale_structural_similarity_index_measure(a, b, data_range=DATA_RANGE))
