"""WGAN-GP settings (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs").

Two of the paper's architectures, as in the authors' code (igul222/improved_wgan_training):
``dcgan64`` — ``gan_64x64.py``'s DCGANGenerator / DCGANDiscriminator, the critic with layer
norm instead of batch norm (sec. 4: "no critic batch normalization"), and ``resnet32`` —
``gan_cifar_resnet.py``'s unconditional CIFAR-10 ResNet (sec. 5.1, appendix C).
Algorithm 1's defaults: lambda = 10, n_critic = 5, Adam lr 1e-4, beta = (0, 0.9), batch 64.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gankit.engine import TrainerConfig

ARCHITECTURES = ("dcgan64", "resnet32")


@dataclass
class DCGAN64GeneratorConfig:
    """z -> linear 4x4 x 8*dim -> four 5x5 stride-2 transposed convs (BN, ReLU) -> 64x64, tanh."""

    z_dim: int = 128
    dim: int = 64
    channels: int = 3


@dataclass
class DCGAN64CriticConfig:
    """64x64 -> four 5x5 stride-2 convs (dim..8*dim, LeakyReLU 0.2) -> linear -> score.

    ``norm="layer"`` is the paper's critic (layer norm over C, H, W with per-channel affine, as
    tflib's ``Layernorm``); ``"none"`` drops it.
    """

    dim: int = 64
    channels: int = 3
    norm: str = "layer"

    def __post_init__(self) -> None:
        if self.norm not in ("layer", "none"):
            raise ValueError(f"norm must be 'layer' or 'none', got {self.norm!r}")


@dataclass
class ResNet32GeneratorConfig:
    """z -> linear 4x4 x dim -> three up-sampling residual blocks (BN) -> 32x32, tanh."""

    z_dim: int = 128
    dim: int = 128
    channels: int = 3


@dataclass
class ResNet32CriticConfig:
    """32x32 -> optimised down block, down block, two plain blocks (no norm) -> mean -> linear."""

    dim: int = 128
    channels: int = 3


@dataclass
class TrainConfig:
    """Algorithm 1 of the paper; ``resnet32`` preset adds the CIFAR script's lr 2e-4 with linear
    decay to zero and a generator batch twice the critic's."""

    data: str = ""
    architecture: str = "dcgan64"
    z_dim: int = 128
    g_dim: int = 64
    d_dim: int = 64
    critic_norm: str = "layer"
    batch_size: int = 64
    n_critic: int = 5
    gp_weight: float = 10.0
    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    lr_decay: bool = False
    gen_batch_multiple: int = 1
    sample_count: int = 64
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(
                f"architecture must be one of {', '.join(ARCHITECTURES)}, got {self.architecture!r}"
            )
        for name in ("batch_size", "n_critic", "gen_batch_multiple"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def resolution(self) -> int:
        return 64 if self.architecture == "dcgan64" else 32

    def networks(self) -> tuple[str, object, str, object]:
        """``(G name, G config, critic name, critic config)`` for the registry."""
        if self.architecture == "dcgan64":
            return (
                "wgan_gp_dcgan64_g",
                DCGAN64GeneratorConfig(self.z_dim, self.g_dim),
                "wgan_gp_dcgan64_d",
                DCGAN64CriticConfig(self.d_dim, norm=self.critic_norm),
            )
        return (
            "wgan_gp_resnet32_g",
            ResNet32GeneratorConfig(self.z_dim, self.g_dim),
            "wgan_gp_resnet32_d",
            ResNet32CriticConfig(self.d_dim),
        )


PRESETS: dict[str, TrainConfig] = {
    # Sec. 5 / gan_64x64.py: 64x64 images (downsampled ImageNet in the paper; LSUN bedrooms and
    # CelebA work the same), 200k generator iterations.
    "dcgan64": TrainConfig(trainer=TrainerConfig(max_steps=200_000)),
    # Sec. 5.1 / gan_cifar_resnet.py (unconditional): 100k generator iterations.
    "cifar10-resnet": TrainConfig(
        architecture="resnet32",
        g_dim=128,
        d_dim=128,
        lr=2e-4,
        lr_decay=True,
        gen_batch_multiple=2,
        trainer=TrainerConfig(max_steps=100_000),
    ),
}
