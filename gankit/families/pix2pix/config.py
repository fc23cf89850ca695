"""Pix2Pix configuration: one dataclass per network and the training config with its presets.

Defaults follow Isola et al., "Image-to-Image Translation with Conditional Adversarial Networks"
(CVPR 2017), sec. 3-4 and appendix 6, as implemented in junyanz/pytorch-CycleGAN-and-pix2pix
(``models/networks.py``, ``models/pix2pix_model.py``, ``options/*.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from gankit.engine.trainer import TrainerConfig

NORMS = ("batch", "instance", "none")
INITS = ("normal", "xavier", "kaiming", "orthogonal")
GENERATORS = ("unet_256", "unet_128", "resnet_9blocks", "resnet_6blocks")
DISCRIMINATORS = ("basic", "n_layers", "pixel")
GAN_MODES = ("vanilla", "lsgan", "wgangp")
PREPROCESS = ("resize_and_crop", "crop", "none")
DIRECTIONS = ("AtoB", "BtoA")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


@dataclass
class NetworkConfig:
    """What every Pix2Pix network shares: normalisation and the reference's weight init.

    ``init_type``/``init_gain``: conv weights ~ N(0, 0.02) by default (paper sec. 6.2, "weights
    were initialized from a Gaussian distribution with mean 0 and standard deviation 0.02").
    """

    norm: str = "batch"
    init_type: str = "normal"
    init_gain: float = 0.02

    def __post_init__(self) -> None:
        _check_choice("norm", self.norm, NORMS)
        _check_choice("init_type", self.init_type, INITS)


@dataclass
class GeneratorConfig(NetworkConfig):
    """What a trained generator must carry to be tested as it was trained.

    ``direction``: which half of an aligned A|B pair is the input (``AtoB``: A). ``image_size``:
    the (height, width) it was trained at, the reference's ``crop_size``; test images are
    resized to it, as the reference tests at ``load_size = crop_size``
    (junyanz/pytorch-CycleGAN-and-pix2pix options/test_options.py@b0e64d4); None means it was
    trained at the images' own scale (preprocess ``crop``/``none``), so images run at their
    native size. A model folder without these fields reads as AtoB at the reference's default
    crop size, 256 (128 for ``unet_128``).
    """

    direction: str = "AtoB"
    image_size: tuple[int, int] | None = (256, 256)

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_choice("direction", self.direction, DIRECTIONS)
        if self.image_size is not None:
            self.image_size = _pair("image_size", self.image_size)


@dataclass
class UnetConfig(GeneratorConfig):
    """U-Net generator (paper sec. 3.2.1 and fig. 3); ``num_downs`` 8 maps 256 px to 1x1."""

    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    num_downs: int = 8
    use_dropout: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_downs < 5:
            raise ValueError(f"num_downs must be >= 5, got {self.num_downs}")


@dataclass
class Unet128Config(UnetConfig):
    """U-Net with 7 downsamplings, for 128 px crops."""

    num_downs: int = 7
    image_size: tuple[int, int] | None = (128, 128)


@dataclass
class ResnetConfig(GeneratorConfig):
    """ResNet generator of Johnson et al. 2016 as used by the reference (``ResnetGenerator``).

    Its defaults are the reference's CycleGAN setting (instance norm, no dropout), the one its
    parameter count (11,378,179 for 9 blocks) is quoted for; Pix2Pix training sets norm/dropout.
    """

    norm: str = "instance"
    input_nc: int = 3
    output_nc: int = 3
    ngf: int = 64
    n_blocks: int = 9
    use_dropout: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {self.n_blocks}")


@dataclass
class Resnet6Config(ResnetConfig):
    n_blocks: int = 6


@dataclass
class PatchConfig(NetworkConfig):
    """PatchGAN on the (input || output) pair (paper sec. 3.2.2); n_layers 3 is the 70x70 patch."""

    input_nc: int = 6
    ndf: int = 64
    n_layers: int = 3

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")


@dataclass
class PixelConfig(NetworkConfig):
    """The 1x1 "PixelGAN" of paper sec. 4.4 (fig. 6)."""

    input_nc: int = 6
    ndf: int = 64


@dataclass
class TrainConfig:
    """A Pix2Pix training run; defaults are the paper's facades setting (appendix 6.2-6.3).

    ``data`` is an aligned (A|B files) or two-folder (A/, B/) set, ``phase`` its subfolder.
    ``load_size``/``crop_size`` are one int (square) or [height, width]: pairs are resized to
    ``load_size`` and randomly cropped to ``crop_size`` ("random jitter", appendix 6.2) with
    ``preprocess resize_and_crop``; ``crop`` skips the resize, ``none`` uses whole images.
    ``epochs`` at constant lr are followed by ``epochs_decay`` of linear decay to zero.
    ``lambda_gp`` weighs the gradient penalty of ``gan_mode wgangp`` (Gulrajani et al. 2017).
    ``channels_last``, ``fused_adam`` (Adam's fused kernel, CPU and CUDA) and ``compile`` only
    change speed.
    """

    data: str = ""
    phase: str = "train"
    direction: str = "AtoB"
    input_nc: int = 3
    output_nc: int = 3
    generator: str = "unet_256"
    discriminator: str = "basic"
    n_layers_d: int = 3
    ngf: int = 64
    ndf: int = 64
    norm: str = "batch"
    dropout: bool = True
    init_type: str = "normal"
    init_gain: float = 0.02
    gan_mode: str = "vanilla"
    lambda_l1: float = 100.0
    lambda_gp: float = 10.0
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 1
    epochs: int = 100
    epochs_decay: int = 100
    preprocess: str = "resize_and_crop"
    load_size: int | tuple[int, int] = (286, 286)
    crop_size: int | tuple[int, int] = (256, 256)
    flip: bool = True
    num_samples: int = 4
    channels_last: bool = False
    fused_adam: bool = True
    compile: bool = False
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        _check_choice("direction", self.direction, DIRECTIONS)
        _check_choice("generator", self.generator, GENERATORS)
        _check_choice("discriminator", self.discriminator, DISCRIMINATORS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("init_type", self.init_type, INITS)
        _check_choice("gan_mode", self.gan_mode, GAN_MODES)
        _check_choice("preprocess", self.preprocess, PREPROCESS)
        self.load_size = _pair("load_size", self.load_size)
        self.crop_size = _pair("crop_size", self.crop_size)
        for name in ("input_nc", "output_nc"):
            if getattr(self, name) not in (1, 3):
                raise ValueError(
                    f"{name} must be 1 (grayscale) or 3 (RGB), got {getattr(self, name)}"
                )
        for name in ("batch_size", "ngf", "ndf", "n_layers_d", "num_samples"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs < 1 or self.epochs_decay < 0:
            raise ValueError("epochs must be >= 1 and epochs_decay >= 0")
        if self.preprocess == "resize_and_crop" and any(
            c > s for c, s in zip(self.crop_size, self.load_size, strict=True)
        ):
            raise ValueError(f"crop_size {self.crop_size} exceeds load_size {self.load_size}")

    @property
    def total_epochs(self) -> int:
        return self.epochs + self.epochs_decay


def _pair(name: str, value: object) -> tuple[int, int]:
    """An int or a (height, width) pair -> (height, width)."""
    if isinstance(value, int):
        value = (value, value)
    try:
        h, w = (int(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an int or [height, width], got {value!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive, got {value!r}")
    return (h, w)


_BASE = TrainConfig()

PRESETS: dict[str, TrainConfig] = {
    # Appendix 6.3: 400 images, 200 epochs, batch 1, jitter + mirroring; the junyanz facades
    # folder stores photo|label, so labels -> photo is BtoA (scripts/train_pix2pix.sh).
    "facades": replace(_BASE, direction="BtoA"),
    # Appendix 6.3: 1096 images, 200 epochs, batch 1; maps store aerial|map (AtoB = aerial -> map).
    "maps": replace(_BASE, direction="AtoB"),
    # Appendix 6.3: cityscapes 2975 images, 200 epochs, batch 1; the folder stores photo|label.
    "cityscapes": replace(_BASE, direction="BtoA"),
    # Appendix 6.3: edges -> shoes, 50k images, 15 epochs, batch 4 (constant lr, as the paper's
    # Torch code trained them).
    "edges2shoes": replace(_BASE, batch_size=4, epochs=15, epochs_decay=0),
    # Appendix 6.3: edges -> handbags, 137k images, 15 epochs, batch 4.
    "edges2handbags": replace(_BASE, batch_size=4, epochs=15, epochs_decay=0),
    # Appendix 6.3: day -> night, 17,823 images, 17 epochs, batch 4, jitter + mirroring. The
    # junyanz night2day folder stores night|day, so the paper's day -> night task (and the
    # published "day2night" model) is BtoA.
    "night2day": replace(_BASE, direction="BtoA", batch_size=4, epochs=17, epochs_decay=0),
}
