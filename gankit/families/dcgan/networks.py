"""DCGAN generator and discriminator (Radford et al. 2016, sec. 3 and fig. 1).

Both are one ``nn.Sequential`` named ``main`` whose layer indices are those of PyTorch's DCGAN
example, so that its ``netG`` / ``netD`` state dicts load key for key. D returns a logit (the
example's final sigmoid is folded into the BCE-with-logits loss, which is numerically safer).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.core import registry
from gankit.families.dcgan.config import DiscriminatorConfig, GeneratorConfig


def _octaves(resolution: int) -> int:
    """Number of stride-2 layers between 4x4 and ``resolution`` (4 at 64x64)."""
    return int(math.log2(resolution)) - 2


@registry.register(
    "dcgan_g",
    family="dcgan",
    role="generator",
    config_cls=GeneratorConfig,
    description="DCGAN generator (64x64, z 100, ngf 64)",
)
class Generator(nn.Module):
    """Project z to 4x4 with a transposed conv, then double the size per layer (BN + ReLU)."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        n = _octaves(config.resolution)
        width = config.ngf * 2 ** (n - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(config.z_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [
                nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width // 2),
                nn.ReLU(True),
            ]
            width //= 2
        layers += [nn.ConvTranspose2d(width, config.channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.z_dim = config.z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.reshape(z.shape[0], self.z_dim, 1, 1))


@registry.register(
    "dcgan_d",
    family="dcgan",
    role="discriminator",
    config_cls=DiscriminatorConfig,
    description="DCGAN discriminator (64x64, ndf 64), logit output",
)
class Discriminator(nn.Module):
    """Halve the size per strided conv (LeakyReLU 0.2, BN except on the first), 4x4 -> logit."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        n = _octaves(config.resolution)
        width = config.ndf
        layers: list[nn.Module] = [
            nn.Conv2d(config.channels, width, 4, 2, 1, bias=False),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        for _ in range(n - 1):
            layers += [
                nn.Conv2d(width, width * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * 2),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            width *= 2
        layers.append(nn.Conv2d(width, 1, 4, 1, 0, bias=False))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).reshape(-1)


def dcgan_init_(module: nn.Module, std: float = 0.02) -> None:
    """Paper sec. 4: conv weights from N(0, std); batch-norm scales N(1, std), shifts zero."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            nn.init.normal_(m.weight, 0.0, std)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, std)
            nn.init.zeros_(m.bias)
