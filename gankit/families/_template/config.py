"""Settings of the template family: one dataclass per network and one for training.

Fill in: each field with the paper's or the reference's value and a comment citing where it comes
from (paper section, reference file@commit). The network configs are what a saved model carries
(``config.json``), so their defaults must be the reference sizes: ``gankit models`` builds every
registered architecture with its defaults to count parameters. ``TrainConfig`` is what
``gankit template train`` parses (``--lr 1e-4``, ``--generator.hidden 512``,
``--trainer.max_steps 100``); ``PRESETS`` name the settings of the paper's experiments.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gankit.engine import TrainerConfig


@dataclass
class GeneratorConfig:
    """G: z (``z_dim``) -> ``hidden`` -> ``hidden`` -> ``resolution``^2 x ``channels`` (tanh)."""

    resolution: int = 32
    z_dim: int = 64
    hidden: int = 256
    channels: int = 3


@dataclass
class DiscriminatorConfig:
    """D: ``resolution``^2 x ``channels`` -> ``hidden`` -> ``hidden`` -> one logit."""

    resolution: int = 32
    hidden: int = 256
    channels: int = 3


@dataclass
class TrainConfig:
    """The training run: data, networks, optimiser and the engine's settings (``trainer``)."""

    data: str = ""
    resolution: int = 32
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    objective: str = "vanilla"  # a name of gankit.losses.adversarial.ADVERSARIAL
    batch_size: int = 64
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    sample_count: int = 16
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        # One resolution drives both networks, so a preset or --resolution cannot disagree.
        self.generator.resolution = self.discriminator.resolution = self.resolution
        self.discriminator.channels = self.generator.channels


PRESETS: dict[str, TrainConfig] = {
    # One entry per experiment of the paper, named by its data set and size.
    "faces-32": TrainConfig(trainer=TrainerConfig(max_steps=10_000)),
}
