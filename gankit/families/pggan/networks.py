"""Progressive GAN generator and discriminator (Karras et al. 2018, Table 2 and sec. 2-4).

Both hold the layers of every resolution from the start; ``level`` (0 = 4x4) and ``alpha``
select how much of the network runs. During a fade-in (sec. 2, fig. 2) the new top block's
output is blended with the previous resolution's: ``lerp(old, new, alpha)``, alpha rising from
0 to 1. ``level`` and ``alpha`` are buffers, so a saved model generates at the phase it was
saved in. The buffers, the fade and D live in ``gankit.nn.progressive`` (StyleGAN1 grows with the
same pieces). Every layer uses the equalised learning rate (sec. 4.1) from ``gankit.nn.equalized``;
G normalises each pixel's feature vector after every convolution (sec. 4.2); D appends the
minibatch standard deviation before its last block (sec. 3).
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.core import registry
from gankit.families.pggan.config import DiscriminatorConfig, GeneratorConfig
from gankit.nn.equalized import EqualConv2d, EqualLinear, PixelNorm
from gankit.nn.progressive import (
    SQRT2,
    Growable,
    ProgressiveDiscriminator,
    fade_in,
    leaky_relu,
    upsample2x,
)


class GBlock(nn.Module):
    """Upsample x2, then two 3x3 convs, each followed by leaky ReLU and pixel norm."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(cin, cout, 3, padding=1, gain=SQRT2)
        self.conv2 = EqualConv2d(cout, cout, 3, padding=1, gain=SQRT2)
        self.norm = PixelNorm()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(leaky_relu(self.conv1(upsample2x(x))))
        return self.norm(leaky_relu(self.conv2(x)))


@registry.register(
    "pggan_g",
    family="pggan",
    role="generator",
    config_cls=GeneratorConfig,
    description="Progressive GAN generator (1024x1024, z 512, Table 2)",
)
class Generator(Growable):
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
        self.blocks = nn.ModuleList(
            GBlock(config.width(i - 1), config.width(i)) for i in range(1, config.max_level + 1)
        )
        self.to_rgb = nn.ModuleList(
            EqualConv2d(config.width(i), config.channels, 1, gain=1.0)
            for i in range(config.max_level + 1)
        )
        self._init_phase(config.max_level)

    def forward(
        self, z: torch.Tensor, level: int | None = None, alpha: float | None = None
    ) -> torch.Tensor:
        level, alpha = self._phase(level, alpha)
        x = self.norm(z) if self.normalize_latent else z
        x = self.norm(leaky_relu(self.dense(x).view(z.shape[0], -1, 4, 4)))
        x = self.norm(leaky_relu(self.conv(x)))
        prev = x
        for block in self.blocks[:level]:
            prev, x = x, block(x)
        rgb = self.to_rgb[level](x)
        if alpha < 1.0:
            rgb = fade_in(self.to_rgb[level - 1](prev), rgb, alpha)
        return rgb


@registry.register(
    "pggan_d",
    family="pggan",
    role="discriminator",
    config_cls=DiscriminatorConfig,
    description="Progressive GAN discriminator (1024x1024, Table 2)",
)
class Discriminator(ProgressiveDiscriminator):
    """PGGAN's D: :class:`gankit.nn.progressive.ProgressiveDiscriminator` at Table 2's widths."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__(
            [config.width(i) for i in range(config.max_level + 1)],
            config.channels,
            config.mbstd_group,
        )
