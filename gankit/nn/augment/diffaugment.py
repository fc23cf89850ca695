"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training", sec. 3): the same random colour, translation and cutout transforms applied to every
image D sees, real or generated, always on (no probability), differentiable in the images.

Follows ``DiffAugment_pytorch.py`` of mit-han-lab/data-efficient-gans@0b63395: ``color`` is
brightness (+U(-0.5, 0.5)), saturation (x U(0, 2) about the pixel's channel mean) and contrast
(x U(0.5, 1.5) about the image mean); ``translation`` shifts by whole pixels up to 1/8 of the
side, filling with zeros; ``cutout`` zeroes a half-size square at a random position.
Random numbers come from a :class:`~gankit.nn.augment.draws.Draws`, in the reference's order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.nn.augment.draws import Draws, TorchDraws

POLICIES = ("color", "translation", "cutout")


class DiffAugment(nn.Module):
    """The transforms of a comma-separated ``policy`` (default: all three), in its order."""

    def __init__(
        self, policy: str = "color,translation,cutout", draws: Draws | None = None
    ) -> None:
        super().__init__()
        self.policy = [p for p in policy.split(",") if p]
        unknown = [p for p in self.policy if p not in POLICIES]
        if unknown:
            raise ValueError(f"unknown DiffAugment policy {unknown[0]!r}; choose from {POLICIES}")
        self.draws = draws or TorchDraws()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.policy:
            if name == "color":
                x = self._color(x)
            elif name == "translation":
                x = self._translate(x)
            else:
                x = self._cutout(x)
        return x.contiguous()

    def _uniform(self, x: torch.Tensor) -> torch.Tensor:
        return self.draws.rand([x.shape[0], 1, 1, 1], x.device).to(x.dtype)

    def _color(self, x: torch.Tensor) -> torch.Tensor:
        x = x + (self._uniform(x) - 0.5)
        grey = x.mean(dim=1, keepdim=True)
        x = (x - grey) * (self._uniform(x) * 2) + grey
        mean = x.mean(dim=[1, 2, 3], keepdim=True)
        return (x - mean) * (self._uniform(x) + 0.5) + mean

    def _translate(self, x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
        n, _, h, w = x.shape
        dev = x.device
        sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
        dy = self.draws.randint(-sh, sh + 1, [n, 1, 1], dev)
        dx = self.draws.randint(-sw, sw + 1, [n, 1, 1], dev)
        # Index into the image padded by one zero pixel: sources outside land on the padding.
        rows = (torch.arange(h, device=dev)[None, :, None] + dy + 1).clamp(0, h + 1)
        cols = (torch.arange(w, device=dev)[None, None, :] + dx + 1).clamp(0, w + 1)
        padded = F.pad(x, [1, 1, 1, 1])
        batch = torch.arange(n, device=dev)[:, None, None]
        return padded[batch, :, rows, cols].permute(0, 3, 1, 2)

    def _cutout(self, x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
        n, _, h, w = x.shape
        dev = x.device
        sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
        cy = self.draws.randint(0, h + (1 - sh % 2), [n, 1, 1], dev)
        cx = self.draws.randint(0, w + (1 - sw % 2), [n, 1, 1], dev)
        rows = torch.arange(h, device=dev)[None, :, None] - (cy - sh // 2)
        cols = torch.arange(w, device=dev)[None, None, :] - (cx - sw // 2)
        inside = (rows >= 0) & (rows < sh) & (cols >= 0) & (cols < sw)
        return x * (~inside).to(x.dtype).unsqueeze(1)
