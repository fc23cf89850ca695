"""ConSinGAN's networks (Hinz, Fisher, Wang, Wermter, WACV 2021, sec. 3): one generator that grows
by stages, trained a few stages at a time, and a single critic carried from stage to stage.

Unlike SinGAN's independent per-scale generators that map images to images, ConSinGAN's
``GrowingGenerator`` works on *features*: a ``head`` block lifts the coarsest noise to ``channels``
feature maps, every stage of the ``body`` (``num_layers`` conv blocks, the first a copy of the last
when it is added) refines the features of the stage below enlarged to its size plus its own
feature noise, and one ``tail`` maps the finest features to RGB. Blocks are conv (no padding) +
LeakyReLU(0.05), no batch norm (tohinz/ConSinGAN ``ConSinGAN/config.py``@8b4681f: ``nfc`` 64,
``num_layer`` 3, ``lrelu_alpha`` 0.05, ``batch_norm`` off). Layer names follow the reference
(``head``, ``body.<stage>.block<i>``, ``tail``), so its weights map one to one.
"""

from __future__ import annotations

import copy
import dataclasses
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core import registry
from gankit.families.singan.config import pyramid_shapes
from gankit.families.singan.networks import _TensorList, init_weights

LRELU_SLOPE = 0.05
"""LeakyReLU slope of every block (ConSinGAN ``config.py``@8b4681f ``--lrelu_alpha``)."""


def _default_shapes() -> list[list[int]]:
    # A 250x188 photo under ConSinGAN's rescaling with its 6 stages; only for `gankit models`.
    return [list(s) for s in pyramid_shapes(188, 250, rescaling="consingan", num_scales=6)[0]]


@dataclass
class ConSinGANConfig:
    """A ConSinGAN generator: the (H, W) of every stage, coarsest first, and its block sizes.

    ``num_layers`` is ConSinGAN's ``num_layer``: conv blocks per stage (the head and tail come
    on top). Kernels are 3x3: the reference's paddings (``ZeroPad2d(1)`` around head and tail,
    ``num_layer - 1`` before the first stage) assume it.
    """

    shapes: list[list[int]] = field(default_factory=_default_shapes)
    channels: int = 64
    num_layers: int = 3
    image_channels: int = 3
    kernel_size: int = 3

    def __post_init__(self) -> None:
        self.shapes = [[int(h), int(w)] for h, w in self.shapes]
        if not self.shapes:
            raise ValueError("a ConSinGAN generator needs at least one stage")
        if self.channels < 1 or self.num_layers < 1:
            raise ValueError("channels >= 1 and num_layers >= 1 are required")
        if self.kernel_size != 3:
            raise ValueError(f"ConSinGAN's paddings need kernel_size 3, got {self.kernel_size}")


def _block(in_ch: int, out_ch: int) -> nn.Sequential:
    """Conv 3x3 (no padding) + LeakyReLU(0.05): the reference ``ConvBlock`` without batch norm."""
    return nn.Sequential(
        OrderedDict(conv=nn.Conv2d(in_ch, out_ch, 3), lrelu=nn.LeakyReLU(LRELU_SLOPE))
    )


def _stage(channels: int, num_layers: int) -> nn.Sequential:
    return nn.Sequential(
        OrderedDict((f"block{i}", _block(channels, channels)) for i in range(num_layers))
    )


def enlarge(x: torch.Tensor, size: tuple[int, int] | list[int]) -> torch.Tensor:
    """Features resized between stages: bicubic, ``align_corners=True`` (ConSinGAN
    ``models.py``@8b4681f ``upsample``)."""
    return F.interpolate(x, size=(size[0], size[1]), mode="bicubic", align_corners=True)


@registry.register(
    "consingan_g",
    family="singan",
    role="generator",
    config_cls=ConSinGANConfig,
    description="ConSinGAN's growing feature generator (head, stages, tail)",
)
class ConSinGANGenerator(nn.Module):
    """The reference ``GrowingGenerator`` in its ``generation`` mode, one stage per shape."""

    def __init__(self, config: ConSinGANConfig) -> None:
        super().__init__()
        self.config = config
        c, n = config.image_channels, config.channels
        self.head = _block(c, n)
        self.body = nn.ModuleList([_stage(n, config.num_layers)])
        self.tail = nn.Sequential(nn.Conv2d(n, c, 3), nn.Tanh())
        init_weights(self)
        for _ in config.shapes[1:]:
            self.grow()

    def grow(self) -> None:
        """Add a stage that starts as a copy of the finest one (``init_next_stage``)."""
        self.body.append(copy.deepcopy(self.body[-1]))

    def forward(
        self,
        noise: list[torch.Tensor],
        noise_amp: list[float] | torch.Tensor,
    ) -> torch.Tensor:
        """Stage 0 takes ``noise[0]`` ``[N, C, H_0, W_0]`` (amplitude 1); stage k > 0 takes
        ``noise[k]`` ``[N, channels, H_k + 2L, W_k + 2L]`` (L = ``num_layers``), so every stage's
        size is read from its noise. The head's features are enlarged by 2 pixels and padded
        before the first stage; each later stage adds its residual to the features of the stage
        below enlarged to its size (reference ``GrowingGenerator.forward``, ``generation``)."""
        pad = self.config.num_layers
        x = self.head(F.pad(noise[0], [1] * 4))
        x = enlarge(x, (x.shape[2] + 2, x.shape[3] + 2))
        out = self.body[0](F.pad(x, [pad - 1] * 4))
        for k in range(1, len(self.body)):
            h, w = noise[k].shape[2] - 2 * pad, noise[k].shape[3] - 2 * pad
            grown = enlarge(out, (h + 2 * pad, w + 2 * pad))
            out = self.body[k](grown + noise[k] * noise_amp[k]) + enlarge(out, (h, w))
        return self.tail(F.pad(out, [1] * 4))


