"""Pix2Pix networks: the U-Net and ResNet generators and the PatchGAN / PixelGAN discriminators.

Module nesting and attribute names reproduce junyanz/pytorch-CycleGAN-and-pix2pix
``models/networks.py`` so that its ``*_net_G.pth`` / ``*_net_D.pth`` state dicts load key for key
(``model.model.1.model.3...`` for the U-Net, ``model.N.conv_block.M`` for the ResNet, ``model.N``
for the PatchGAN, ``net.N`` for the PixelGAN).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.nn import init

from gankit.core import registry
from gankit.families.pix2pix.config import (
    NetworkConfig,
    PatchConfig,
    PixelConfig,
    Resnet6Config,
    ResnetConfig,
    Unet128Config,
    UnetConfig,
)

FAMILY = "pix2pix"


def norm_layer(kind: str, channels: int) -> nn.Module:
    """The reference's ``get_norm_layer``: affine BatchNorm, non-affine InstanceNorm or nothing.

    InstanceNorm keeps no running statistics (the reference since PyTorch 0.4), so it normalises
    with each image's own statistics in train and eval mode alike.
    """
    if kind == "batch":
        return nn.BatchNorm2d(channels, affine=True, track_running_stats=True)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    return nn.Identity()


def conv_bias(kind: str) -> bool:
    """Convs followed by a norm carry a bias only with InstanceNorm, as in the reference.

    (The reference decides ``use_bias = norm is InstanceNorm2d``, so ``norm='none'`` convs have
    no bias either; keeping that makes its files load.)
    """
    return kind == "instance"


def init_weights(net: nn.Module, init_type: str = "normal", gain: float = 0.02) -> None:
    """Paper sec. 6.2 / the reference's ``init_weights``: conv weights from N(0, gain) (or xavier,
    kaiming, orthogonal with ``gain``), biases 0, BatchNorm scales from N(1, gain)."""

    def init_one(m: nn.Module) -> None:
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
            if init_type == "normal":
                init.normal_(m.weight, 0.0, gain)
            elif init_type == "xavier":
                init.xavier_normal_(m.weight, gain=gain)
            elif init_type == "kaiming":
                init.kaiming_normal_(m.weight, a=0, mode="fan_in")
            else:
                init.orthogonal_(m.weight, gain=gain)
            if m.bias is not None:
                init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            init.normal_(m.weight, 1.0, gain)
            init.zeros_(m.bias)

    with torch.no_grad():
        net.apply(init_one)


def _initialised(net: nn.Module, config: NetworkConfig) -> None:
    init_weights(net, config.init_type, config.init_gain)


class _BatchStatistics(nn.Module):
    """A BatchNorm run as in training: normalised by the statistics of the batch at hand
    (biased variance), its running statistics neither read nor updated."""

    def __init__(self, norm: nn.modules.batchnorm._BatchNorm) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = (0, *range(2, x.dim()))
        mean = x.mean(dims, keepdim=True)
        var = (x - mean).square().mean(dims, keepdim=True)
        y = (x - mean) * torch.rsqrt(var + self.norm.eps)
        if self.norm.affine:
            shape = (1, -1) + (1,) * (x.dim() - 2)
            y = y * self.norm.weight.view(shape) + self.norm.bias.view(shape)
        return y


class _MaskedDropout(nn.Module):
    """Dropout whose keep-mask (already scaled by 1 / (1 - p)) is handed in before each call,
    so the same masks can be drawn once and given to PyTorch and to an ONNX graph alike."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mask is None:
            raise RuntimeError("test-time dropout called without its mask")
        return x * self.mask


