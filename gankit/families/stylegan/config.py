"""StyleGAN configs: network shapes (one dataclass per architecture) and the training recipe.

Network defaults are StyleGAN2 config-f (Karras et al. 2020, table 1, config F; NVlabs
stylegan2 ``run_training.py`` / stylegan2-ada-pytorch ``train.py --cfg=stylegan2``), whose layout
rosinality/stylegan2-pytorch ``model.py`` reproduces: ``channels(res) = min(channel_base / res,
channel_max)`` with ``channel_base`` 32768 (rosinality's ``channel_multiplier`` 2 is 32768,
multiplier 1 is 16384), an 8-layer mapping network of width 512 with learning-rate multiplier
0.01, and the [1, 3, 3, 1] resampling filter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gankit.engine import TrainerConfig


@dataclass
class StyleGAN2Config:
    """Generator/discriminator shape; NVlabs' options cover the published ADA/StyleGAN3 files."""

    size: int = 1024
    style_dim: int = 512
    n_mlp: int = 8
    channel_base: int = 32768
    channel_max: int = 512
    lr_mlp: float = 0.01
    c_dim: int = 0
    """Number of classes of a conditional generator (NVlabs ``c_dim``; 0: unconditional)."""
    conv_clamp: float | None = None
    """Clamp activations to +-this (NVlabs ADA networks use 256; rosinality none)."""
    num_fp16_res: int = 0
    """On CUDA, run the top N resolutions in float16 (NVlabs ``num_fp16_res``, ADA uses 4)."""

    def __post_init__(self) -> None:
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"size must be a power of two >= 8, got {self.size}")
        for name in ("style_dim", "n_mlp", "channel_base", "channel_max"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.c_dim < 0 or self.num_fp16_res < 0:
            raise ValueError("c_dim and num_fp16_res must be >= 0")

    @property
    def log_size(self) -> int:
        return int(math.log2(self.size))

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    @property
    def n_latent(self) -> int:
        """Number of per-layer W vectors (2 per resolution from 8, plus the 4x4 conv and ToRGB)."""
        return self.log_size * 2 - 2


@dataclass
class StyleGAN2Config512(StyleGAN2Config):
    size: int = 512


@dataclass
class StyleGAN2Config256(StyleGAN2Config):
    size: int = 256


@dataclass
class StyleGAN2Config256CM1(StyleGAN2Config):
    """256x256 with channel multiplier 1 (rosinality's default; NVlabs ``paper256`` widths)."""

    size: int = 256
    channel_base: int = 16384


@dataclass
class StyleGAN2Config128(StyleGAN2Config):
    size: int = 128
    channel_base: int = 16384


@dataclass
class StyleGAN2Config64(StyleGAN2Config):
    size: int = 64
    channel_base: int = 16384


@dataclass
class StyleGAN1Config(StyleGAN2Config):
    """StyleGAN1 generator (Karras et al. 2019): AdaIN, bilinear up-sampling, same mapping.

    Channel widths follow StyleGAN1's ``fmap_base`` 8192 x 2 = 16384 at 1024 (``G_synthesis`` in
    NVlabs stylegan ``networks_stylegan.py``: min(16384 / res, 512)).
    """

    channel_base: int = 16384


@dataclass
class StyleGANTrainConfig:
    """The StyleGAN2 training recipe (Karras et al. 2020, app. B; NVlabs config-f defaults)."""

    data: str = ""
    """Folder or .zip of training images."""
    arch: str = "stylegan2_256"
    """Registered generator name; the discriminator is ``<arch>_d``."""
    generator: StyleGAN2Config = field(default_factory=StyleGAN2Config256)
    batch_size: int = 16
    lr: float = 0.002
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    r1_gamma: float = 10.0
    r1_every: int = 16
    pl_weight: float = 2.0
    pl_every: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    mixing_prob: float = 0.9
    ema_kimg: float = 10.0
    """G EMA half-life in thousands of images (config-f: 10 kimg)."""
    w_avg_decay: float = 0.995
    xflip: bool = False
    init: str = ""
    """A rosinality .pt or NVlabs .pkl (ADA or TF-era) to start from: G, G EMA and D."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.r1_every < 1 or self.pl_every < 1:
            raise ValueError("batch_size, r1_every and pl_every must be >= 1")
        if not 0.0 <= self.mixing_prob <= 1.0:
            raise ValueError(f"mixing_prob must be in [0, 1], got {self.mixing_prob}")
        if self.pl_batch_shrink < 1 or self.batch_size // self.pl_batch_shrink < 1:
            raise ValueError("pl_batch_shrink must be >= 1 and leave at least one sample")


TOTAL_KIMG = 25_000
"""Training length of NVlabs' stylegan2 ``run_training.py`` (25M real images shown to D)."""
SNAPSHOT_KIMG = 200
"""NVlabs' network snapshot interval: 50 ticks of 4 kimg."""


def _preset(arch: str, gen: StyleGAN2Config, batch: int, gamma: float) -> StyleGANTrainConfig:
    per_snapshot = math.ceil(SNAPSHOT_KIMG * 1000 / batch)
    trainer = TrainerConfig(max_steps=math.ceil(TOTAL_KIMG * 1000 / batch),
                            checkpoint_every=per_snapshot, sample_every=per_snapshot)
    return StyleGANTrainConfig(arch=arch, generator=gen, batch_size=batch, r1_gamma=gamma,
                               trainer=trainer)


PRESETS: dict[str, StyleGANTrainConfig] = {
    # gamma follows NVlabs stylegan2-ada-pytorch's heuristic 0.0002 * res^2 / batch (train.py,
    # cfg "auto"), except 1024 and 256 which use the paper values (config-f: gamma 10 at 1024 with
    # batch 32; "paper256": gamma 1, batch 64 — batch 16 here to fit one GPU).
    "64": _preset("stylegan2_64", StyleGAN2Config64(), 32, 0.0256),
    "128": _preset("stylegan2_128", StyleGAN2Config128(), 32, 0.1024),
    "256": _preset("stylegan2_256", StyleGAN2Config256(), 16, 1.0),
    "512": _preset("stylegan2_512", StyleGAN2Config512(), 16, 3.2768),
    "1024": _preset("stylegan2_1024", StyleGAN2Config(), 32, 10.0),
}
