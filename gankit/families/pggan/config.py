"""Progressive GAN settings (Karras et al. 2018, "Progressive Growing of GANs", app. A).

Channels per resolution follow the paper's Table 2 (NVlabs' ``nf(stage) = min(fmap_base /
2**stage, fmap_max)`` with 8192 / 512): 512 up to 32x32, then halving (256 at 64x64 ... 16 at
1024x1024). Training (app. A.1): each new resolution fades in over 800k real images and is then
stabilised for 800k; WGAN-GP (lambda 10) plus a drift term 0.001 * E[D(x)^2]; Adam lr 0.001,
beta = (0, 0.99), eps 1e-8; minibatch 16 up to 128x128, then 14, 6, 3; an EMA of G's weights
with decay 0.999 is the exported model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gankit.engine import TrainerConfig
from gankit.engine.progressive import GrowthSchedule

PAPER_BATCH = [16, 16, 16, 16, 16, 16, 14, 6, 3]
"""Minibatch per resolution 4x4, 8x8, ..., 1024x1024 (app. A.1)."""


def _levels(resolution: int) -> int:
    if resolution < 4 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
    return int(math.log2(resolution)) - 2


@dataclass
class NetworkConfig:
    """Sizes shared by G and D. ``widths`` (channels at 4x4, 8x8, ... up to ``resolution``)
    overrides the ``fmap_base`` / ``fmap_max`` schedule, e.g. for imported checkpoints."""

    resolution: int = 1024
    fmap_base: int = 8192
    fmap_max: int = 512
    channels: int = 3
    widths: list[int] | None = None

    def __post_init__(self) -> None:
        n = _levels(self.resolution) + 1
        if self.widths is not None and (len(self.widths) != n or min(self.widths) < 1):
            raise ValueError(
                f"widths needs {n} positive channel counts (4x4 .. "
                f"{self.resolution}x{self.resolution}), got {self.widths}"
            )

    @property
    def max_level(self) -> int:
        """Index of the final resolution (0 is 4x4)."""
        return _levels(self.resolution)

    def width(self, level: int) -> int:
        """Feature maps at resolution 4 * 2**level (Table 2)."""
        if self.widths is not None:
            return self.widths[level]
        return min(self.fmap_base // 2 ** (level + 1), self.fmap_max)


@dataclass
class GeneratorConfig(NetworkConfig):
    z_dim: int = 512
    normalize_latent: bool = True


@dataclass
class DiscriminatorConfig(NetworkConfig):
    mbstd_group: int = 4


@dataclass
class TrainConfig:
    """``resolution`` sets both networks; ``batch_per_level`` lists 4x4 upwards (the last entry
    repeats for any further level)."""

    data: str = ""
    resolution: int = 1024
    z_dim: int = 512
    fmap_base: int = 8192
    fmap_max: int = 512
    fade_kimg: float = 800.0
    stab_kimg: float = 800.0
    batch_per_level: list[int] = field(default_factory=lambda: list(PAPER_BATCH))
    lr: float = 1e-3
    beta1: float = 0.0
    beta2: float = 0.99
    eps: float = 1e-8
    gp_weight: float = 10.0
    drift: float = 1e-3
    ema_decay: float = 0.999
    mirror: bool = True
    reset_optimizer_on_grow: bool = True
    sample_count: int = 16
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        self.schedule()  # checks the resolution, the phase lengths and the batch sizes

    def generator(self) -> GeneratorConfig:
        return GeneratorConfig(
            resolution=self.resolution,
            fmap_base=self.fmap_base,
            fmap_max=self.fmap_max,
            z_dim=self.z_dim,
        )

    def discriminator(self) -> DiscriminatorConfig:
        return DiscriminatorConfig(
            resolution=self.resolution, fmap_base=self.fmap_base, fmap_max=self.fmap_max
        )

    def schedule(self) -> GrowthSchedule:
        """The image-counted growth from 4x4 (shared with StyleGAN1, ``gankit.engine``)."""
        return GrowthSchedule.from_kimg(
            self.fade_kimg, self.stab_kimg, _levels(self.resolution), self.batch_per_level
        )


def _preset(resolution: int) -> TrainConfig:
    cfg = TrainConfig(resolution=resolution)
    cfg.trainer.max_steps = cfg.schedule().steps_to_grow()
    return cfg


PRESETS: dict[str, TrainConfig] = {
    # CelebA-HQ 1024x1024, the paper's headline result (sec. 6.1, app. A.1).
    "celebahq-1024": _preset(1024),
    # LSUN bedroom 256x256 (sec. 6.3).
    "lsun-bedroom-256": _preset(256),
    # CIFAR-10 32x32 (sec. 6.4: unsupervised inception score 8.80).
    "cifar10": _preset(32),
    # Aligned CelebA at 128x128, pytorch_GAN_zoo's "celeba" model size.
    "celeba-128": _preset(128),
}
