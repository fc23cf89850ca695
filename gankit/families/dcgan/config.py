"""DCGAN settings (Radford et al. 2016, sec. 3-4; PyTorch's ``examples/dcgan/main.py``).

Defaults are the paper's 64x64 networks: z in R^100, ngf = ndf = 64, three colour channels, which
give 3,576,704 (G) and 2,765,568 (D) parameters. Other square power-of-two resolutions add or
remove one stride-2 layer per octave, as the paper's "fractionally-strided" stack implies.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gankit.engine import TrainerConfig


def _check_resolution(resolution: int) -> None:
    if resolution < 16 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 16, got {resolution}")


@dataclass
class GeneratorConfig:
    """G: z (``z_dim``) -> 4x4 x ngf*R/8 -> ... -> ``resolution``^2 x ``channels`` (tanh)."""

    resolution: int = 64
    z_dim: int = 100
    ngf: int = 64
    channels: int = 3

    def __post_init__(self) -> None:
        _check_resolution(self.resolution)


@dataclass
class DiscriminatorConfig:
    """D: ``resolution``^2 x ``channels`` -> ndf -> ... -> ndf*R/8 at 4x4 -> one logit."""

    resolution: int = 64
    ndf: int = 64
    channels: int = 3

    def __post_init__(self) -> None:
        _check_resolution(self.resolution)


@dataclass
class TrainConfig:
    """Paper sec. 4: Adam lr 2e-4, beta1 0.5, minibatch 128, weights from N(0, 0.02)."""

    data: str = ""
    resolution: int = 64
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    batch_size: int = 128
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    init_std: float = 0.02
    sample_count: int = 64
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        _check_resolution(self.resolution)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        # One resolution drives both networks, so a preset or --resolution cannot disagree.
        self.generator.resolution = self.discriminator.resolution = self.resolution
        self.discriminator.channels = self.generator.channels


PRESETS: dict[str, TrainConfig] = {
    # LSUN bedrooms at 64x64: the paper's main experiment (sec. 4.1).
    "lsun-bedroom-64": TrainConfig(trainer=TrainerConfig(max_steps=100_000)),
    # Aligned CelebA faces at 64x64, PyTorch's DCGAN tutorial setting (5 epochs ~ 8k steps).
    "celeba-64": TrainConfig(trainer=TrainerConfig(max_steps=8_000)),
    # CIFAR-10 at its native 32x32: one octave fewer in G and D.
    "cifar10": TrainConfig(resolution=32, trainer=TrainerConfig(max_steps=20_000)),
}
