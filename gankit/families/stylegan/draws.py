"""Every random number StyleGAN training draws, behind one object the recipes hold.

Production draws from torch's global generator (which the trainer seeds). The parity test
(``tests/stylegan/test_parity_step.py``) hands the StyleGAN2 recipe an instance that returns
the draws NVlabs' own training code made, so the recipes take their draws from here (the
growing StyleGAN1 recipe all but its reals' flips, which the engine's growth code makes).
"""

from __future__ import annotations

import torch


class TrainingDraws:
    """Latents, style-mixing cutoffs, noise inputs, path-length noise and x-flips."""

    def latents(self, n: int, dim: int, device: torch.device) -> torch.Tensor:
        """``[n, dim]`` standard normal latents z."""
        return torch.randn(n, dim, device=device)

    def mixing_cutoff(self, layers: int, prob: float) -> int | None:
        """With probability ``prob`` the first of ``layers`` style layers to take a second
        latent's W, uniform in [1, layers) (StyleGAN1 sec. 3.1); ``None``: no mixing."""
        if layers > 1 and float(torch.rand(())) < prob:
            return int(torch.randint(1, layers, ()))
        return None

    def noise(self, n: int, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        """Fresh ``[n, 1, H, W]`` noise inputs, one per stored map (its size, device, dtype)."""
        return [
            torch.randn(n, 1, m.shape[-2], m.shape[-1], device=m.device, dtype=m.dtype)
            for m in maps
        ]

    def path_noise(self, images: torch.Tensor) -> torch.Tensor:
        """Standard normal images y of the path-length regulariser (StyleGAN2 eq. 4)."""
        return torch.randn_like(images)

    def flips(self, n: int, device: torch.device) -> torch.Tensor:
        """``[n]`` booleans, each true with probability 1/2: which reals to mirror."""
        return torch.rand(n, device=device) < 0.5
