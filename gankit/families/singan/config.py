"""SinGAN configuration: network sizes, the image pyramid plan and the training presets.

Defaults of the ``paper`` preset are those of the reference implementation (tamarott/SinGAN
``config.py``) and of the paper (Shaham, Dekel, Michaeli, ICCV 2019, sec. 2 and 3). The
``consingan`` preset is ConSinGAN (Hinz et al., WACV 2021, sec. 3; tohinz/ConSinGAN ``config.py``
and ``main_train.py``): its networks and recipe. The ``fast`` preset keeps SinGAN's networks and
takes ConSinGAN's stage placement and concurrency: fewer stages placed by its rescaling rule, the
last stages trained concurrently with a scaled learning rate.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from gankit.core.errors import BadInputError
from gankit.engine.trainer import TrainerConfig

RESCALINGS = ("singan", "singan-sr", "consingan")
NETWORKS = ("singan", "consingan")
"""``singan``: one image-to-image generator per scale (:class:`SinGANPyramid`); ``consingan``:
ConSinGAN's one growing feature generator (``gankit.families.singan.consingan``)."""
RESAMPLINGS = ("reference", "reference-shape", "torch-bicubic")
"""How a pyramid resizes images between scales (:class:`PyramidConfig`): ``reference``, the
reference's MATLAB-style ``imresize`` by ``1 / scale_factor`` then a crop to the next scale
(tamarott/SinGAN ``SinGAN/training.py``@084cf02 ``draw_concat``, ``SinGAN/manipulate.py``@1d79f8a
``SinGAN_generate``); ``reference-shape``, the same resize straight to the next scale's size
(the ConSinGAN plan, whose scales are not one factor apart); ``torch-bicubic``, PyTorch's bicubic
resize to the next size, and what a config without this field means (such models were trained
with it)."""


@dataclass
class ScaleConfig:
    """One scale's generator or discriminator (paper sec. 2.1, fig. 5; reference ``models.py``).

    Five 3x3 conv blocks without padding inside; 32 channels at the coarsest scales.
    """

    channels: int = 32
    num_layers: int = 5
    kernel_size: int = 3
    image_channels: int = 3

    def __post_init__(self) -> None:
        if self.channels < 1 or self.num_layers < 2 or self.kernel_size < 1:
            raise ValueError("channels >= 1, num_layers >= 2 and kernel_size >= 1 are required")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")

    @property
    def padding(self) -> int:
        """Zero padding applied once to the input so the output keeps the input's size."""
        return (self.kernel_size - 1) * self.num_layers // 2