@registry.register(
    "consingan_d",
    family="singan",
    role="discriminator",
    config_cls=ConSinGANConfig,
    description="ConSinGAN's patch critic (head, num_layers blocks, tail)",
)
class ConSinGANDiscriminator(nn.Module):
    """The reference ``Discriminator``: no padding, no batch norm, one score per patch."""

    def __init__(self, config: ConSinGANConfig) -> None:
        super().__init__()
        n = config.channels
        self.head = _block(config.image_channels, n)
        self.body = _stage(n, config.num_layers)
        self.tail = nn.Conv2d(n, 1, 3)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(x)))


@registry.register(
    "consingan",
    family="singan",
    role="pyramid",
    config_cls=ConSinGANConfig,
    description="a trained ConSinGAN: generator, fixed noise, amplitudes, reals",
)
class ConSinGANModel(nn.Module):
    """Everything needed to sample a trained ConSinGAN, saved as one model folder.

    ``fixed_noise[k]`` is the reconstruction input of stage k (the image itself at stage 0,
    ConSinGAN ``training_generation.py``@8b4681f line 70; fixed feature noise above);
    ``noise_amp[k]`` its amplitude; ``reals[k]`` the training image at stage k. The sampling
    interface is SinGANPyramid's: ``forward(n, start_scale, scale_v, scale_h, generator)``.
    """

    def __init__(self, config: ConSinGANConfig) -> None:
        super().__init__()
        self.config = config
        self.generator = ConSinGANGenerator(config)
        c, n, pad = config.image_channels, config.channels, 2 * config.num_layers
        self.reals = _TensorList([torch.zeros(1, c, h, w) for h, w in config.shapes])
        self.fixed_noise = _TensorList(
            [torch.zeros(1, c, *config.shapes[0])]
            + [torch.zeros(1, n, h + pad, w + pad) for h, w in config.shapes[1:]]
        )
        self.register_buffer("noise_amp", torch.ones(len(config.shapes)))

    @property
    def num_scales(self) -> int:
        return len(self.generator.body)

    def append_stage(self, real: torch.Tensor, fixed_noise: torch.Tensor) -> None:
        """Grow by one finer stage (amplitude 0 until :meth:`set_amplitude`)."""
        self.generator.grow()
        self.reals.append(real.detach().clone())
        self.fixed_noise.append(fixed_noise.detach().clone())
        self.noise_amp = torch.cat([self.noise_amp, self.noise_amp.new_zeros(1)])
        self.config = dataclasses.replace(
            self.config, shapes=[*self.config.shapes, list(real.shape[-2:])]
        )
        self.generator.config = self.config

    def shapes(self, scale_v: float = 1.0, scale_h: float = 1.0) -> list[tuple[int, int]]:
        """Per-stage (H, W), stretched by ``scale_v`` / ``scale_h`` for retargeting."""
        return [
            (max(1, round(h * scale_v)), max(1, round(w * scale_h))) for h, w in self.config.shapes
        ]

    def sample_noise(
        self, k: int, shape: tuple[int, int], n: int = 1, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Stage k's noise for an (H, W) output: image channels at stage 0, feature channels
        with ``num_layers`` pixels of margin above (``functions.py``@8b4681f
        ``sample_random_noise``)."""
        device = self.noise_amp.device
        if k == 0:
            return torch.randn(
                n, self.config.image_channels, *shape, device=device, generator=generator
            )
        pad = 2 * self.config.num_layers
        return torch.randn(
            n,
            self.config.channels,
            shape[0] + pad,
            shape[1] + pad,
            device=device,
            generator=generator,
        )

    def noise_maps(
        self,
        n: int = 1,
        start_scale: int = 0,
        shapes: list[tuple[int, int]] | None = None,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """Every stage's noise for ``n`` samples, drawn coarse to fine from ``generator``; stages
        below ``start_scale`` take their fixed reconstruction noise (resized when stretched)."""
        shapes = shapes or self.shapes()
        noise = []
        for k in range(self.num_scales):
            if k < start_scale:
                fixed = self.fixed_noise[k]
                margin = 2 * self.config.num_layers if k else 0
                size = (shapes[k][0] + margin, shapes[k][1] + margin)
                if tuple(fixed.shape[-2:]) != size:
                    fixed = F.interpolate(fixed, size=size, mode="bilinear", align_corners=True)
                noise.append(fixed.expand(n, -1, -1, -1))
            else:
                noise.append(self.sample_noise(k, shapes[k], n, generator))
        return noise

    def reconstruct(self) -> torch.Tensor:
        """The output from the fixed noise: the training image once trained."""
        return self.generator(list(self.fixed_noise), self.noise_amp)

    def forward(
        self,
        n: int = 1,
        start_scale: int = 0,
        scale_v: float = 1.0,
        scale_h: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` random samples (unclamped); stages below ``start_scale`` keep the training
        image's layout, ``start_scale`` = the number of stages gives the reconstruction."""
        shapes = self.shapes(scale_v, scale_h)
        return self.generator(self.noise_maps(n, start_scale, shapes, generator), self.noise_amp)
