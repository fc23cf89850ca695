"""The template family's networks: ``nn.Module`` classes registered by name.

Fill in: the paper's architectures, with a docstring citing the section or figure and the
reference file they follow. Register each buildable network once with
``registry.register(name, family=..., role=..., config_cls=...)`` on a class whose ``__init__``
takes its config dataclass: the engine, ``gankit models``, the web app and ``from_pretrained``
find it by that name, and a saved model folder records it. Layers several families use belong in
``gankit/nn``, not here. A generator that maps latents exposes ``z_dim``, so that seeds become
latents the one way (``gankit.core.seed.model_latents``).
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.core import registry
from gankit.families._template.config import DiscriminatorConfig, GeneratorConfig


@registry.register(
    "template_g",
    family="template",
    role="generator",
    config_cls=GeneratorConfig,
    description="template generator (an MLP, 32x32)",
)
class Generator(nn.Module):
    """Two hidden ReLU layers, then one pixel per output unit (tanh: images in [-1, 1])."""

    def __init__(self, config: GeneratorConfig) -> None:
        super().__init__()
        self.z_dim = config.z_dim
        self.shape = (config.channels, config.resolution, config.resolution)
        self.main = nn.Sequential(
            nn.Linear(config.z_dim, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, config.hidden),
            nn.ReLU(),
            nn.Linear(config.hidden, config.channels * config.resolution**2),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z).reshape(z.shape[0], *self.shape)


@registry.register(
    "template_d",
    family="template",
    role="discriminator",
    config_cls=DiscriminatorConfig,
    description="template discriminator (an MLP, 32x32), logit output",
)
class Discriminator(nn.Module):
    """Two hidden LeakyReLU(0.2) layers on the flattened image, then one logit per image."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Flatten(),
            nn.Linear(config.channels * config.resolution**2, config.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(config.hidden, config.hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(config.hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).reshape(-1)
