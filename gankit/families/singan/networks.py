"""SinGAN's networks: one patch generator and critic per scale, and the trained pyramid.

Paper sec. 2.1 (fig. 4, 5): each scale's generator maps noise plus the upsampled image from the
scale below to a residual, ``G_n(z_n, x~_{n+1}) = x~_{n+1} + psi_n(z_n + x~_{n+1})``; ``psi_n``
is five 3x3 conv-BN-LeakyReLU(0.2) blocks (the last a conv + tanh). Layer names follow the
reference ``models.py`` (``head``, ``body.blockN``, ``tail``) so imported weights map one to one.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core import registry
from gankit.core.errors import ConfigError
from gankit.families.singan.config import PyramidConfig, ScaleConfig
from gankit.nn.imresize import imresize, imresize_to_shape


class ConvBlock(nn.Sequential):
    """Conv (no padding) -> batch norm -> LeakyReLU(0.2), the reference's ``ConvBlock``."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int) -> None:
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_ch, out_ch, kernel_size))
        self.add_module("norm", nn.BatchNorm2d(out_ch))
        self.add_module("LeakyRelu", nn.LeakyReLU(0.2))


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation as in the reference: conv N(0, 0.02), batch-norm weight N(1, 0.02)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _trunk(cfg: ScaleConfig) -> tuple[nn.Module, nn.Sequential]:
    head = ConvBlock(cfg.image_channels, cfg.channels, cfg.kernel_size)
    body = nn.Sequential()
    for i in range(cfg.num_layers - 2):
        body.add_module(f"block{i + 1}", ConvBlock(cfg.channels, cfg.channels, cfg.kernel_size))
    return head, body


@registry.register(
    "singan_g",
    family="singan",
    role="generator",
    config_cls=ScaleConfig,
    description="one SinGAN scale's residual patch generator",
)
class ScaleGenerator(nn.Module):
    """``G_n``: pads its input once, so output and input share their height and width."""

    def __init__(self, config: ScaleConfig) -> None:
        super().__init__()
        self.pad = config.padding
        self.head, self.body = _trunk(config)
        self.tail = nn.Sequential(
            nn.Conv2d(config.channels, config.image_channels, config.kernel_size), nn.Tanh()
        )
        init_weights(self)

    def forward(self, noisy: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        """``noisy`` = amplitude * z + ``prev``; returns ``prev`` + the generated residual.

        ``noisy`` at ``prev``'s size is zero-padded here; one already ``2 * pad`` larger carries
        noise in its border (tamarott/SinGAN ``SinGAN/training.py``@084cf02 mode
        'animation_train', ``SinGAN/manipulate.py``@1d79f8a ``generate_gif``) and is used as is.
        """
        x = noisy if noisy.shape[-1] > prev.shape[-1] else F.pad(noisy, [self.pad] * 4)
        return self.tail(self.body(self.head(x))) + prev


@registry.register(
    "singan_d",
    family="singan",
    role="discriminator",
    config_cls=ScaleConfig,
    description="one SinGAN scale's Markovian patch critic (WGAN-GP)",
)
class ScaleDiscriminator(nn.Module):
    """``D_n``: a fully convolutional critic whose receptive field is an 11x11 patch."""

    def __init__(self, config: ScaleConfig) -> None:
        super().__init__()
        self.head, self.body = _trunk(config)
        self.tail = nn.Conv2d(config.channels, 1, config.kernel_size)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.tail(self.body(self.head(x)))


def resize(x: torch.Tensor, shape: tuple[int, int] | list[int]) -> torch.Tensor:
    """PyTorch bicubic resize to ``shape`` (antialiased when shrinking): the ``torch-bicubic``
    resampling, which a config without :attr:`PyramidConfig.resampling` means."""
    h, w = shape[0], shape[1]  # not int(): traced sizes stay symbolic in an ONNX export
    if tuple(x.shape[-2:]) == (h, w):
        return x
    shrink = h < x.shape[-2] or w < x.shape[-1]
    return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False, antialias=shrink)


class _TensorList(nn.Module):
    """Buffers of different shapes saved as ``<name>.0``, ``<name>.1``, ..."""

    def __init__(self, tensors: list[torch.Tensor]) -> None:
        super().__init__()
        for i, t in enumerate(tensors):
            self.register_buffer(str(i), t)

    def __len__(self) -> int:
        return len(self._buffers)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self._buffers[str(range(len(self))[i])]

    def append(self, t: torch.Tensor) -> None:
        self.register_buffer(str(len(self)), t)


