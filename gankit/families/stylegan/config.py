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
from dataclasses import dataclass, field, replace
from typing import Literal

from gankit.engine import TrainerConfig
from gankit.engine.progressive import GrowthSchedule


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
    mbstd_group: int = 4
    """The discriminator's minibatch-stddev group size (NVlabs ``mbstd_group_size``: 4 in
    config-f and ``auto``, 8 in ``paper256``/``paper512``); no weight depends on it."""

    def __post_init__(self) -> None:
        if self.size < 8 or self.size & (self.size - 1):
            raise ValueError(f"size must be a power of two >= 8, got {self.size}")
        if self.mbstd_group < 1:
            raise ValueError(f"mbstd_group must be >= 1, got {self.mbstd_group}")
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


STYLEGAN2_SIZES: dict[str, StyleGAN2Config] = {
    "1024": StyleGAN2Config(),  # config-f
    "512": StyleGAN2Config(size=512),  # config-f widths
    "256": StyleGAN2Config(size=256),  # config-f widths (rosinality's channel multiplier 2)
    # Channel multiplier 1: rosinality's default, NVlabs ``paper256`` / ``auto`` widths.
    "256-cm1": StyleGAN2Config(size=256, channel_base=16384),
    "128": StyleGAN2Config(size=128, channel_base=16384),
    "64": StyleGAN2Config(size=64, channel_base=16384),
}
"""The reference sizes of ``stylegan2`` / ``stylegan2_d`` (registry presets; ``gankit models``).
Each is also accepted under a name of its own (``stylegan2_256_cm1``), an alias."""


@dataclass
class StyleGAN1Config(StyleGAN2Config):
    """StyleGAN1 generator (Karras et al. 2019): AdaIN, bilinear up-sampling, same mapping.

    Channel widths follow StyleGAN1's ``fmap_base`` 8192 x 2 = 16384 at 1024 (``G_synthesis`` in
    NVlabs stylegan ``networks_stylegan.py``: min(16384 / res, 512)).
    """

    channel_base: int = 16384
    progressive: bool = False
    """A ToRGB per lower resolution and ``level`` / ``alpha`` buffers, to grow (NVlabs
    ``structure='linear'``; 26,219,627 parameters at 1024 instead of 26,212,019). Training sets
    it from ``StyleGANTrainConfig.progressive``."""


STYLEGAN1_BATCH = [128, 128, 128, 64, 32, 16, 8, 4, 4]
"""Minibatch at 4x4 ... 1024x1024 of NVlabs stylegan ``train.py`` on one GPU (``minibatch_dict``
{4: 128, 8: 128, 16: 128, 32: 64, 64: 32, 128: 16, 256: 8, 512: 4}, ``minibatch_base`` 4)."""
STYLEGAN1_LR = [0.001, 0.001, 0.001, 0.001, 0.001, 0.0015, 0.002, 0.003, 0.003]
"""Adam learning rate at 4x4 ... 1024x1024 (NVlabs ``G_lrate_dict`` = ``D_lrate_dict`` {128: 0.0015,
256: 0.002, 512: 0.003, 1024: 0.003}, base 0.001)."""


@dataclass
class GrowthConfig:
    """Progressive growing of StyleGAN1 mode, used when ``generator.progressive`` is set.

    StyleGAN1 app. C trains "progressively, as in PGGAN", starting at 8x8 (NVlabs stylegan
    ``train.py``: ``lod_initial_resolution`` 8; ``training_loop.py``: ``lod_training_kimg`` =
    ``lod_transition_kimg`` = 600, Adam moments reset whenever new layers come in); lists run from
    4x4 upwards, their last entry repeating. Minibatches are per process.
    """

    start_resolution: int = 8
    fade_kimg: float = 600.0
    stab_kimg: float = 600.0
    batch_per_level: list[int] = field(default_factory=lambda: list(STYLEGAN1_BATCH))
    lr_per_level: list[float] = field(default_factory=lambda: list(STYLEGAN1_LR))
    reset_optimizer_on_grow: bool = True

    def __post_init__(self) -> None:
        if self.start_resolution < 4 or self.start_resolution & (self.start_resolution - 1):
            raise ValueError(
                f"start_resolution must be a power of two >= 4, got {self.start_resolution}"
            )
        if not self.lr_per_level or min(self.lr_per_level) <= 0:
            raise ValueError(f"lr_per_level needs positive rates, got {self.lr_per_level}")

    def schedule(self, size: int) -> GrowthSchedule:
        """The shared image-counted schedule (``gankit.engine.progressive``) up to ``size``."""
        return GrowthSchedule.from_kimg(
            self.fade_kimg,
            self.stab_kimg,
            int(math.log2(size)) - 2,
            self.batch_per_level,
            int(math.log2(self.start_resolution)) - 2,
        )

    def lr(self, level: int) -> float:
        return self.lr_per_level[min(level, len(self.lr_per_level) - 1)]