def scale_channels(
    scale: int, channels: int = 32, max_channels: int = 128, double_every: int = 4
) -> int:
    """Channels of scale ``scale``: doubled every ``double_every`` scales, capped (reference
    ``training.py``: ``min(nfc_init * 2 ** floor(scale / 4), 128)``)."""
    return min(channels * 2 ** (scale // double_every), max_channels)


def _resized(size: int, factor: float) -> int:
    # The reference's imresize gives ceil(size * factor) pixels.
    return int(math.ceil(size * factor))


def sr_scale(sr_factor: float) -> tuple[float, int]:
    """(upscale per step, steps) for super-resolution by ``sr_factor``: about 2^(1/3) per step,
    adjusted so that ``steps`` of them make ``sr_factor`` (tamarott/SinGAN
    ``SinGAN/functions.py``@f3678a0 ``calc_init_scale``); ``SR.py`` trains the pyramid with
    scale factor ``1 / upscale`` = ``sr_factor^(-1/steps)``."""
    steps = round(math.log(1 / sr_factor, math.pow(1 / 2, 1 / 3)))
    if steps < 1:
        raise BadInputError(f"super-resolution factor {sr_factor} is too small (needs > 1.12)")
    return math.pow(sr_factor, 1 / steps), steps


def pyramid_shapes(
    height: int,
    width: int,
    min_size: int = 25,
    max_size: int = 250,
    scale_factor: float = 0.75,
    rescaling: str = "singan",
    num_scales: int = 0,
) -> tuple[list[tuple[int, int]], float]:
    """(H, W) of every scale, coarsest first, and the effective scale factor."""
    shapes, factor, _ = pyramid_plan(
        height, width, min_size, max_size, scale_factor, rescaling, num_scales
    )
    return shapes, factor


def pyramid_plan(
    height: int,
    width: int,
    min_size: int = 25,
    max_size: int = 250,
    scale_factor: float = 0.75,
    rescaling: str = "singan",
    num_scales: int = 0,
) -> tuple[list[tuple[int, int]], float, list[float]]:
    """(H, W) of every scale, coarsest first, the effective scale factor, and the exponents:
    scale k is the finest-size image resized by ``factor ** exponents[k]``.

    ``singan``: the reference's ``adjust_scales2image`` + ``creat_reals_pyramid``: the factor
    ``scale_factor`` is adjusted so that the coarsest short side is ``min_size`` and the finest
    long side at most ``max_size``; the number of scales follows from it. ``singan-sr``: the
    same with ``adjust_scales2image_SR``'s rules (``SR.py``): ``int()`` instead of ``ceil()`` for
    the scale counts, and the finest size compared with the *width* (the reference reads
    ``max(real_.shape[0], real_.shape[3])``, batch and width; tamarott/SinGAN
    ``SinGAN/functions.py``@f3678a0). ``consingan``: ``num_scales`` stages, more of them at low
    resolution (ConSinGAN sec. 3.2, its ``create_reals_pyramid``).
    """
    if rescaling not in RESCALINGS:
        raise BadInputError(f"unknown rescaling {rescaling!r}; choose from {', '.join(RESCALINGS)}")
    if min(height, width) < 1:
        raise BadInputError(f"image of {width}x{height} pixels is empty")
    scale1 = min(max_size / max(height, width), 1.0)
    h1, w1 = _resized(height, scale1), _resized(width, scale1)
    if min(h1, w1) <= min_size:
        raise BadInputError(
            f"image of {width}x{height} pixels (resized to {w1}x{h1}) has a short side of at "
            f"most min_size={min_size}; use a larger image or a smaller --min_size"
        )
    if rescaling in ("singan", "singan-sr"):
        count = math.ceil if rescaling == "singan" else int
        longest = max(height, width) if rescaling == "singan" else width
        total = count(math.log(min_size / min(height, width), scale_factor)) + 1
        to_stop = count(math.log(min(max_size, max(height, width)) / longest, scale_factor))
        stop = total - to_stop
        if stop < 1:
            raise BadInputError(f"image of {width}x{height} pixels gives fewer than 2 scales")
        factor = math.pow(min_size / min(h1, w1), 1 / stop)
        exponents = [stop - i for i in range(stop + 1)]
    else:
        if num_scales < 2:
            raise BadInputError(f"the consingan rescaling needs num_scales >= 2, got {num_scales}")
        stop = num_scales - 1
        factor = math.pow(min_size / min(h1, w1), 1 / stop)
        spread = (stop - 1) / math.log(stop) if stop > 1 else 0.0
        exponents = [spread * math.log(stop - i) + 1 for i in range(stop)] + [0]
    shapes = [
        (_resized(h1, math.pow(factor, e)), _resized(w1, math.pow(factor, e))) for e in exponents
    ]
    return shapes, factor, [float(e) for e in exponents]


def _default_shapes() -> list[list[int]]:
    # The pyramid of a 250x188 photo under the paper's rules (10 scales); only used so that
    # `gankit models` can build a representative pyramid.
    return [list(s) for s in pyramid_shapes(188, 250)[0]]


def _default_channels() -> list[int]:
    return [scale_channels(i) for i in range(len(_default_shapes()))]


@dataclass
class PyramidConfig:
    """A trained pyramid: the shape and width of every scale, coarsest first."""

    shapes: list[list[int]] = field(default_factory=_default_shapes)
    channels: list[int] = field(default_factory=_default_channels)
    num_layers: int = 5
    kernel_size: int = 3
    image_channels: int = 3
    scale_factor: float = 0.75
    # a config without the field was trained with PyTorch's bicubic
    resampling: str = "torch-bicubic"
    # trained with noise covering the zero-padded border (TrainConfig.border_noise): z* then
    # has the padded size
    border_noise: bool = False

    def __post_init__(self) -> None:
        if self.resampling not in RESAMPLINGS:
            raise ValueError(f"resampling must be one of {RESAMPLINGS}, got {self.resampling!r}")
        self.shapes = [[int(h), int(w)] for h, w in self.shapes]
        self.channels = [int(c) for c in self.channels]
        if len(self.shapes) != len(self.channels):
            raise ValueError("shapes and channels must list the same number of scales")
        if not self.shapes:
            raise ValueError("a pyramid needs at least one scale")

    def scale(self, k: int) -> ScaleConfig:
        return ScaleConfig(self.channels[k], self.num_layers, self.kernel_size, self.image_channels)


@dataclass
class TrainConfig:
    """Training settings; the defaults are the ``paper`` preset."""

    # pyramid (paper sec. 2.1; reference config.py)
    min_size: int = 25
    max_size: int = 250
    scale_factor: float = 0.75
    rescaling: str = "singan"
    num_scales: int = 0
    # "reference": the reference's imresize for the pyramid and between scales; "torch-bicubic"
    resampling: str = "reference"
    # networks (paper sec. 4, "Architecture"); with network="consingan", num_layers counts the
    # conv blocks of one stage (ConSinGAN's num_layer) and channels stay constant
    network: str = "singan"
    channels: int = 32
    max_channels: int = 128
    channels_double_every: int = 4
    num_layers: int = 5
    kernel_size: int = 3
    init_from_previous: bool = True
    # optimisation (paper sec. 2.2 and 4; reference config.py / training.py)
    iters_per_scale: int = 2000
    lr_g: float = 5e-4
    lr_d: float = 5e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lr_decay_at: float = 0.8
    lr_gamma: float = 0.1
    d_steps: int = 3
    g_steps: int = 3
    gp_weight: float = 0.1
    rec_weight: float = 10.0
    noise_amp: float = 0.1
    # noise maps cover the generator's zero-padded border instead of being zero-padded with it
    # (tamarott/SinGAN SinGAN/training.py@084cf02 train_single_scale and draw_concat in mode
    # 'animation_train': nzx = H + (ker - 1) * num_layer, pad_noise = 0)
    border_noise: bool = False
    # concurrent training (ConSinGAN sec. 3.1): how many of the finest scales learn together
    train_depth: int = 1
    lr_scale: float = 0.1
    samples: int = 9
    trainer: TrainerConfig = field(default_factory=TrainerConfig)

    def __post_init__(self) -> None:
        if self.rescaling not in RESCALINGS:
            raise ValueError(f"rescaling must be one of {RESCALINGS}, got {self.rescaling!r}")
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {self.network!r}")
        if self.network == "consingan" and self.kernel_size != 3:
            raise ValueError("network 'consingan' needs kernel_size 3 (its paddings assume it)")
        if self.resampling not in ("reference", "torch-bicubic"):
            raise ValueError(
                f"resampling must be 'reference' or 'torch-bicubic', got {self.resampling!r}"
            )
        if not 0.0 < self.scale_factor < 1.0:
            raise ValueError(f"scale_factor must be in (0, 1), got {self.scale_factor}")
        for name in (
            "iters_per_scale",
            "d_steps",
            "g_steps",
            "train_depth",
            "min_size",
            "channels",
            "samples",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_size < self.min_size:
            raise ValueError("max_size must be >= min_size")

    def channels_at(self, scale: int) -> int:
        return scale_channels(scale, self.channels, self.max_channels, self.channels_double_every)


PRESETS: dict[str, TrainConfig] = {
    # tamarott/SinGAN defaults: ~10 scales for a 250 px image, 2000 iterations each.
    "paper": TrainConfig(),
    # SinGAN's scale networks (5 layers, 32 channels, batch norm, LeakyReLU 0.2) with ConSinGAN's
    # stage placement and concurrency (train_stages 6, train_depth 3, lr_scale 0.1), one
    # generator step per iteration, 1000 iterations per stage.
    "fast": TrainConfig(
        rescaling="consingan",
        num_scales=6,
        train_depth=3,
        lr_scale=0.1,
        iters_per_scale=1000,
        g_steps=1,
    ),
    # ConSinGAN itself (tohinz/ConSinGAN@8b4681f): ConSinGAN/config.py nfc 64, num_layer 3,
    # lrelu_alpha 0.05, no batch_norm, niter 2000, Gsteps 3, Dsteps 3, lr 5e-4, beta1 0.5,
    # gamma 0.1 at 0.8 niter (training_generation.py:108), lambda_grad 0.1, alpha 10,
    # noise_amp 0.1, min_size 25, max_size 250; main_train.py train_stages 6, train_depth 3
    # (config.py), lr_scale 0.1; functions.py create_reals_pyramid (rescaling "consingan").
    "consingan": TrainConfig(
        network="consingan",
        rescaling="consingan",
        num_scales=6,
        train_depth=3,
        lr_scale=0.1,
        channels=64,
        num_layers=3,
        iters_per_scale=2000,
        g_steps=3,
        d_steps=3,
    ),
    # Paper sec. 4.4 / tamarott/SinGAN SR.py@1da3600: for x4, scale factor 4^(-1/6) (sr_scale),
    # coarsest 18 px, adjust_scales2image_SR's int() scale counts, alpha = 100.
    "sr": TrainConfig(
        scale_factor=1 / sr_scale(4.0)[0], min_size=18, rec_weight=100.0, rescaling="singan-sr"
    ),
    # tamarott/SinGAN animation.py@cd3193c trains its own model: opt.min_size = 20 and mode
    # 'animation_train' (noise over the padded border), the paper's other settings.
    "animation": TrainConfig(min_size=20, border_noise=True),
}


def preset(name: str, **overrides: object) -> TrainConfig:
    """A copy of a named preset with some fields replaced."""
    return dataclasses.replace(PRESETS[name], **overrides)
