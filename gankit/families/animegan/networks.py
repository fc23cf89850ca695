"""AnimeGAN generators (v1, v2) and the shared discriminator.

v1 follows the paper (Chen et al. 2020, "AnimeGAN", sec. 3.1, fig. 2) as the original TF code
builds it; v2 mirrors the public PyTorch v2 port module by module so its weights load by name.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from gankit.core import registry
from gankit.families.animegan.config import (
    DiscriminatorConfig,
    GeneratorV1Config,
    GeneratorV2Config,
    PtranGeneratorV1Config,
)
from gankit.families.animegan.layers import ConvNormLReLU, DSConv, InvertedResBlock, make_norm
from gankit.nn.tf_init import truncated_normal_, variance_scaling_
from gankit.nn.tf_resize import resize_bilinear_tf1

FAMILY = "animegan"
STRIDE = 4
"""The generators downsample twice by 2: sides are padded to a multiple of 4
(``size_multiple``, read by :mod:`gankit.runtime.protocol`, so the web app pads as the CLI)."""


def _resize(x: torch.Tensor, size: tuple[int, int], tf1: bool) -> torch.Tensor:
    """Bilinear resize, half-pixel centres or (``tf1``) as the TF originals' ``resize_images``."""
    if tf1:
        return resize_bilinear_tf1(x, size)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class DownConv(nn.Module):
    """Paper's Down-Conv: a stride-2 DSConv plus a DSConv of the input resized by 1/2, summed."""

    def __init__(self, in_ch: int, out_ch: int, norm: str, tf1_resize: bool = False) -> None:
        super().__init__()
        self.strided = DSConv(in_ch, out_ch, stride=2, norm=norm)
        self.resized = DSConv(in_ch, out_ch, norm=norm)
        self.tf1_resize = tf1_resize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = _resize(x, (x.shape[-2] // 2, x.shape[-1] // 2), self.tf1_resize)
        return self.strided(x) + self.resized(half)


class UpConv(nn.Module):
    """Paper's Up-Conv: bilinear resize x2 then a DSConv (avoids transposed-conv checkerboards)."""

    def __init__(self, in_ch: int, out_ch: int, norm: str, tf1_resize: bool = False) -> None:
        super().__init__()
        self.conv = DSConv(in_ch, out_ch, norm=norm)
        self.tf1_resize = tf1_resize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(_resize(x, (2 * x.shape[-2], 2 * x.shape[-1]), self.tf1_resize))


@registry.register(
    "animegan_v1_generator",
    family=FAMILY,
    role="generator",
    config_cls=GeneratorV1Config,
    description="AnimeGAN v1 G (paper fig. 2, 8 IRBs 256-512-256)",
)
class GeneratorV1(nn.Module):
    """Photo -> anime image, any size divisible by 4; output in [-1, 1]."""

    size_multiple = STRIDE

    def __init__(self, config: GeneratorV1Config) -> None:
        super().__init__()
        c, n, tf1 = config.base, config.norm, config.tf1_resize
        ds = config.ds_norm or n
        self.b1 = nn.Sequential(ConvNormLReLU(3, c, norm=n), ConvNormLReLU(c, c, norm=n))
        self.down1 = DownConv(c, 2 * c, ds, tf1)
        self.b2 = nn.Sequential(ConvNormLReLU(2 * c, 2 * c, norm=n), DSConv(2 * c, 2 * c, norm=ds))
        self.down2 = DownConv(2 * c, 4 * c, ds, tf1)
        self.middle = nn.Sequential(
            ConvNormLReLU(4 * c, 4 * c, norm=n),
            *(
                InvertedResBlock(4 * c, 4 * c, config.irb_expansion, dw_bias=False, norm=n)
                for _ in range(config.n_irb)
            ),
            ConvNormLReLU(4 * c, 4 * c, norm=n),
        )
        self.up1 = UpConv(4 * c, 2 * c, ds, tf1)
        self.u2 = nn.Sequential(DSConv(2 * c, 2 * c, norm=ds), ConvNormLReLU(2 * c, 2 * c, norm=n))
        # The TF code keeps 128 channels here although the paper's figure shows 64.
        self.up2 = UpConv(2 * c, 2 * c, ds, tf1)
        self.u1 = nn.Sequential(ConvNormLReLU(2 * c, c, norm=n), ConvNormLReLU(c, c, norm=n))
        self.out_layer = nn.Conv2d(c, 3, 1, bias=False)
        self._init_like_tf()

    def _init_like_tf(self) -> None:
        """``tf.contrib.layers`` convs default to Xavier uniform; the IRBs' ``dwise_conv`` draws
        a normal truncated at 2 sigma, stddev 0.02 (AnimeGAN ``net/generator.py``@ad95a45)."""
        irb_depthwise = {
            id(conv)
            for block in self.modules()
            if isinstance(block, InvertedResBlock)
            for conv in block.modules()
            if isinstance(conv, nn.Conv2d) and conv.groups > 1
        }
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if id(m) in irb_depthwise:
                    truncated_normal_(m, 0.02)
                else:
                    variance_scaling_(m, 1.0, "fan_avg", uniform=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.b2(self.down1(self.b1(x)))
        x = self.middle(self.down2(x))
        x = self.u2(self.up1(x))
        x = self.u1(self.up2(x))
        return torch.tanh(self.out_layer(x))


@registry.register(
    "animegan_v2_generator",
    family=FAMILY,
    role="generator",
    config_cls=GeneratorV2Config,
    description="AnimeGAN v2 G (PyTorch v2 port layout, blocks A-E)",
)
class GeneratorV2(nn.Module):
    """Photo -> anime image; attribute and key names are those of the public v2 port."""

    size_multiple = STRIDE

    def __init__(self, config: GeneratorV2Config) -> None:
        super().__init__()
        n = config.norm
        self.align_corners = config.align_corners
        self.tf1_resize = config.tf1_resize
        down = (0, 1, 0, 1)
        self.block_a = nn.Sequential(
            ConvNormLReLU(3, 32, kernel_size=7, padding=3, norm=n),
            ConvNormLReLU(32, 64, stride=2, padding=down, norm=n),
            ConvNormLReLU(64, 64, norm=n),
        )
        self.block_b = nn.Sequential(
            ConvNormLReLU(64, 128, stride=2, padding=down, norm=n),
            ConvNormLReLU(128, 128, norm=n),
        )
        irbs = [
            InvertedResBlock(128 if i == 0 else 256, 256, config.irb_expansion, norm=n)
            for i in range(config.n_irb)
        ]
        self.block_c = nn.Sequential(
            ConvNormLReLU(128, 128, norm=n), *irbs, ConvNormLReLU(256, 128, norm=n)
        )
        self.block_d = nn.Sequential(
            ConvNormLReLU(128, 128, norm=n), ConvNormLReLU(128, 128, norm=n)
        )
        self.block_e = nn.Sequential(
            ConvNormLReLU(128, 64, norm=n),
            ConvNormLReLU(64, 64, norm=n),
            ConvNormLReLU(64, 32, kernel_size=7, padding=3, norm=n),
        )
        self.out_layer = nn.Sequential(nn.Conv2d(32, 3, 1, bias=config.out_bias), nn.Tanh())
        # every conv, depthwise included, uses tf.contrib.layers.variance_scaling_initializer()
        # (AnimeGANv2 net/generator.py@94d74af); biases start at 0
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                variance_scaling_(m)

    def _up(self, x: torch.Tensor, size: torch.Size) -> torch.Tensor:
        if self.tf1_resize:
            return resize_bilinear_tf1(x, (2 * x.shape[-2], 2 * x.shape[-1]))
        if self.align_corners:
            return F.interpolate(x, size, mode="bilinear", align_corners=True)
        return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block_a(x)
        half = out.shape[-2:]
        out = self.block_c(self.block_b(out))
        out = self.block_d(self._up(out, half))
        out = self.block_e(self._up(out, x.shape[-2:]))
        return self.out_layer(out)


class _PtranSeparableConv(nn.Module):
    """ptran1203's ``SeparableConv2D``: zero-padded depthwise, IN, LReLU, pointwise, IN, LReLU."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(in_ch, in_ch, 3, stride, 1, groups=in_ch, bias=False)
        self.pointwise = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        # parameter-free modules (not F.instance_norm) so tiling can freeze their statistics
        self.norm1, self.norm2 = make_norm("instance", in_ch), make_norm("instance", out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.norm1(self.depthwise(x)), 0.2)
        return F.leaky_relu(self.norm2(self.pointwise(x)), 0.2)


class _PtranDownConv(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = _PtranSeparableConv(ch, ch, stride=2)
        self.conv2 = _PtranSeparableConv(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        return self.conv1(x) + self.conv2(half)


class _PtranUpConv(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv = _PtranSeparableConv(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))


class _PtranIRB(nn.Module):
    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv_block = ConvNormLReLU(ch, 2 * ch, 1, padding=0, norm="instance")
        self.depthwise_conv = nn.Conv2d(2 * ch, 2 * ch, 3, padding=1, groups=2 * ch, bias=False)
        self.conv = nn.Conv2d(2 * ch, ch, 1, bias=False)
        self.norm1, self.norm2 = make_norm("instance", 2 * ch), make_norm("instance", ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.leaky_relu(self.norm1(self.depthwise_conv(self.conv_block(x))), 0.2)
        return x + self.norm2(self.conv(out))


@registry.register(
    "animegan_v1_ptran_generator",
    family=FAMILY,
    role="generator",
    config_cls=PtranGeneratorV1Config,
    description="ptran1203 PyTorch AnimeGAN GeneratorV1 (imported weights)",
)
class PtranGeneratorV1(nn.Module):
    """The layout of ptran1203's ``GeneratorV1`` (its released ``generator_*.pth`` files)."""

    size_multiple = STRIDE

    def __init__(self, config: PtranGeneratorV1Config) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> nn.Module:
            return ConvNormLReLU(cin, cout, norm="instance")

        self.encode_blocks = nn.Sequential(
            block(3, 64),
            block(64, 128),
            _PtranDownConv(128),
            block(128, 128),
            _PtranSeparableConv(128, 256),
            _PtranDownConv(256),
            block(256, 256),
        )
        self.res_blocks = nn.Sequential(*(_PtranIRB(256) for _ in range(config.n_irb)))
        self.decode_blocks = nn.Sequential(
            block(256, 128),
            _PtranUpConv(128),
            _PtranSeparableConv(128, 128),
            block(128, 128),
            _PtranUpConv(128),
            block(128, 64),
            block(64, 64),
            nn.Conv2d(64, 3, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode_blocks(self.res_blocks(self.encode_blocks(x)))


@registry.register(
    "animegan_discriminator",
    family=FAMILY,
    role="discriminator",
    config_cls=DiscriminatorConfig,
    description="AnimeGAN D (3 layers, ch 64, spectral norm), v1 and v2",
)
class Discriminator(nn.Module):
    """Patch discriminator of AnimeGAN (v1/v2 ``net/discriminator.py``), logits per patch."""

    def __init__(self, config: DiscriminatorConfig) -> None:
        super().__init__()
        ch, cin = config.ch // 2, config.ch // 2

        def conv(cin: int, cout: int, stride: int = 1) -> nn.Module:
            layer = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
            # tools/ops.py weight_init, v1@ad95a45 and v2@8f97ab4
            nn.init.normal_(layer.weight, 0.0, 0.02)
            return spectral_norm(layer) if config.spectral_norm else layer

        layers: list[nn.Module] = [conv(3, ch), nn.LeakyReLU(0.2, inplace=True)]
        # Like the TF code, each stage widens from the previous stage's output (4 * ch).
        for _ in range(1, config.n_dis):
            layers += [
                conv(cin, 2 * ch, 2),
                nn.LeakyReLU(0.2, inplace=True),
                conv(2 * ch, 4 * ch),
                make_norm(config.norm, 4 * ch),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            cin, ch = 4 * ch, 2 * ch
        layers += [
            conv(cin, 2 * ch),
            make_norm(config.norm, 2 * ch),
            nn.LeakyReLU(0.2, inplace=True),
            conv(2 * ch, 1),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def generator_arch(version: str) -> str:
    """Registered generator name for ``"v1"`` / ``"v2"``."""
    return {"v1": "animegan_v1_generator", "v2": "animegan_v2_generator"}[version]


def discriminator_norm(version: str) -> str:
    """D's norm: instance norm with affine in v1 (AnimeGAN ``net/discriminator.py``@ad95a45),
    ``tf.contrib`` layer norm (eps 1e-12) in v2 (AnimeGANv2 ``net/discriminator.py``@8f97ab4)."""
    return {"v1": "instance_affine", "v2": "layer_tf"}[version]


def training_generator_overrides(version: str) -> dict[str, object]:
    """What the recipe changes in a generator's defaults to train as the TF original: its
    ``resize_images`` sampling, and ``tf.contrib``'s norm epsilons: v2's layer norms (AnimeGANv2
    ``net/generator.py``@94d74af), v1's separable convs' instance norms (AnimeGAN
    ``net/generator.py``@ad95a45). The defaults stay those of the ported weights."""
    return {
        "tf1_resize": True,
        **({"norm": "layer_tf"} if version == "v2" else {"ds_norm": "instance_tf"}),
    }