def _test_time_twin(module: nn.Module) -> nn.Module:
    """A copy of ``module``'s tree that shares its parameters and buffers, with every BatchNorm
    replaced by :class:`_BatchStatistics` and every Dropout by :class:`_MaskedDropout`."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return _BatchStatistics(module)
    if isinstance(module, nn.Dropout):
        return _MaskedDropout(module.p)
    clone = copy.copy(module)
    clone._modules = {
        name: None if child is None else _test_time_twin(child)
        for name, child in module._modules.items()
    }
    return clone


class PaperTestMode(nn.Module):
    """A generator as the paper tests it (sec. 3.3): dropout on, BatchNorm with the statistics
    of the test batch, which is the reference's test.py unless ``--eval`` is given.

    It shares the generator's weights and never changes it (no mode switch, running statistics
    untouched), so it may run beside eval-mode calls. The dropout masks are explicit:
    :meth:`draw_masks` draws them in the order the layers run, on the CPU, from a
    ``torch.Generator``, so a seed gives the same output on every device and in the ONNX
    export of this module, whose inputs are the image and the masks.
    """

    serve_kind = "image2image"

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = _test_time_twin(generator)
        self.dropouts = [m for m in self.generator.modules() if isinstance(m, _MaskedDropout)]
        self.arch_name, self.config = generator.arch_name, generator.config
        self.size_multiple, self.in_channels = generator.size_multiple, generator.in_channels
        self._dropout_shapes = generator.dropout_shapes
        self._lock = threading.Lock()

    def mask_shapes(self, shape: Sequence[int]) -> list[tuple[int, ...]]:
        """The input shape of every dropout layer, in the order they run, for an input of
        ``shape`` (sides multiples of ``size_multiple``)."""
        return self._dropout_shapes(tuple(shape))

    def draw_masks(self, shape: Sequence[int], generator: torch.Generator) -> list[torch.Tensor]:
        """Keep-masks for an input of ``shape``: Bernoulli(1 - p) / (1 - p) per element."""
        return [
            torch.empty(s).bernoulli_(1 - d.p, generator=generator).div_(1 - d.p)
            for s, d in zip(self.mask_shapes(shape), self.dropouts, strict=True)
        ]

    def forward(self, x: torch.Tensor, *masks: torch.Tensor) -> torch.Tensor:
        with self._lock:
            for d, m in zip(self.dropouts, masks, strict=True):
                d.mask = m.to(x)
            try:
                return self.generator(x)
            finally:
                for d in self.dropouts:
                    d.mask = None

    def run(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Translate ``x`` with masks drawn from ``generator``."""
        return self(x, *self.draw_masks(x.shape, generator))

    # gankit.runtime.protocol: the export takes the image and the masks
    def onnx_module(self, truncation: float = 1.0) -> nn.Module:
        return self

    def onnx_example_inputs(self, height: int, width: int) -> tuple[torch.Tensor, ...]:
        x = torch.rand(1, self.in_channels, height, width) * 2 - 1
        return (x, *self.draw_masks(x.shape, torch.Generator().manual_seed(0)))

    @property
    def onnx_input_names(self) -> list[str]:
        return ["image", *(f"dropout_mask_{i}" for i in range(len(self.dropouts)))]

    @property
    def onnx_output_names(self) -> list[str]:
        return ["output"]

    @property
    def onnx_dynamic_axes(self) -> dict[str, dict[int, str]]:
        axes = {
            "image": {0: "batch", 2: "height", 3: "width"},
            "output": {0: "batch", 2: "height", 3: "width"},
        }
        for i in range(len(self.dropouts)):
            axes[f"dropout_mask_{i}"] = {0: "batch", 2: f"mask_{i}_height", 3: f"mask_{i}_width"}
        return axes


