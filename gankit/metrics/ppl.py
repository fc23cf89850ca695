"""Perceptual path length (Karras et al. 2019, "A Style-Based Generator Architecture for GANs",
sec. 4.1 and app. E; StyleGAN2, Karras et al. 2020, sec. 3.2).

The expected LPIPS distance between images generated at latents ``t`` and ``t + eps`` along
random interpolation paths, divided by ``eps^2``. StyleGAN1 reports Z-space (spherical
interpolation) with ``t`` uniform over the path ("full"); StyleGAN2 W-space (linear
interpolation) at the path's end points ("end"). Distances outside the 1st-99th percentiles are
dropped; images are optionally cropped to the face (FFHQ) and box-downsampled to 256 pixels.

This module knows no family: the caller passes ``latent_fn(n, generator) -> latents`` (z, or
w = mapping(z)) and ``generator_fn(latents) -> images``. Both images of a pair are generated
from the same RNG state, so per-layer noise, if the generator draws any, is shared by the pair.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from gankit.core.errors import BadInputError, UsageError
from gankit.metrics.lpips import Distance

LatentFn = Callable[[int, torch.Generator], torch.Tensor]
GeneratorFn = Callable[[torch.Tensor], torch.Tensor]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between the directions of ``a`` and ``b`` (unit-norm result)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    d = (a * b).sum(dim=-1, keepdim=True).clamp(-1, 1)
    p = t * torch.acos(d)
    c = b - d * a
    c = c / c.norm(dim=-1, keepdim=True)
    out = a * torch.cos(p) + c * torch.sin(p)
    return out / out.norm(dim=-1, keepdim=True)


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return a + (b - a) * t


def prepare(images: torch.Tensor, crop: bool) -> torch.Tensor:
    """Face crop (StyleGAN's FFHQ setting) and box-downsampling of images larger than 256."""
    if crop:
        c = images.shape[2] // 8
        images = images[:, :, c * 3 : c * 7, c * 2 : c * 6]
    factor = images.shape[2] // 256
    if factor > 1:
        images = torch.nn.functional.avg_pool2d(images, factor)
    return images


def _seeded(fn: GeneratorFn, latents: torch.Tensor, noise_seed: int) -> torch.Tensor:
    with torch.random.fork_rng(devices=[latents.device] if latents.is_cuda else []):
        torch.manual_seed(noise_seed)
        return fn(latents)


def ppl(
    generator_fn: GeneratorFn,
    latent_fn: LatentFn,
    distance: Distance | None = None,
    *,
    num_samples: int = 50_000,
    epsilon: float = 1e-4,
    space: str = "w",
    sampling: str = "end",
    crop: bool = False,
    batch_size: int = 16,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> float:
    """Perceptual path length; ``distance(img0, img1)`` defaults to NVlabs' ``vgg16.pt`` LPIPS
    (:class:`gankit.metrics.nvlabs_vgg.NVlabsLPIPS`), the papers' distance.

    ``num_samples`` defaults to 50,000 paths as NVlabs' ``ppl2_wend`` metric (the StyleGAN1 paper
    used 100,000).
    """
    if space not in ("z", "w"):
        raise UsageError(f"PPL space must be z or w, got {space!r}")
    if sampling not in ("full", "end"):
        raise UsageError(f"PPL sampling must be full or end, got {sampling!r}")
    if num_samples < 2 or epsilon <= 0 or batch_size < 1:
        raise UsageError("PPL needs num_samples >= 2, epsilon > 0 and batch_size >= 1")
    if distance is None:
        from gankit.core.device import resolve_device
        from gankit.metrics.extractors import cached

        distance = cached("lpips-nvlabs").to(resolve_device(device or "auto"))
    interpolate = slerp if space == "z" else lerp
    gen = torch.Generator().manual_seed(seed)
    dists = []
    with torch.no_grad():
        done = 0
        while done < num_samples:
            n = min(batch_size, num_samples - done)
            ends = latent_fn(2 * n, gen)
            t = torch.rand(n, 1, generator=gen) * (1.0 if sampling == "full" else 0.0)
            t = t.to(ends.device).view(n, *([1] * (ends.dim() - 1)))
            a = interpolate(ends[:n], ends[n:], t)
            b = interpolate(ends[:n], ends[n:], t + epsilon)
            noise_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
            img_a = _seeded(generator_fn, a, noise_seed)
            img_b = _seeded(generator_fn, b, noise_seed)
            if img_a.shape != img_b.shape or img_a.dim() != 4:
                raise BadInputError(
                    f"PPL: the generator must return N x C x H x W images, got {tuple(img_a.shape)}"
                )
            dist = distance(prepare(img_a, crop), prepare(img_b, crop))
            dists.append(dist.flatten().double().cpu() / epsilon**2)
            done += n
    d = torch.cat(dists).numpy()
    lo = np.percentile(d, 1, method="lower")
    hi = np.percentile(d, 99, method="higher")
    return float(d[(d >= lo) & (d <= hi)].mean())