@dataclass
class StyleGANTrainConfig:
    """The StyleGAN2 training recipe (Karras et al. 2020, app. B; NVlabs config-f defaults)."""

    data: str = ""
    """Folder or .zip of training images."""
    arch: str = "stylegan2"
    """Registered generator: ``stylegan2`` (with ``stylegan2_d``) or ``stylegan1``; its size is
    ``generator``."""
    generator: StyleGAN2Config = field(default_factory=lambda: STYLEGAN2_SIZES["256"])
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
    ema_rampup: float | None = None
    """Limit the EMA half-life to this fraction of the images seen so far (NVlabs
    ``ema_rampup``: 0.05 in ``auto``, none in config-f / ``paper256``), so the average does not
    hold the random initialisation early on."""
    w_avg_decay: float = 0.995
    xflip: bool = False
    init: str = ""
    """A rosinality .pt or NVlabs .pkl (ADA or TF-era) to start from: G, G EMA and D."""
    progressive: bool = False
    """Grow a StyleGAN1 generator (``arch`` stylegan1) and its discriminator from
    ``growth.start_resolution`` with PGGAN's schedule, as StyleGAN1 was trained."""
    growth: GrowthConfig = field(default_factory=GrowthConfig)
    """The growth schedule, used when ``progressive`` is set."""
    augment: Literal["auto", "ada", "fixed", "diffaugment", "none"] = "auto"
    """Augment every image D sees (Karras et al. 2020 "Training GANs with limited data"):
    ``ada`` adapts the probability ``p`` to D's overfitting, ``fixed`` keeps ``p``,
    ``diffaugment`` applies Zhao et al.'s DiffAugment, ``none`` nothing. ``auto``: ``ada`` for
    datasets under 30k images, ``none`` from there (NVlabs ``train.py`` defaults to ``ada``)."""
    augpipe: str = "bgc"
    """ADA's pipeline (NVlabs ``--augpipe``): blit, geom, color, filter, noise, cutout, bg, bgc,
    bgcf, bgcfn, bgcfnc."""
    p: float | None = None
    """The augmentation probability of ``augment fixed`` (required there, as NVlabs ``--p``)."""
    target: float = 0.6
    """ADA's target for r_t = E[sign(D(real))] (NVlabs ``--target``, 0.6)."""
    ada_kimg: float = 500.0
    """Thousands of images for ``p`` to move by 1 (NVlabs ``ada_kimg``, 500)."""
    ada_interval: int = 4
    """Minibatches between two adjustments of ``p`` (NVlabs ``ada_interval``, 4)."""
    diffaugment: str = "color,translation,cutout"
    """DiffAugment's policy (mit-han-lab ``--DiffAugment`` default)."""
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        if self.progressive:
            if not self.arch.startswith("stylegan1"):
                raise ValueError(
                    f"progressive growing is StyleGAN1's (arch stylegan1); "
                    f"{self.arch} trains at its full resolution"
                )
            self.growth.schedule(self.generator.size)  # checks it fits the generator's size
        if self.ema_rampup is not None and self.ema_rampup <= 0:
            raise ValueError(f"ema_rampup must be > 0 (or null), got {self.ema_rampup}")
        if self.batch_size < 1 or self.r1_every < 1 or self.pl_every < 1:
            raise ValueError("batch_size, r1_every and pl_every must be >= 1")
        if self.r1_gamma < 0 or self.pl_weight < 0:
            raise ValueError("r1_gamma and pl_weight must be >= 0 (0 turns the term off)")
        if not 0.0 <= self.mixing_prob <= 1.0:
            raise ValueError(f"mixing_prob must be in [0, 1], got {self.mixing_prob}")
        if self.pl_batch_shrink < 1 or self.batch_size // self.pl_batch_shrink < 1:
            raise ValueError("pl_batch_shrink must be >= 1 and leave at least one sample")
        self._check_augment()

    def _check_augment(self) -> None:
        """NVlabs ``train.py`` rules (lines 232-269): ``p`` only and always with ``fixed``."""
        from gankit.nn.augment import PIPELINES
        from gankit.nn.augment.diffaugment import DiffAugment

        if self.augpipe not in PIPELINES:
            raise ValueError(f"augpipe must be one of {', '.join(PIPELINES)}, got {self.augpipe!r}")
        if (self.augment == "fixed") != (self.p is not None):
            raise ValueError("augment fixed needs p (e.g. --p 0.2), and p is only for fixed")
        if self.p is not None and not 0 <= self.p <= 1:
            raise ValueError(f"p must be in [0, 1], got {self.p}")
        if not 0 <= self.target <= 1:
            raise ValueError(f"target must be in [0, 1], got {self.target}")
        if self.ada_kimg <= 0 or self.ada_interval < 1:
            raise ValueError("ada_kimg must be > 0 and ada_interval >= 1")
        DiffAugment(self.diffaugment)  # checks the policy
        filters = "imgfilter" in PIPELINES[self.augpipe] and self.augment in (
            "auto",
            "ada",
            "fixed",
        )
        if filters and self.progressive and self.growth.start_resolution < 32:
            raise ValueError(
                f"augpipe {self.augpipe} filters images, which needs 32x32 or more; grow from "
                "growth.start_resolution 32, or pick a pipeline without f (e.g. bgc)"
            )