class _TestTime:
    """``test_forward``: the generator's test-time run (gankit.runtime.protocol), the paper's."""

    def paper_test_mode(self) -> PaperTestMode:
        """The cached :class:`PaperTestMode` of this generator (kept out of its state dict)."""
        twin = self.__dict__.get("_paper_test_mode")
        if twin is None:
            twin = PaperTestMode(self)  # type: ignore[arg-type]
            self.__dict__["_paper_test_mode"] = twin
        return twin

    def test_forward(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The paper's test protocol (sec. 3.3), dropout drawn from ``generator``."""
        return self.paper_test_mode().run(x, generator)


KeepMask = Callable[[torch.Tensor, float], torch.Tensor]
"""Gives the 0/1 keep-mask a dropout layer applies to its input, given that input and ``p``."""


def bernoulli_keep(x: torch.Tensor, p: float) -> torch.Tensor:
    """Keep each element with probability 1 - p, drawn from the global torch RNG."""
    return torch.empty_like(x).bernoulli_(1.0 - p)


class Dropout(nn.Dropout):
    """``nn.Dropout`` (element-wise, scaled by 1 / (1 - p) in training, identity in eval) whose
    keep-mask comes from ``keep_mask``: ``bernoulli_keep`` in training runs, the masks that
    junyanz's code drew when the parity tests replay its steps (``use_keep_masks``)."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)
        self.keep_mask: KeepMask = bernoulli_keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * self.keep_mask(x, self.p).to(x.dtype) / (1.0 - self.p)


def use_keep_masks(model: nn.Module, keep_mask: KeepMask) -> None:
    """Route every ``Dropout`` of ``model`` through ``keep_mask`` (``bernoulli_keep`` restores the
    random draws)."""
    for m in model.modules():
        if isinstance(m, Dropout):
            m.keep_mask = keep_mask


class UnetSkipBlock(nn.Module):
    """One level of the U-Net (paper fig. 3): down -> inner levels -> up, concatenated with x.

    The outermost level returns its output without the skip; the innermost has no submodule.
    Dropout(0.5) follows the up-path of the inner (not the three outer) decoder levels, the
    paper's "dropout in the first 3 layers of the decoder" at 256 px (appendix 6.1.1).
    """

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        norm: str,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        bias = conv_bias(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, kernel_size=4, stride=2, padding=1, bias=bias)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1)
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(
                inner_nc, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias
            )
            layers = [
                nn.LeakyReLU(0.2, True),
                downconv,
                nn.ReLU(True),
                upconv,
                norm_layer(norm, outer_nc),
            ]
        else:
            upconv = nn.ConvTranspose2d(
                inner_nc * 2, outer_nc, kernel_size=4, stride=2, padding=1, bias=bias
            )
            layers = [
                nn.LeakyReLU(0.2, True),
                downconv,
                norm_layer(norm, inner_nc),
                submodule,
                nn.ReLU(True),
                upconv,
                norm_layer(norm, outer_nc),
            ]
            if use_dropout:
                layers.append(Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.outermost:
            return self.model(x)
        return torch.cat([x, self.model(x)], 1)


@registry.register(
    "pix2pix_unet_256",
    family=FAMILY,
    role="generator",
    config_cls=UnetConfig,
    description="Pix2Pix U-Net, 8 downsamplings (256 px)",
)
class UnetGenerator(_TestTime, nn.Module):
    """The encoder-decoder with skips of paper sec. 3.2.1; input sides must be multiples of
    ``2 ** num_downs``."""

    def __init__(self, config: UnetConfig) -> None:
        super().__init__()
        c, ngf, norm = config, config.ngf, config.norm
        block = UnetSkipBlock(ngf * 8, ngf * 8, norm, innermost=True)
        for _ in range(c.num_downs - 5):
            block = UnetSkipBlock(
                ngf * 8, ngf * 8, norm, submodule=block, use_dropout=c.use_dropout
            )
        block = UnetSkipBlock(ngf * 4, ngf * 8, norm, submodule=block)
        block = UnetSkipBlock(ngf * 2, ngf * 4, norm, submodule=block)
        block = UnetSkipBlock(ngf, ngf * 2, norm, submodule=block)
        self.model = UnetSkipBlock(
            c.output_nc, ngf, norm, input_nc=c.input_nc, submodule=block, outermost=True
        )
        self.size_multiple = 2**c.num_downs
        self.in_channels = c.input_nc  # gankit.runtime.protocol: what export traces with
        _initialised(self, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def dropout_shapes(self, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """Dropout follows the up-convs of the levels ``num_downs - 2`` .. 4 (0: outermost),
        innermost first, each at ``ngf * 8`` channels and the input's size / 2 ** level."""
        c, (n, _, h, w) = self.config, shape
        if not c.use_dropout:
            return []
        return [(n, c.ngf * 8, h >> d, w >> d) for d in range(c.num_downs - 2, 3, -1)]


@registry.register(
    "pix2pix_unet_128",
    family=FAMILY,
    role="generator",
    config_cls=Unet128Config,
    description="Pix2Pix U-Net, 7 downsamplings (128 px)",
)
class Unet128Generator(UnetGenerator):
    """``unet_128``: the same U-Net with 7 levels."""


class ResnetBlock(nn.Module):
    """Two reflection-padded 3x3 convs with a residual connection (Johnson et al. 2016)."""

    def __init__(self, dim: int, norm: str, use_dropout: bool) -> None:
        super().__init__()
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(1),
            nn.Conv2d(dim, dim, 3, bias=bias),
            norm_layer(norm, dim),
            nn.ReLU(True),
        ]
        if use_dropout:
            layers.append(Dropout(0.5))
        layers += [nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3, bias=bias), norm_layer(norm, dim)]
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


