"""Progressive growing, the network side (Karras et al. 2018, "Progressive Growing of GANs").

Shared by the Progressive GAN and StyleGAN1 (whose NVlabs code grows with the same
``structure='linear'`` fade, Karras et al. 2019 app. C), so neither family imports the other:

- :class:`Growable`: the ``level`` (0 = 4x4) / ``alpha`` buffers a growing network runs at, so a
  saved network generates at the phase it was saved in;
- :func:`fade_in`: sec. 2 / fig. 2's blend of the previous resolution's output, up-sampled
  (nearest, NVlabs ``upscale2d``), with the new top block's: ``lerp(old, new, alpha)``;
- :class:`ProgressiveDiscriminator`: PGGAN's D (Table 2), which is also StyleGAN1's ``D_basic``
  once a [1, 2, 1] blur precedes each down-sampling conv (StyleGAN1 sec. 2, "bilinear" resampling).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gankit.nn.equalized import EqualConv2d, EqualLinear
from gankit.nn.minibatch_std import MinibatchStdDev
from gankit.nn.upfirdn2d import Blur

SQRT2 = math.sqrt(2.0)


def leaky_relu(x: torch.Tensor) -> torch.Tensor:
    """PGGAN's activation (slope 0.2; the He gain sqrt(2) lives in the equalised weights)."""
    return F.leaky_relu(x, 0.2)


def upsample2x(x: torch.Tensor) -> torch.Tensor:
    """Nearest-neighbour 2x up-sampling (NVlabs ``upscale2d``)."""
    return F.interpolate(x, scale_factor=2.0, mode="nearest")


def fade_in(old: torch.Tensor, new: torch.Tensor, alpha: float) -> torch.Tensor:
    """``lerp(upsample2x(old), new, alpha)``: the new resolution's image fading in (sec. 2, fig.
    2b); at alpha 0 it is exactly the previous resolution's image, nearest-up-sampled."""
    return new if alpha >= 1.0 else torch.lerp(upsample2x(old), new, alpha)


class Growable(nn.Module):
    """The ``level`` / ``alpha`` buffers of a growing network and their checks.

    Subclasses call :meth:`_init_phase` in their constructor and :meth:`_phase` in ``forward``;
    at level 0 (4x4) there is nothing to fade, so alpha reads as 1 there.
    """

    def _init_phase(self, max_level: int) -> None:
        self.max_level = max_level
        self.register_buffer("level", torch.tensor(max_level, dtype=torch.int64))
        self.register_buffer("alpha", torch.tensor(1.0))

    def set_phase(self, level: int, alpha: float) -> None:
        """Train or generate at resolution 4 * 2**level, fading in with weight ``alpha``."""
        if not 0 <= level <= self.max_level:
            raise ValueError(f"level must be in [0, {self.max_level}], got {level}")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.level.fill_(level)
        self.alpha.fill_(alpha)

    def _phase(self, level: int | None, alpha: float | None) -> tuple[int, float]:
        level = int(self.level) if level is None else level
        alpha = float(self.alpha) if alpha is None else alpha
        return level, (1.0 if level == 0 else alpha)


class DBlock(nn.Module):
    """Two 3x3 convs with leaky ReLU and a 2x2 average pooling (PGGAN Table 2).

    With ``blur`` (StyleGAN1's ``D_basic``) the second conv is preceded by the low-pass filter and
    pooled before its activation, as NVlabs' ``act(conv2d_downscale2d(blur(x)))``; without it the
    order is PGGAN's (and pytorch_GAN_zoo's): activation, then pooling.
    """

    def __init__(self, cin: int, cout: int, blur: Sequence[float] | None = None) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(cin, cin, 3, padding=1, gain=SQRT2)
        self.conv2 = EqualConv2d(cin, cout, 3, padding=1, gain=SQRT2)
        self.blur = Blur(blur, pad=(1, 1)) if blur is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = leaky_relu(self.conv1(x))
        if self.blur is None:
            return F.avg_pool2d(leaky_relu(self.conv2(x)), 2)
        return leaky_relu(F.avg_pool2d(self.conv2(self.blur(x)), 2))


class ProgressiveDiscriminator(Growable):
    """FromRGB at every resolution, one :class:`DBlock` per doubling, then the 4x4 head:
    minibatch stddev (sec. 3), a 3x3 conv and two dense layers (Table 2).

    ``widths`` lists the channels at 4x4, 8x8, ... up to the full resolution. During a fade-in
    the image, box-downsampled, also enters through the previous resolution's FromRGB, and the
    two paths are blended after the new block (sec. 2, fig. 2).
    """

    def __init__(
        self,
        widths: Sequence[int],
        channels: int = 3,
        mbstd_group: int = 4,
        blur: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        c0 = widths[0]
        self.from_rgb = nn.ModuleList(EqualConv2d(channels, w, 1, gain=SQRT2) for w in widths)
        self.blocks = nn.ModuleList(
            DBlock(widths[i], widths[i - 1], blur) for i in range(1, len(widths))
        )
        self.mbstd = MinibatchStdDev(mbstd_group, 1)
        self.conv = EqualConv2d(c0 + 1, c0, 3, padding=1, gain=SQRT2)
        self.dense = EqualLinear(c0 * 16, c0, gain=SQRT2)
        self.out = EqualLinear(c0, 1, gain=1.0)
        self._init_phase(len(widths) - 1)

    def forward(
        self, img: torch.Tensor, level: int | None = None, alpha: float | None = None
    ) -> torch.Tensor:
        level, alpha = self._phase(level, alpha)
        x = leaky_relu(self.from_rgb[level](img))
        for i in range(level, 0, -1):
            x = self.blocks[i - 1](x)
            if i == level and alpha < 1.0:
                old = leaky_relu(self.from_rgb[level - 1](F.avg_pool2d(img, 2)))
                x = torch.lerp(old, x, alpha)
        x = leaky_relu(self.conv(self.mbstd(x)))
        x = leaky_relu(self.dense(x.flatten(1)))
        return self.out(x).reshape(-1)
