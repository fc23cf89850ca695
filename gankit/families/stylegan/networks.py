"""StyleGAN2 generator and discriminator (Karras et al. 2020), StyleGAN1 generator (2019).

Module and parameter names follow rosinality/stylegan2-pytorch ``model.py`` so that its
checkpoints load with a plain ``load_state_dict``: ``style`` (mapping), ``input`` (learned
constant), ``conv1``/``to_rgb1`` (4x4), ``convs``/``to_rgbs`` (one up-sampling and one plain
styled conv plus a ToRGB per resolution), ``noises.noise_<i>`` (the fixed noise maps used with
``noise_mode="const"``). Extra state kept with the weights: ``latent_avg``, the running average
of W used for truncation (sec. 2 of StyleGAN1, "truncation trick in W").
"""

from __future__ import annotations

import contextlib
import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core import registry
from gankit.families.stylegan.config import STYLEGAN2_SIZES, StyleGAN1Config, StyleGAN2Config
from gankit.nn.bias_act import FusedLeakyReLU
from gankit.nn.equalized import EqualConv2d, EqualLinear, PixelNorm
from gankit.nn.minibatch_std import minibatch_stddev
from gankit.nn.modulated_conv import ModulatedConv2d, set_fused
from gankit.nn.progressive import Growable, ProgressiveDiscriminator, fade_in
from gankit.nn.upfirdn2d import Blur, Upsample

BLUR_KERNEL = (1, 3, 3, 1)
NOISE_MODES = ("random", "const", "none")
FAMILY = "stylegan"


def fp16_layers(
    config: StyleGAN2Config, res: int, device: torch.device
) -> contextlib.AbstractContextManager:
    """float16 autocast for the top ``num_fp16_res`` resolutions on CUDA (StyleGAN2-ADA app. D.1;
    NVlabs pairs it with ``conv_clamp`` 256); a no-op elsewhere."""
    enabled = device.type == "cuda" and math.log2(res) > config.log_size - config.num_fp16_res
    return torch.autocast("cuda", dtype=torch.float16, enabled=enabled)


class NoiseInjection(nn.Module):
    """Per-pixel noise scaled by a learned strength (StyleGAN1 sec. 2 / 3.2).

    StyleGAN1 learns one strength per feature map (``channels``); StyleGAN2 one per layer.
    """

    def __init__(self, channels: int | None = None) -> None:
        super().__init__()
        shape = (1,) if channels is None else (1, channels, 1, 1)
        self.weight = nn.Parameter(torch.zeros(shape))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        return x if noise is None else x + self.weight * noise