@registry.register(
    "pix2pix_resnet_9blocks",
    family=FAMILY,
    role="generator",
    config_cls=ResnetConfig,
    description="ResNet generator, 9 residual blocks",
)
class ResnetGenerator(_TestTime, nn.Module):
    """c7s1-64, d128, d256, ``n_blocks`` x R256, u128, u64, c7s1-3 (Johnson et al. 2016);
    input sides must be multiples of 4."""

    def __init__(self, config: ResnetConfig) -> None:
        super().__init__()
        c, ngf, norm = config, config.ngf, config.norm
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(3),
            nn.Conv2d(c.input_nc, ngf, 7, bias=bias),
            norm_layer(norm, ngf),
            nn.ReLU(True),
        ]
        for i in range(2):
            mult = 2**i
            layers += [
                nn.Conv2d(ngf * mult, ngf * mult * 2, 3, stride=2, padding=1, bias=bias),
                norm_layer(norm, ngf * mult * 2),
                nn.ReLU(True),
            ]
        layers += [ResnetBlock(ngf * 4, norm, c.use_dropout) for _ in range(c.n_blocks)]
        for i in range(2):
            mult = 2 ** (2 - i)
            layers += [
                nn.ConvTranspose2d(
                    ngf * mult, ngf * mult // 2, 3, stride=2, padding=1, output_padding=1, bias=bias
                ),
                norm_layer(norm, ngf * mult // 2),
                nn.ReLU(True),
            ]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, c.output_nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)
        self.size_multiple = 4
        self.in_channels = c.input_nc  # gankit.runtime.protocol: what export traces with
        _initialised(self, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def dropout_shapes(self, shape: tuple[int, ...]) -> list[tuple[int, ...]]:
        """One dropout per residual block, at ``ngf * 4`` channels and a quarter of the size."""
        c, (n, _, h, w) = self.config, shape
        return [(n, c.ngf * 4, h // 4, w // 4)] * (c.n_blocks if c.use_dropout else 0)


@registry.register(
    "pix2pix_resnet_6blocks",
    family=FAMILY,
    role="generator",
    config_cls=Resnet6Config,
    description="ResNet generator, 6 residual blocks",
)
class Resnet6Generator(ResnetGenerator):
    """``resnet_6blocks``: the ResNet generator with 6 blocks (for 128 px)."""


@registry.register(
    "pix2pix_patchgan",
    family=FAMILY,
    role="discriminator",
    config_cls=PatchConfig,
    description="PatchGAN, n_layers 3 = the 70x70 'basic' D",
)
class NLayerDiscriminator(nn.Module):
    """PatchGAN (paper sec. 3.2.2): C64-C128-C256-C512 then a 1-channel map of patch logits.

    ``n_layers`` stride-2 convs set the receptive field (1: 16x16, 3: 70x70, 5: 286x286; paper
    sec. 4.4); the first conv has no norm, as in the paper's appendix 6.1.2.
    """

    def __init__(self, config: PatchConfig) -> None:
        super().__init__()
        c, ndf, norm = config, config.ndf, config.norm
        bias = conv_bias(norm)
        layers: list[nn.Module] = [
            nn.Conv2d(c.input_nc, ndf, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2, True),
        ]
        mult = 1
        for n in range(1, c.n_layers):
            prev, mult = mult, min(2**n, 8)
            layers += [
                nn.Conv2d(ndf * prev, ndf * mult, 4, stride=2, padding=1, bias=bias),
                norm_layer(norm, ndf * mult),
                nn.LeakyReLU(0.2, True),
            ]
        prev, mult = mult, min(2**c.n_layers, 8)
        layers += [
            nn.Conv2d(ndf * prev, ndf * mult, 4, stride=1, padding=1, bias=bias),
            norm_layer(norm, ndf * mult),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * mult, 1, 4, stride=1, padding=1),
        ]
        self.model = nn.Sequential(*layers)
        _initialised(self, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


@registry.register(
    "pix2pix_pixelgan",
    family=FAMILY,
    role="discriminator",
    config_cls=PixelConfig,
    description="PixelGAN: 1x1 PatchGAN ('pixel' D)",
)
class PixelDiscriminator(nn.Module):
    """1x1 PatchGAN: judges each pixel's colour given the input (paper sec. 4.4)."""

    def __init__(self, config: PixelConfig) -> None:
        super().__init__()
        c, ndf, norm = config, config.ndf, config.norm
        bias = conv_bias(norm)
        self.net = nn.Sequential(
            nn.Conv2d(c.input_nc, ndf, 1),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf, ndf * 2, 1, bias=bias),
            norm_layer(norm, ndf * 2),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(ndf * 2, 1, 1, bias=bias),
        )
        _initialised(self, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def size_multiple(model: nn.Module) -> int:
    """The side length every input must be a multiple of (1 for discriminators)."""
    return int(getattr(model, "size_multiple", 1))