@registry.register(
    "singan_pyramid",
    family="singan",
    role="pyramid",
    config_cls=PyramidConfig,
    description="a trained SinGAN: every scale's G, z*, noise amplitudes, reals",
)
class SinGANPyramid(nn.Module):
    """Everything needed to use a trained SinGAN, saved as one model folder.

    ``generators[k]`` is scale k's G (coarsest first); ``reals[k]`` the training image at that
    scale; ``noise_amp[k]`` sigma_k (paper sec. 2.2); ``z_rec`` the fixed coarsest noise z* whose
    reconstruction reproduces the image (zero noise above it).
    """

    def __init__(self, config: PyramidConfig) -> None:
        super().__init__()
        self.config = config
        self.generators = nn.ModuleList(
            ScaleGenerator(config.scale(k)) for k in range(len(config.shapes))
        )
        c = config.image_channels
        self.reals = _TensorList([torch.zeros(1, c, h, w) for h, w in config.shapes])
        self.register_buffer("noise_amp", torch.ones(len(config.shapes)))
        h0, w0 = self.noise_shape(config.shapes[0], config.border_noise)
        self.register_buffer("z_rec", torch.zeros(1, c, h0, w0))

    @property
    def num_scales(self) -> int:
        return len(self.generators)

    def append_scale(
        self, generator: ScaleGenerator, real: torch.Tensor, amp: float, channels: int
    ) -> None:
        """Grow by one finer scale (training adds the scales coarse to fine)."""
        self.generators.append(generator)
        self.reals.append(real.detach().clone())
        self.noise_amp = torch.cat([self.noise_amp, self.noise_amp.new_tensor([amp])])
        self.config = dataclasses.replace(
            self.config,
            shapes=[*self.config.shapes, list(real.shape[-2:])],
            channels=[*self.config.channels, channels],
        )

    def upscale(
        self,
        x: torch.Tensor,
        shape: tuple[int, int] | list[int] | torch.Size,
    ) -> torch.Tensor:
        """The image of the scale below enlarged to ``shape`` as this pyramid was trained to see
        it (:data:`~gankit.families.singan.config.RESAMPLINGS`); a no-op at ``shape``."""
        if tuple(x.shape[-2:]) == tuple(shape):
            return x
        mode = self.config.resampling
        if mode == "reference":
            return imresize(x, 1 / self.config.scale_factor, shape)
        if mode == "reference-shape":
            return imresize_to_shape(x, shape)
        return resize(x, shape)

    def fit(self, x: torch.Tensor, shape: tuple[int, int] | list[int]) -> torch.Tensor:
        """An input image resized to ``shape`` (the reference's ``imresize_to_shape`` under the
        reference resamplings, tamarott/SinGAN ``harmonization.py``@34b9bbc)."""
        if tuple(x.shape[-2:]) == tuple(shape):
            return x
        if self.config.resampling == "torch-bicubic":
            return resize(x, shape).clamp(-1, 1)
        return imresize_to_shape(x, shape)

    def inject(
        self, image: torch.Tensor, scale: int, shapes: list[tuple[int, int]] | None = None
    ) -> torch.Tensor:
        """An image at the finest size brought to scale ``scale`` through the scale below it, so
        only its coarse structure survives (paper sec. 4.2-4.4). Under ``reference``: resized by
        ``scale_factor^(N - scale + 1)``, cropped, enlarged by ``1 / scale_factor``, cropped
        (tamarott/SinGAN ``paint2image.py``, ``harmonization.py``@34b9bbc)."""
        shapes = shapes or self.shapes()
        mode = self.config.resampling
        if mode == "reference":
            steps = self.num_scales - scale
            down = imresize(image, math.pow(self.config.scale_factor, steps), shapes[scale - 1])
            return imresize(down, 1 / self.config.scale_factor, shapes[scale])
        if mode == "reference-shape":
            return imresize_to_shape(imresize_to_shape(image, shapes[scale - 1]), shapes[scale])
        return resize(resize(image, shapes[scale - 1]), shapes[scale])

    def shapes(self, scale_v: float = 1.0, scale_h: float = 1.0) -> list[tuple[int, int]]:
        """Per-scale (H, W), stretched by ``scale_v`` / ``scale_h`` for retargeting (sec. 4)."""
        return [
            (max(1, round(h * scale_v)), max(1, round(w * scale_h))) for h, w in self.config.shapes
        ]

    def noise_shape(
        self,
        shape: tuple[int, int] | list[int],
        border: bool,
    ) -> tuple[int, int]:
        """The size of a noise map for an image of ``shape``: with ``border``, enlarged by the
        generators' zero padding on every side (the reference's ``nzx = H + (ker - 1) *
        num_layer`` in mode 'animation_train')."""
        pad = self.config.scale(0).padding if border else 0
        return int(shape[0]) + 2 * pad, int(shape[1]) + 2 * pad

    def sample_noise(
        self,
        k: int,
        shape: tuple[int, int],
        n: int = 1,
        generator: torch.Generator | None = None,
        border: bool = False,
    ) -> torch.Tensor:
        """Scale k's noise: one grey channel at the coarsest scale, as in the reference;
        ``border``: covering the padded size (:meth:`noise_shape`)."""
        c = self.config.image_channels
        device = self.noise_amp.device
        shape = self.noise_shape(shape, border)
        if k == 0:
            z = torch.randn(n, 1, *shape, device=device, generator=generator)
            return z.expand(n, c, *shape)
        return torch.randn(n, c, *shape, device=device, generator=generator)

    def run(
        self,
        prev: torch.Tensor,
        noise: list[torch.Tensor | None],
        first: int,
        last: int | None = None,
        shapes: list[tuple[int, int]] | None = None,
    ) -> torch.Tensor:
        """Apply scales ``first..last`` starting from image ``prev`` (at scale ``first``'s size).

        ``noise[k]`` is scale k's noise (None: zero), at the image's size or covering the
        padded size (:meth:`noise_shape`). Between scales the image is enlarged to the
        next scale's shape by :meth:`upscale`.
        """
        last = self.num_scales - 1 if last is None else last
        shapes = shapes or self.shapes()
        x = prev
        for k in range(first, last + 1):
            x = self.upscale(x, shapes[k])
            z = noise[k]
            if z is None:
                noisy = x
            elif z.shape[-1] == x.shape[-1]:
                noisy = self.noise_amp[k] * z + x
            else:  # noise over the padded border (:meth:`noise_shape`)
                noisy = self.noise_amp[k] * z + F.pad(x, [self.generators[k].pad] * 4)
            x = self.generators[k](noisy, x)
        return x

    def reconstruct(self, last: int | None = None) -> torch.Tensor:
        """G's output from z* (and zero noise above): the image itself once trained (sec. 2.2)."""
        noise: list[torch.Tensor | None] = [self.z_rec] + [None] * (self.num_scales - 1)
        return self.run(torch.zeros_like(self.reals[0]), noise, 0, last)

    def noise_maps(
        self,
        n: int = 1,
        start_scale: int = 0,
        shapes: list[tuple[int, int]] | None = None,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor | None]:
        """Every scale's noise for ``n`` samples, drawn coarse to fine from ``generator``: z*
        below ``start_scale`` at the coarsest scale, None (zero) at the others below it."""
        shapes = shapes or self.shapes()
        noise: list[torch.Tensor | None] = []
        for k in range(self.num_scales):
            if k < start_scale:
                z_star = resize(self.z_rec, self.noise_shape(shapes[0], self.config.border_noise))
                noise.append(z_star.expand(n, -1, -1, -1) if k == 0 else None)
            else:
                noise.append(self.sample_noise(k, shapes[k], n, generator))
        return noise

    def forward(
        self,
        n: int = 1,
        start_scale: int = 0,
        scale_v: float = 1.0,
        scale_h: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``n`` random samples; scales below ``start_scale`` use z* (the reference's
        ``gen_start_scale``), so their layout is the training image's."""
        shapes = self.shapes(scale_v, scale_h)
        noise = self.noise_maps(n, start_scale, shapes, generator)
        c = self.config.image_channels
        prev = torch.zeros(n, c, *shapes[0], device=self.noise_amp.device)
        return self.run(prev, noise, 0, shapes=shapes)

    @torch.no_grad()
    def animate(
        self,
        frames: int,
        generator: torch.Generator | None = None,
        alpha: float = 0.1,
        beta: float = 0.9,
        start_scale: int = 2,
        batch: int = 10,
    ) -> torch.Tensor:
        """``frames`` images (T x C x H x W) of a random walk in noise space around z* (sec. 4,
        "animation"; reference ``generate_gif``).

        At every scale from ``start_scale`` on (clipped to the finest), z_t = alpha z* +
        (1 - alpha)(z_{t-1} + d_t) with the momentum step d_t = beta (z_{t-1} - z_{t-2}) +
        (1 - beta) eps_t; ``alpha`` pulls the walk back to the image, ``beta`` smooths it.
        As in ``generate_gif`` (tamarott/SinGAN ``SinGAN/manipulate.py``@1d79f8a), the walk
        covers every scale's padded size, ``Z_opt``'s (:meth:`noise_shape`): the noise reaches
        into the generators' zero-padded border, for every model (z* of a model trained without
        ``border_noise`` has a zero border there, as the reference's ``Z_opt`` has).
        This is the optional ``animate`` of :mod:`gankit.runtime.protocol` (the web app's
        Animate tab); like :meth:`forward` it returns the raw output, which callers clamp.
        """
        start_scale = min(start_scale, self.num_scales - 1)
        shapes = self.shapes()
        pad = self.config.scale(0).padding
        walks: list[torch.Tensor | None] = []
        for k in range(self.num_scales):
            if k == 0:
                z_opt = self.z_rec if self.config.border_noise else F.pad(self.z_rec, [pad] * 4)
            else:
                z_opt = torch.zeros_like(self.sample_noise(k, shapes[k], border=True))
            if k < start_scale:
                walks.append(None if k else z_opt.expand(frames, -1, -1, -1))
                continue
            prev2 = z_opt
            prev1 = 0.95 * z_opt + 0.05 * self.sample_noise(k, shapes[k], 1, generator, True)
            steps = []
            for _ in range(frames):
                eps = self.sample_noise(k, shapes[k], 1, generator, True)
                diff = beta * (prev1 - prev2) + (1 - beta) * eps
                cur = alpha * z_opt + (1 - alpha) * (prev1 + diff)
                prev2, prev1 = prev1, cur
                steps.append(cur)
            walks.append(torch.cat(steps))
        out = []
        for i in range(0, frames, batch):
            noise = [None if w is None else w[i : i + batch] for w in walks]
            m = min(batch, frames - i)
            prev = torch.zeros(
                m, self.config.image_channels, *shapes[0], device=self.noise_amp.device
            )
            out.append(self.run(prev, noise, 0))
        return torch.cat(out)  # unclamped, so callers' output checks see NaN/inf

    # -- ONNX export (gankit.runtime.protocol): the noise maps are the graph's inputs ----------
    @property
    def onnx_default_size(self) -> tuple[int, int]:
        """Export traces the training size unless told otherwise."""
        h, w = self.config.shapes[-1]
        return int(h), int(w)

    @property
    def onnx_input_names(self) -> list[str]:
        return [f"noise_{k}" for k in range(self.num_scales)]

    onnx_output_names = ("image",)

    @property
    def onnx_dynamic_axes(self) -> dict[str, dict[int, str]]:
        """Batch and every scale's height and width are free (``--dynamic``): the noise shapes
        set the output size, so one file serves every retargeted aspect (sec. 4, fig. 7)."""
        axes = {
            name: {0: "batch", 2: f"height_{k}", 3: f"width_{k}"}
            for k, name in enumerate(self.onnx_input_names)
        }
        axes["image"] = {0: "batch", 2: "height", 3: "width"}
        return axes

    def onnx_module(self, truncation: float = 1.0) -> nn.Module:
        """The pyramid as a function of its noise maps, sigma_k baked in (SinGAN has no
        truncation trick, so only ``truncation=1`` is accepted)."""
        if truncation != 1.0:
            raise ConfigError(f"a SinGAN pyramid has no truncation; got {truncation}")
        return NoiseToImage(self)

    def onnx_example_inputs(self, height: int, width: int) -> tuple[torch.Tensor, ...]:
        """One noise map per scale for a ``height`` x ``width`` output: every scale stretched by
        height / H_N and width / W_N as in retargeting (:meth:`shapes`)."""
        fh, fw = self.onnx_default_size
        c = self.config.image_channels
        return tuple(torch.randn(1, c, h, w) for h, w in self.shapes(height / fh, width / fw))


class NoiseToImage(nn.Module):
    """``(noise_0, ..., noise_{K-1}) -> image``: a pyramid's sample as a pure function of its
    per-scale noise maps (each ``[N, C, H_k, W_k]``; zeros where a scale takes no noise), which
    is what ONNX export traces. Each scale's size is read from its noise map."""

    def __init__(self, pyramid: SinGANPyramid) -> None:
        super().__init__()
        self.pyramid = pyramid

    def forward(self, *noise: torch.Tensor) -> torch.Tensor:
        shapes = [z.shape[-2:] for z in noise]
        return self.pyramid.run(torch.zeros_like(noise[0]), list(noise), 0, shapes=shapes)