class ConstantInput(nn.Module):
    """The learned 4x4 constant the synthesis network starts from (StyleGAN1 sec. 2)."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """Modulated 3x3 conv, noise, bias and scaled leaky ReLU (StyleGAN2 fig. 2c)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        style_dim: int,
        upsample: bool = False,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_ch, out_ch, 3, style_dim, upsample=upsample, blur_kernel=BLUR_KERNEL
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch, clamp=conv_clamp)

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None
    ) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB without demodulation, added to the up-sampled skip image."""

    def __init__(
        self, in_ch: int, style_dim: int, upsample: bool = True, conv_clamp: float | None = None
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(BLUR_KERNEL)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.conv_clamp = conv_clamp

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None
    ) -> torch.Tensor:
        out = self.conv(x, style) + self.bias
        if self.conv_clamp is not None:
            out = out.clamp(-self.conv_clamp, self.conv_clamp)
        out = out.float()
        return out if skip is None else out + self.upsample(skip)


class _StyleGenerator(nn.Module):
    """What both generations share: the mapping network z -> w, truncation, mixing and noise.

    Subclasses build ``input``/``conv1``/... and implement :meth:`synthesis`.
    """

    config: StyleGAN2Config
    seed_convention = "numpy"
    """Seeds become latents as in NVlabs' generate.py (:mod:`gankit.core.seed`)."""
    reference_truncation: tuple[float, int | None] = (1.0, None)
    """(psi, cutoff layers) the reference generates with by default: StyleGAN2 none, psi 1 on
    every layer (NVlabs/stylegan2-ada-pytorch generate.py@d72cc7d ``--trunc`` default 1)."""

    def _build_mapping(self, cfg: StyleGAN2Config) -> None:
        """Pixel norm then ``n_mlp`` equalised linear layers with lr multiplier 0.01 (sec. 2)."""
        dim = cfg.style_dim
        first_in = dim * 2 if cfg.c_dim else dim
        layers: list[nn.Module] = [PixelNorm()]
        for i in range(cfg.n_mlp):
            layers.append(
                EqualLinear(first_in if i == 0 else dim, dim, lr_mul=cfg.lr_mlp, activation="lrelu")
            )
        self.style = nn.Sequential(*layers)
        if cfg.c_dim:
            self.embed = EqualLinear(cfg.c_dim, dim)
        self.register_buffer("latent_avg", torch.zeros(dim))
        self.n_latent = cfg.n_latent
        self.z_dim = dim  # latent size (gankit.runtime.protocol; NVlabs' z_dim equals w_dim here)

    def _build_noise_buffers(self, resolutions: list[int]) -> None:
        self.noises = nn.Module()
        for i, res in enumerate(resolutions):
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        self.num_layers = len(resolutions)

    def mapping(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """``[N, z_dim]`` latents (and one-hot classes) to ``[N, w_dim]`` styles W."""
        if self.config.c_dim:
            if c is None:
                from gankit.core.errors import UsageError

                raise UsageError(
                    f"this generator is conditional ({self.config.c_dim} classes);"
                    " pass a class label"
                )
            x = torch.cat([self.style[0](z), self.style[0](self.embed(c))], dim=1)
            return self.style[1:](x)
        return self.style(z)

    def truncate(
        self, w: torch.Tensor, psi: float = 1.0, cutoff: int | None = None
    ) -> torch.Tensor:
        """Broadcast W to ``[N, n_latent, D]`` and pull it toward ``latent_avg`` by ``psi``.

        Truncation trick (StyleGAN1 sec. 4.2 / app. B): w' = w_avg + psi (w - w_avg), on the
        first ``cutoff`` layers only when given (NVlabs ``truncation_cutoff``).
        """
        ws = w.unsqueeze(1).repeat(1, self.n_latent, 1) if w.dim() == 2 else w
        if psi == 1.0:
            return ws
        cut = self.n_latent if cutoff is None else cutoff
        avg = self.latent_avg.to(ws.dtype)
        head = avg.lerp(ws[:, :cut], psi)
        return torch.cat([head, ws[:, cut:]], dim=1)

    def mix(self, w1: torch.Tensor, w2: torch.Tensor, inject_index: int) -> torch.Tensor:
        """Style mixing (StyleGAN1 sec. 3.1): layers before ``inject_index`` from w1, rest w2."""
        return torch.cat(
            [
                w1.unsqueeze(1).expand(-1, inject_index, -1),
                w2.unsqueeze(1).expand(-1, self.n_latent - inject_index, -1),
            ],
            dim=1,
        )

    def noise_inputs(self, batch: int, mode: str) -> list[torch.Tensor | None]:
        """The per-layer noise maps for ``mode`` random (fresh), const (stored) or none."""
        if mode not in NOISE_MODES:
            from gankit.core.errors import UsageError

            raise UsageError(f"noise mode must be one of {', '.join(NOISE_MODES)}, got {mode!r}")
        bufs = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if mode == "const":
            return list(bufs)
        if mode == "none":
            return [None] * self.num_layers
        return [
            torch.randn(batch, 1, b.shape[2], b.shape[3], device=b.device, dtype=b.dtype)
            for b in bufs
        ]

    @torch.no_grad()
    def mean_latent(self, n: int = 10_000, seed: int = 0, batch: int = 1000) -> torch.Tensor:
        """Average W over ``n`` latents of a fixed seed (stands in for NVlabs' ``w_avg``)."""
        g = torch.Generator().manual_seed(seed)
        device = self.latent_avg.device
        total = torch.zeros(self.config.style_dim, dtype=torch.float64)
        for start in range(0, n, batch):
            m = min(batch, n - start)
            z = torch.randn(m, self.config.style_dim, generator=g).to(device)
            c = None
            if self.config.c_dim:
                labels = torch.randint(self.config.c_dim, (m,), generator=g)
                c = F.one_hot(labels, self.config.c_dim).float().to(device)
            total += self.mapping(z, c).double().sum(0).cpu()
        return (total / n).float()

    def synthesis(self, ws: torch.Tensor, noise: list[torch.Tensor | None]) -> torch.Tensor:
        raise NotImplementedError

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation: float = 1.0,
        noise_mode: str = "random",
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        """z ``[N, 512]`` -> images ``[N, 3, size, size]`` in about [-1, 1]."""
        ws = self.truncate(self.mapping(z, c), truncation, truncation_cutoff)
        return self.synthesis(ws, self.noise_inputs(z.shape[0], noise_mode))


class StyleGAN2Generator(_StyleGenerator):
    """StyleGAN2 generator, skip architecture (sec. 4.1, fig. 7b), with demodulation (sec. 2.2)."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = cfg = config
        self._build_mapping(cfg)
        ch, dim, clamp = cfg.channels, cfg.style_dim, cfg.conv_clamp
        self.input = ConstantInput(ch(4))
        self.conv1 = StyledConv(ch(4), ch(4), dim, conv_clamp=clamp)
        self.to_rgb1 = ToRGB(ch(4), dim, upsample=False, conv_clamp=clamp)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        in_ch = ch(4)
        for i in range(3, cfg.log_size + 1):
            out_ch = ch(2**i)
            self.convs.append(StyledConv(in_ch, out_ch, dim, upsample=True, conv_clamp=clamp))
            self.convs.append(StyledConv(out_ch, out_ch, dim, conv_clamp=clamp))
            self.to_rgbs.append(ToRGB(out_ch, dim, conv_clamp=clamp))
            in_ch = out_ch
        self._build_noise_buffers([4] + [2**i for i in range(3, cfg.log_size + 1) for _ in "ab"])

    def synthesis(self, ws: torch.Tensor, noise: list[torch.Tensor | None]) -> torch.Tensor:
        """``[N, n_latent, D]`` styles and per-layer noise -> images."""
        out = self.conv1(self.input(ws.shape[0]), ws[:, 0], noise[0])
        skip = self.to_rgb1(out, ws[:, 1])
        for k, to_rgb in enumerate(self.to_rgbs):
            i = 1 + 2 * k
            with fp16_layers(self.config, 2 ** (k + 3), ws.device):
                out = self.convs[2 * k](out, ws[:, i], noise[i])
                out = self.convs[2 * k + 1](out, ws[:, i + 1], noise[i + 1])
                skip = to_rgb(out, ws[:, i + 2], skip)
        return skip

    def onnx_network(self) -> StyleGAN2Generator:
        """A copy for ONNX export (gankit.runtime.protocol): same numbers, free batch axis.

        The fused modulated convolution (sec. 2.2) makes each sample's kernel from its style and
        runs the batch as conv groups, so a traced graph only takes the traced batch size; the
        copy scales activations around the shared kernel instead (NVlabs ``fused_modconv=False``).
        """
        return set_fused(copy.deepcopy(self), False).eval()


# --- StyleGAN1 (Karras et al. 2019) --------------------------------------------------------------


class AdaIN(nn.Module):
    """Instance norm, then a per-channel scale and bias from the style (StyleGAN1 eq. 1).

    The affine ``style`` maps w to (scale, bias) with scale biases initialised to 1.
    """

    def __init__(self, channels: int, style_dim: int) -> None:
        super().__init__()
        self.style = EqualLinear(style_dim, channels * 2)
        with torch.no_grad():
            self.style.bias[:channels] = 1.0

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        scale, bias = self.style(w).unsqueeze(2).unsqueeze(3).chunk(2, dim=1)
        return F.instance_norm(x, eps=1e-8) * scale + bias


class StyleGAN1Layer(nn.Module):
    """(Up-sample +) 3x3 conv (+ blur), noise, bias + leaky ReLU, AdaIN (StyleGAN1 fig. 1b).

    The paper's "bilinear" up-sampling is, in NVlabs' ``networks_stylegan.py``, a nearest
    up-sampling followed by the conv and a [1, 2, 1] low-pass filter; this reproduces that order.
    """

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, upsample: bool) -> None:
        super().__init__()
        self.upsample = upsample
        if in_ch:
            self.conv = EqualConv2d(in_ch, out_ch, 3, padding=1, bias=False)
        if upsample:
            self.blur = Blur((1, 2, 1), pad=(1, 1))
        self.noise = NoiseInjection(out_ch)
        self.activate = FusedLeakyReLU(out_ch)
        self.adain = AdaIN(out_ch, style_dim)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if hasattr(self, "conv"):
            x = self.conv(x)
        if self.upsample:
            x = self.blur(x)
        return self.adain(self.activate(self.noise(x, noise)), w)


class StyleGAN1Generator(_StyleGenerator, Growable):
    """StyleGAN1 synthesis: constant, two AdaIN layers per resolution, ToRGB at the top.

    With ``config.progressive`` (NVlabs ``G_synthesis`` with ``structure='linear'``, StyleGAN1
    app. C) every lower resolution has its own ToRGB too, and the synthesis runs up to the
    ``level`` / ``alpha`` buffers of ``gankit.nn.progressive``: the image of resolution
    4 * 2**level, fading in over the previous one's (PGGAN sec. 2). At the full resolution with
    alpha 1 it is exactly the fixed-resolution synthesis. NVlabs' generator has 26,219,627
    parameters at 1024x1024, as the progressive one here; the fixed-resolution one has 7,608
    fewer (26,212,019): the eight lower-resolution ToRGBs, 3 x (4 x 512 + 256 + 128 + 64 + 32)
    weights + 8 x 3 biases.
    """

    reference_truncation = (0.7, 8)
    """NVlabs' defaults, psi 0.7 on the first 8 style layers (NVlabs/stylegan
    training/networks_stylegan.py@1e0d5c7, ``G_style``: truncation_psi=0.7,
    truncation_cutoff=8)."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = cfg = config
        self._build_mapping(cfg)
        ch, dim = cfg.channels, cfg.style_dim
        self.input = ConstantInput(ch(4))
        self.layers = nn.ModuleList(
            [StyleGAN1Layer(0, ch(4), dim, False), StyleGAN1Layer(ch(4), ch(4), dim, False)]
        )
        for i in range(3, cfg.log_size + 1):
            self.layers.append(StyleGAN1Layer(ch(2 ** (i - 1)), ch(2**i), dim, True))
            self.layers.append(StyleGAN1Layer(ch(2**i), ch(2**i), dim, False))
        self.to_rgb = EqualConv2d(ch(cfg.size), 3, 1)
        self._build_noise_buffers([2 ** (2 + i // 2) for i in range(cfg.n_latent)])
        self.progressive = isinstance(cfg, StyleGAN1Config) and cfg.progressive
        if self.progressive:
            self.to_rgbs = nn.ModuleList(
                EqualConv2d(ch(2**i), 3, 1) for i in range(2, cfg.log_size)
            )
            self._init_phase(cfg.log_size - 2)

    def _rgb(self, level: int, x: torch.Tensor) -> torch.Tensor:
        return self.to_rgb(x) if level == self.config.log_size - 2 else self.to_rgbs[level](x)

    def synthesis(
        self,
        ws: torch.Tensor,
        noise: list[torch.Tensor | None],
        level: int | None = None,
        alpha: float | None = None,
    ) -> torch.Tensor:
        """Styles and noise -> images; a progressive generator runs at ``level`` / ``alpha``
        (default: its buffers), a fixed one only at its full resolution."""
        if self.progressive:
            level, alpha = self._phase(level, alpha)
        elif level not in (None, self.config.log_size - 2) or alpha not in (None, 1.0):
            raise ValueError(
                "a StyleGAN1 generator built without progressive growing runs at "
                "its full resolution only"
            )
        else:
            level, alpha = self.config.log_size - 2, 1.0
        out = self.input(ws.shape[0])
        for i in range(2 * level + 2):
            if i == 2 * level:
                prev = out  # the previous resolution's features, for the fade-in
            out = self.layers[i](out, ws[:, i], noise[i])
        rgb = self._rgb(level, out)
        return rgb if alpha >= 1.0 else fade_in(self._rgb(level - 1, prev), rgb, alpha)


# --- Discriminator ---------------------------------------------------------------------------


class Clamp(nn.Module):
    """Clamp to +-``limit`` (NVlabs' ``conv_clamp`` on layers without an activation)."""

    def __init__(self, limit: float) -> None:
        super().__init__()
        self.limit = limit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(-self.limit, self.limit)


class ConvLayer(nn.Sequential):
    """(Blur +) equalised conv (+ bias and scaled leaky ReLU); rosinality's ``ConvLayer``.

    ``clamp`` limits the output as NVlabs' ``conv_clamp`` does (after the activation).
    """

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int,
        downsample: bool = False,
        bias: bool = True,
        activate: bool = True,
        clamp: float | None = None,
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = (len(BLUR_KERNEL) - 2) + (kernel_size - 1)
            layers.append(Blur(BLUR_KERNEL, pad=((p + 1) // 2, p // 2)))
        layers.append(
            EqualConv2d(
                in_ch,
                out_ch,
                kernel_size,
                stride=2 if downsample else 1,
                padding=0 if downsample else kernel_size // 2,
                bias=bias and not activate,
            )
        )
        if activate:
            layers.append(FusedLeakyReLU(out_ch, bias=bias, clamp=clamp))
        elif clamp is not None:
            layers.append(Clamp(clamp))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual down-sampling block scaled by 1/sqrt(2) (StyleGAN2 sec. 4.1, fig. 7c)."""

    def __init__(self, in_ch: int, out_ch: int, clamp: float | None = None) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_ch, in_ch, 3, clamp=clamp)
        self.conv2 = ConvLayer(in_ch, out_ch, 3, downsample=True, clamp=clamp)
        self.skip = ConvLayer(
            in_ch, out_ch, 1, downsample=True, activate=False, bias=False, clamp=clamp
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / math.sqrt(2)


class StyleGAN2Discriminator(nn.Module):
    """Residual discriminator with minibatch standard deviation (group 4, 1 feature)."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = cfg = config
        ch, clamp = cfg.channels, cfg.conv_clamp
        convs: list[nn.Module] = [ConvLayer(3, ch(cfg.size), 1, clamp=clamp)]
        in_ch = ch(cfg.size)
        for i in range(cfg.log_size, 2, -1):
            convs.append(ResBlock(in_ch, ch(2 ** (i - 1)), clamp))
            in_ch = ch(2 ** (i - 1))
        self.convs = nn.Sequential(*convs)
        self.stddev_group, self.stddev_feat = cfg.mbstd_group, 1
        self.final_conv = ConvLayer(in_ch + 1, ch(4), 3, clamp=clamp)
        self.final_linear = nn.Sequential(
            EqualLinear(ch(4) * 4 * 4, ch(4), activation="lrelu"), EqualLinear(ch(4), 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for k, block in enumerate(self.convs):  # fromrgb, then one block per resolution
            with fp16_layers(self.config, self.config.size >> max(k - 1, 0), x.device):
                out = block(out)
        out = out.float()
        group = math.gcd(x.shape[0], self.stddev_group)
        out = self.final_conv(minibatch_stddev(out, group, self.stddev_feat))
        return self.final_linear(out.flatten(1))


class StyleGAN1Discriminator(ProgressiveDiscriminator):
    """StyleGAN1's D (NVlabs ``D_basic``, ``structure='linear'``): PGGAN's growing D (Table 2:
    FromRGB per resolution, fade-in, minibatch stddev) with a [1, 2, 1] blur before each
    down-sampling conv. Channels are the generator's, ``min(channel_base / res, channel_max)``;
    23,087,249 parameters at 1024x1024 (NVlabs' ``fmap_base`` 8192, as PGGAN's D)."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__(
            [config.channels(2**i) for i in range(2, config.log_size + 1)], blur=(1, 2, 1)
        )


_SIZED_NAMES = {label: f"stylegan2_{label.replace('-', '_')}" for label in STYLEGAN2_SIZES}
"""Names with the size in them, one per preset (``stylegan2_256_cm1``): accepted as aliases, so
folders that name them load."""

registry.register(
    "stylegan2",
    family=FAMILY,
    role="generator",
    config_cls=StyleGAN2Config,
    description="StyleGAN2 generator",
    presets=STYLEGAN2_SIZES,
    aliases={sized: label for label, sized in _SIZED_NAMES.items()},
)(StyleGAN2Generator)
registry.register(
    "stylegan2_d",
    family=FAMILY,
    role="discriminator",
    config_cls=StyleGAN2Config,
    description="StyleGAN2 residual discriminator",
    presets=STYLEGAN2_SIZES,
    aliases={f"{sized}_d": label for label, sized in _SIZED_NAMES.items()},
)(StyleGAN2Discriminator)
registry.register(
    "stylegan1",
    family=FAMILY,
    role="generator",
    config_cls=StyleGAN1Config,
    description="StyleGAN1 generator (AdaIN, bilinear up-sampling)",
    presets={"1024": StyleGAN1Config()},
    aliases={"stylegan1_1024": "1024"},
)(StyleGAN1Generator)
registry.register(
    "stylegan1_d",
    family=FAMILY,
    role="discriminator",
    config_cls=StyleGAN1Config,
    description="StyleGAN1 growing discriminator (PGGAN D + blur)",
    presets={"1024": StyleGAN1Config()},
    aliases={"stylegan1_1024_d": "1024"},
)(StyleGAN1Discriminator)


def arch_name_for(config: StyleGAN2Config, role: str = "generator") -> str:
    """The registered name of the network ``config`` describes."""
    name = "stylegan1" if isinstance(config, StyleGAN1Config) else "stylegan2"
    return name if role == "generator" else f"{name}_d"
