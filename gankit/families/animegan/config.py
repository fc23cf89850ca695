"""AnimeGAN configuration: network sizes and the training presets of the original TF releases.

Sources (read, not copied):
- AnimeGAN v1: TachibanaYoshino/AnimeGAN ``net/generator.py``, ``net/discriminator.py``,
  ``AnimeGAN.py``, ``tools/ops.py``, ``tools/data_loader.py``, ``train.py`` at ad95a45, the newest
  commit that touches them (the generator is unchanged since 3c654ca).
- AnimeGAN v2: TachibanaYoshino/AnimeGANv2 ``AnimeGANv2.py``, ``tools/ops.py``, ``train.py``,
  ``tools/data_mean.py``; the PyTorch v2 port bryandlee/animegan2-pytorch ``model.py`` for the
  generator's layout and key names.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from gankit.engine import TrainerConfig


@dataclass
class GeneratorV1Config:
    """AnimeGAN v1 generator (paper sec. 3.1, fig. 2): Conv-Blocks, DSConv, Down-/Up-Conv, 8 IRBs.

    Every norm is an instance norm with per-channel affine (AnimeGAN ``net/generator.py`` and
    ``tools/ops.instance_norm``, eps 1e-5, @ad95a45; the separable convs' ``normalizer_fn``
    keeps ``tf.contrib``'s eps 1e-6: ``ds_norm="instance_tf"``, which the training recipe sets);
    no conv has a bias.
    ``norm="layer"`` builds the layer-norm variant gankit used before.
    """

    base: int = 64
    n_irb: int = 8
    irb_expansion: float = 2.0
    norm: str = "instance_affine"
    ds_norm: str = ""
    """The DSConvs' norm; empty: ``norm``."""
    tf1_resize: bool = False
    """Resize as TF 1.x ``tf.image.resize_images`` (no half-pixel centres), as the original
    trains; the training recipe sets it."""


@dataclass
class GeneratorV2Config:
    """AnimeGAN v2 generator in the module layout of the public PyTorch v2 port (blocks A-E).

    ``align_corners``: the port's test script upsamples with ``align_corners=False`` (its default
    here); ``True`` resizes to the saved encoder sizes with ``align_corners=True`` as its forward's
    default does.
    """

    n_irb: int = 4
    irb_expansion: float = 2.0
    align_corners: bool = False
    norm: str = "layer"
    out_bias: bool = False
    """ptran1203's GeneratorV2 (same layout) gives its last 1x1 conv a bias."""
    tf1_resize: bool = False
    """Upsample as TF 1.x ``tf.image.resize_images`` (no half-pixel centres), as the TF original
    trains (AnimeGANv2 ``net/generator.py`` ``Unsample``); the training recipe sets it, with
    ``norm="layer_tf"``."""


@dataclass
class PtranGeneratorV1Config:
    """ptran1203/pytorch-animeGAN ``models/anime_gan.py`` ``GeneratorV1`` (commit 3415a32).

    A PyTorch re-implementation of v1 with its own layout (channels widen before Down-Conv,
    zero-padded two-norm separable convs, instance norm); kept so its released weights run.
    """

    n_irb: int = 8


@dataclass
class DiscriminatorConfig:
    """The AnimeGAN discriminator (v1 and v2 ``net/discriminator.py``: ch 64, n_dis 3, sn).

    ``norm``: v2 uses layer norm (AnimeGANv2 ``net/discriminator.py``@8f97ab4), v1 instance norm
    with affine (AnimeGAN ``net/discriminator.py``@ad95a45); the recipe picks it by version.
    """

    ch: int = 64
    n_dis: int = 3
    spectral_norm: bool = True
    norm: str = "layer"


@dataclass
class AnimeGANTrainConfig:
    """The training recipe (v2 ``train.py`` / v1 ``main.py`` arguments and ``tools/ops.py``)."""

    version: str = "v2"
    data: str = "dataset"
    """Folder made by ``gankit animegan prepare`` (photo/, style/, smooth/, mean.json)."""
    epochs: int = 101
    init_epochs: int = 10
    batch_size: int = 12
    image_size: int = 256
    init_lr: float = 2e-4
    g_lr: float = 2e-5
    d_lr: float = 4e-5
    adv_weight: float = 300.0
    con_weight: float = 1.5
    sty_weight: float = 2.5
    color_weight: float = 15.0
    tv_weight: float = 1.0
    d_real_weight: float = 1.2
    d_fake_weight: float = 1.2
    d_gray_weight: float = 1.2
    d_smooth_weight: float = 0.8
    d_ch: int = 64
    """D's base width (``--ch`` of the original's ``train.py``, 64 in v1 and v2)."""
    subtract_data_mean: bool = True
    """v2 subtracts the style set's channel-mean offset from style images (``data_mean.py``)."""
    vgg19_npy: str = ""
    """The original's Caffe ``vgg19.npy`` for the perceptual losses (BGR, mean-subtracted input,
    as AnimeGANv2 ``tools/vgg19.py``), on whose features the presets' weights were tuned; empty:
    torchvision's ImageNet VGG19 with its own input normalisation."""
    ema_decay: float = 0.0
    """0 disables the EMA generator (the original has none)."""
    n_samples: int = 4
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        if self.version not in ("v1", "v2"):
            raise ValueError(f"version must be 'v1' or 'v2', got {self.version!r}")
        for name in ("epochs", "batch_size", "image_size", "d_ch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.init_epochs < 0 or self.init_epochs > self.epochs:
            raise ValueError("init_epochs must be between 0 and epochs")
        if self.image_size % 4:
            raise ValueError("image_size must be a multiple of 4")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError("ema_decay must be in [0, 1)")


_V2 = AnimeGANTrainConfig()
PRESETS: dict[str, AnimeGANTrainConfig] = {
    # AnimeGANv2 tools/ops.py per-dataset D weights; train.py per-dataset loss weights.
    "v2-hayao": replace(
        _V2,
        con_weight=1.5,
        sty_weight=2.5,
        color_weight=15.0,
        tv_weight=1.0,
        d_real_weight=1.2,
        d_fake_weight=1.2,
        d_gray_weight=1.2,
        d_smooth_weight=0.8,
    ),
    "v2-paprika": replace(
        _V2,
        con_weight=2.0,
        sty_weight=0.6,
        color_weight=50.0,
        tv_weight=0.1,
        d_real_weight=1.0,
        d_fake_weight=1.0,
        d_gray_weight=1.0,
        d_smooth_weight=0.005,
    ),
    "v2-shinkai": replace(
        _V2,
        con_weight=1.2,
        sty_weight=2.0,
        color_weight=10.0,
        tv_weight=1.0,
        d_real_weight=1.7,
        d_fake_weight=1.7,
        d_gray_weight=1.7,
        d_smooth_weight=1.0,
    ),
    # AnimeGAN train.py defaults at ad95a45 (the newest v1 commit): epoch 101, init_epoch 5,
    # batch 6, init_lr 1e-4, g_lr 8e-5, d_lr 16e-5, g/d adv 300, con 1.5, sty 3.0, color 10, no
    # TV; tools/ops.py discriminator_loss real + fake + gray + 0.1 * smooth; tools/data_loader.py
    # there adds no data mean.
    "v1-hayao": replace(
        _V2,
        version="v1",
        epochs=101,
        init_epochs=5,
        batch_size=6,
        init_lr=1e-4,
        g_lr=8e-5,
        d_lr=16e-5,
        adv_weight=300.0,
        con_weight=1.5,
        sty_weight=3.0,
        color_weight=10.0,
        tv_weight=0.0,
        d_real_weight=1.0,
        d_fake_weight=1.0,
        d_gray_weight=1.0,
        d_smooth_weight=0.1,
        subtract_data_mean=False,
    ),
}
