"""The paper's WGAN-GP networks (Gulrajani et al. 2017, sec. 5 and appendix C).

Layer for layer the authors' TensorFlow code: 5x5 "SAME" convolutions with biases (aligned as
TF aligns them, :mod:`gankit.nn.tf_same`), tflib's
layer norm (mean/variance over C, H, W, a scale and offset per channel == ``GroupNorm(1, C)``),
nearest-neighbour ``UpsampleConv`` and average-pool ``ConvMeanPool`` in the residual blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core import registry
from gankit.families.wgan_gp.config import (
    DCGAN64CriticConfig,
    DCGAN64GeneratorConfig,
    ResNet32CriticConfig,
    ResNet32GeneratorConfig,
)
from gankit.nn.tf_same import Conv2dSame, ConvTranspose2dSame


@registry.register(
    "wgan_gp_dcgan64_g",
    family="wgan_gp",
    role="generator",
    config_cls=DCGAN64GeneratorConfig,
    description="WGAN-GP 64x64 DCGAN-like generator (z 128, dim 64)",
)
class DCGAN64Generator(nn.Module):
    def __init__(self, config: DCGAN64GeneratorConfig) -> None:
        super().__init__()
        d = config.dim
        self.z_dim = config.z_dim
        self.input = nn.Linear(config.z_dim, 4 * 4 * 8 * d)
        layers: list[nn.Module] = [nn.BatchNorm2d(8 * d), nn.ReLU(True)]
        for mult in (8, 4, 2):
            layers += [
                ConvTranspose2dSame(mult * d, mult * d // 2, 5, 2),
                nn.BatchNorm2d(mult * d // 2),
                nn.ReLU(True),
            ]
        layers += [ConvTranspose2dSame(d, config.channels, 5, 2), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(self.input(z).view(z.shape[0], -1, 4, 4))


@registry.register(
    "wgan_gp_dcgan64_d",
    family="wgan_gp",
    role="discriminator",
    config_cls=DCGAN64CriticConfig,
    description="WGAN-GP 64x64 DCGAN-like critic with layer norm (dim 64)",
)
class DCGAN64Critic(nn.Module):
    def __init__(self, config: DCGAN64CriticConfig) -> None:
        super().__init__()
        d = config.dim
        layers: list[nn.Module] = [Conv2dSame(config.channels, d, 5, 2), nn.LeakyReLU(0.2)]
        for mult in (1, 2, 4):
            layers.append(Conv2dSame(mult * d, 2 * mult * d, 5, 2))
            if config.norm == "layer":
                layers.append(nn.GroupNorm(1, 2 * mult * d, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
        self.main = nn.Sequential(*layers)
        self.output = nn.Linear(4 * 4 * 8 * d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(self.main(x).flatten(1)).reshape(-1)


class ResBlock(nn.Module):
    """``shortcut(x) + conv2(act(norm2(conv1(act(norm1(x))))))`` with optional resampling.

    ``up``: nearest x2 before conv1 and before the 1x1 shortcut (``UpsampleConv``); ``down``:
    2x2 mean pool after conv2 and after the 1x1 shortcut (``ConvMeanPool``). The shortcut is the
    identity when neither the size nor the width changes. ``first`` is the critic's optimised
    first block: no activation before conv1, and the shortcut pools before its 1x1 conv.
    """

    def __init__(
        self, cin: int, cout: int, resample: str | None, norm: bool, first: bool = False
    ) -> None:
        super().__init__()
        self.resample, self.first = resample, first
        mid = cin if resample == "down" and not first else cout
        self.norm1 = nn.BatchNorm2d(cin) if norm else nn.Identity()
        self.conv1 = nn.Conv2d(cin, mid, 3, 1, 1)
        self.norm2 = nn.BatchNorm2d(mid) if norm else nn.Identity()
        self.conv2 = nn.Conv2d(mid, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1) if cin != cout or resample is not None else None

    def _skip(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None:
            return x
        if self.resample == "up":
            return self.shortcut(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        if self.resample == "down":
            if self.first:
                return self.shortcut(F.avg_pool2d(x, 2))
            return F.avg_pool2d(self.shortcut(x), 2)
        return self.shortcut(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(self.norm1(x))
        if self.resample == "up":
            h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        h = self.conv2(F.relu(self.norm2(self.conv1(h))))
        if self.resample == "down":
            h = F.avg_pool2d(h, 2)
        return self._skip(x) + h


@registry.register(
    "wgan_gp_resnet32_g",
    family="wgan_gp",
    role="generator",
    config_cls=ResNet32GeneratorConfig,
    description="WGAN-GP CIFAR-10 ResNet generator (dim 128)",
)
class ResNet32Generator(nn.Module):
    def __init__(self, config: ResNet32GeneratorConfig) -> None:
        super().__init__()
        d = config.dim
        self.z_dim = config.z_dim
        self.input = nn.Linear(config.z_dim, 4 * 4 * d)
        self.blocks = nn.Sequential(*(ResBlock(d, d, "up", norm=True) for _ in range(3)))
        self.out_norm = nn.BatchNorm2d(d)
        self.output = nn.Conv2d(d, config.channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.input(z).view(z.shape[0], -1, 4, 4))
        return torch.tanh(self.output(F.relu(self.out_norm(x))))


@registry.register(
    "wgan_gp_resnet32_d",
    family="wgan_gp",
    role="discriminator",
    config_cls=ResNet32CriticConfig,
    description="WGAN-GP CIFAR-10 ResNet critic (dim 128, no normalisation)",
)
class ResNet32Critic(nn.Module):
    def __init__(self, config: ResNet32CriticConfig) -> None:
        super().__init__()
        d = config.dim
        self.blocks = nn.Sequential(
            ResBlock(config.channels, d, "down", norm=False, first=True),
            ResBlock(d, d, "down", norm=False),
            ResBlock(d, d, None, norm=False),
            ResBlock(d, d, None, norm=False),
        )
        self.output = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.output(F.relu(self.blocks(x)).mean(dim=(2, 3))).reshape(-1)