TOTAL_KIMG = 25_000
"""Training length of NVlabs' stylegan2 ``run_training.py`` (25M real images shown to D)."""
SNAPSHOT_KIMG = 200
"""NVlabs' network snapshot interval: 50 ticks of 4 kimg."""


def _preset(
    arch: str,
    gen: StyleGAN2Config,
    batch: int,
    gamma: float,
    lr: float,
    ema_kimg: float,
    ema_rampup: float | None,
) -> StyleGANTrainConfig:
    per_snapshot = math.ceil(SNAPSHOT_KIMG * 1000 / batch)
    trainer = TrainerConfig(
        max_steps=math.ceil(TOTAL_KIMG * 1000 / batch),
        checkpoint_every=per_snapshot,
        sample_every=per_snapshot,
    )
    return StyleGANTrainConfig(
        arch=arch,
        generator=gen,
        batch_size=batch,
        r1_gamma=gamma,
        lr=lr,
        ema_kimg=ema_kimg,
        ema_rampup=ema_rampup,
        trainer=trainer,
    )


def _auto_preset(res: int) -> StyleGANTrainConfig:
    """NVlabs/stylegan2-ada-pytorch train.py@d72cc7d ``--cfg auto`` on one GPU (lines 165-174):
    batch max(min(min(4096 // res, 32), 64), 1), mbstd group min(batch, 4), channel base
    32768 x (1 if res >= 512 else 0.5), lr 0.002 if res >= 1024 else 0.0025, gamma
    0.0002 res^2 / batch, EMA batch x 10 / 32 kimg with ramp-up 0.05, a 2-layer mapping."""
    batch = max(min(min(4096 // res, 32), 64), 1)
    fmaps = 1.0 if res >= 512 else 0.5
    gen = StyleGAN2Config(
        size=res, channel_base=int(fmaps * 32768), n_mlp=2, mbstd_group=min(batch, 4)
    )
    return _preset(
        "stylegan2",
        gen,
        batch,
        0.0002 * res**2 / batch,
        0.002 if res >= 1024 else 0.0025,
        batch * 10 / 32,
        0.05,
    )


def _stylegan1_preset(size: int) -> StyleGANTrainConfig:
    """StyleGAN1 mode (NVlabs stylegan ``train.py``): growing from 8x8, non-saturating logistic
    loss with R1 (gamma 10) in every D step, no path-length term, mirrored reals."""
    # The generator's fields are StyleGAN1's widths (the command line parses every generator as
    # a StyleGAN2Config; the recipe builds the StyleGAN1Config with ``progressive``).
    cfg = StyleGANTrainConfig(
        arch="stylegan1",
        generator=StyleGAN2Config(size=size, channel_base=16384),
        progressive=True,
        r1_gamma=10.0,
        pl_weight=0.0,
        xflip=True,
    )
    schedule = cfg.growth.schedule(size)
    # Checkpoints and grids every 200 kimg at the 64x64 minibatch: more often while the batch is
    # larger, less often once it is smaller.
    per_snapshot = math.ceil(SNAPSHOT_KIMG * 1000 / schedule.batch_size(4))
    cfg.trainer = TrainerConfig(
        max_steps=schedule.steps_for(TOTAL_KIMG * 1000),
        checkpoint_every=per_snapshot,
        sample_every=per_snapshot,
    )
    return cfg


PRESETS: dict[str, StyleGANTrainConfig] = {
    # NVlabs/stylegan2-ada-pytorch train.py@d72cc7d ``cfg_specs`` (lines 154-174), each
    # exactly, with one GPU where a spec depends on the GPU count. The networks run float32:
    # ADA's cfgs add num_fp16_res 4 and conv_clamp 256 (``--generator.num_fp16_res 4
    # --generator.conv_clamp 256``), which the paper's StyleGAN2 did not use.
    "64": _auto_preset(64),
    "128": _auto_preset(128),
    # ``paper256``: batch 64, mbstd 8, fmaps 0.5, lr 0.0025, gamma 1, EMA 20 kimg, map 8.
    "256": _preset(
        "stylegan2", replace(STYLEGAN2_SIZES["256-cm1"], mbstd_group=8), 64, 1.0, 0.0025, 20.0, None
    ),
    "512": _auto_preset(512),
    # ``stylegan2`` (config-f): batch 32, mbstd 4, fmaps 1, lr 0.002, gamma 10, EMA 10 kimg.
    "1024": _preset("stylegan2", STYLEGAN2_SIZES["1024"], 32, 10.0, 0.002, 10.0, None),
    # StyleGAN1 as NVlabs trained it on FFHQ (train.py: 25M images, R1 gamma 10, mirror).
    "stylegan1-1024": _stylegan1_preset(1024),
    # The same at 256x256 (NVlabs' "ffhq256" variant of train.py).
    "stylegan1-256": _stylegan1_preset(256),
}
