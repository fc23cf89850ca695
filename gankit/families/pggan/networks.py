"""Progressive GAN generator and discriminator (Karras et al. 2018, Table 2 and sec. 2-4).

Both hold the layers of every resolution from the start; ``level`` (0 = 4x4) and ``alpha``
select how much of the network runs. During a fade-in (sec. 2, fig. 2) the new top block's
output is blended with the previous resolution's: ``lerp(old, new, alpha)``, alpha rising from
0 to 1. ``level`` and ``alpha`` are buffers, so a saved model generates at the phase it was
saved in. Every layer uses the equalised learning rate (sec. 4.1) from ``gankit.nn.equalized``;
G normalises each pixel's feature vector after every convolution (sec. 4.2); D appends the
minibatch standard deviation before its last block (sec. 3).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core import registry
from gankit.families.pggan.config import DiscriminatorConfig, GeneratorConfig
from gankit.nn.equalized import EqualConv2d, EqualLinear, PixelNorm
from gankit.nn.minibatch_std import MinibatchStdDev

SQRT2 = math.sqrt(2.0)


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


class _Grown(nn.Module):
    """The ``level`` / ``alpha`` buffers and their checks, shared by G and D."""

    def _init_phase(self, max_level: int) -> None:
        self.max_level = max_level
        self.register_buffer("level", torch.tensor(max_level, dtype=torch.int64))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_phase(self, level: int, alpha: float) -> None:
        """Train or generate at resolution 4 * 2**level, fading in with weight ``alpha``."""
        if not 0 <= level <= self.max_level:
            raise ValueError(f"level must be in [0, {self.max_level}], got {level}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.level.fill_(level)
        self.alpha.fill_(alpha)

    def _phase(self, level: int | None, alpha: float | None) -> tuple[int, float]:
        level = int(self.level) if level is None else level
        alpha = float(self.alpha) if alpha is None else alpha
        return level, (1.0 if level == 0 else alpha)


class GBlock(nn.Module):
    """Upsample x2, then two 3x3 convs, each followed by leaky ReLU and pixel norm."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(cin, cout, 3, padding=1, gain=SQRT2)
        self.conv2 = EqualConv2d(cout, cout, 3, padding=1, gain=SQRT2)
        self.norm = PixelNorm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(_act(self.conv1(_up(x))))
        return self.norm(_act(self.conv2(x)))


@registry.register("pggan_g", family="pggan", role="generator", config_cls=GeneratorConfig,
                   description="Progressive GAN generator (1024x1024, z 512, Table 2)")
class Generator(_Grown):
    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        c0 = config.width(0)
        self.z_dim = config.z_dim
        self.normalize_latent = config.normalize_latent
        self.norm = PixelNorm()
        # The 4x4 "conv" of Table 2 is a dense layer (NVlabs: gain sqrt(2)/4); its bias is per
        # output unit, as in pytorch_GAN_zoo, so that its checkpoints import exactly.
        self.dense = EqualLinear(config.z_dim, c0 * 16, gain=SQRT2 / 4)
        self.conv = EqualConv2d(c0, c0, 3, padding=1, gain=SQRT2)
        self.blocks = nn.ModuleList(GBlock(config.width(i - 1), config.width(i))
                                    for i in range(1, config.max_level + 1))
        self.to_rgb = nn.ModuleList(EqualConv2d(config.width(i), config.channels, 1, gain=1.0)
                                    for i in range(config.max_level + 1))
        self._init_phase(config.max_level)

    def forward(self, z: torch.Tensor, level: int | None = None,
                alpha: float | None = None) -> torch.Tensor:
        level, alpha = self._phase(level, alpha)
        x = self.norm(z) if self.normalize_latent else z
        x = self.norm(_act(self.dense(x).view(z.shape[0], -1, 4, 4)))
        x = self.norm(_act(self.conv(x)))
        prev = x
        for block in self.blocks[:level]:
            prev, x = x, block(x)
        rgb = self.to_rgb[level](x)
        if alpha < 1.0:
            rgb = torch.lerp(_up(self.to_rgb[level - 1](prev)), rgb, alpha)
        return rgb


class DBlock(nn.Module):
    """Two 3x3 convs with leaky ReLU, then 2x2 average pooling."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(cin, cin, 3, padding=1, gain=SQRT2)
        self.conv2 = EqualConv2d(cin, cout, 3, padding=1, gain=SQRT2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(_act(self.conv2(_act(self.conv1(x)))), 2)


@registry.register("pggan_d", family="pggan", role="discriminator",
                   config_cls=DiscriminatorConfig,
                   description="Progressive GAN discriminator (1024x1024, Table 2)")
class Discriminator(_Grown):
    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        c0 = config.width(0)
        self.from_rgb = nn.ModuleList(EqualConv2d(config.channels, config.width(i), 1, gain=SQRT2)
                                      for i in range(config.max_level + 1))
        self.blocks = nn.ModuleList(DBlock(config.width(i), config.width(i - 1))
                                    for i in range(1, config.max_level + 1))
        self.mbstd = MinibatchStdDev(config.mbstd_group, 1)
        self.conv = EqualConv2d(c0 + 1, c0, 3, padding=1, gain=SQRT2)
        self.dense = EqualLinear(c0 * 16, c0, gain=SQRT2)
        self.out = EqualLinear(c0, 1, gain=1.0)
        self._init_phase(config.max_level)

    def forward(self, img: torch.Tensor, level: int | None = None,
                alpha: float | None = None) -> torch.Tensor:
        level, alpha = self._phase(level, alpha)
        x = _act(self.from_rgb[level](img))
        for i in range(level, 0, -1):
            x = self.blocks[i - 1](x)
            if i == level and alpha < 1.0:
                x = torch.lerp(_act(self.from_rgb[level - 1](F.avg_pool2d(img, 2))), x, alpha)
        x = _act(self.conv(self.mbstd(x)))
        x = _act(self.dense(x.flatten(1)))
        return self.out(x).reshape(-1)
