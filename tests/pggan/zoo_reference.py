"""pytorch_GAN_zoo's PGAN generator, re-implemented for the importer's equivalence tests.

Behaviour and state-dict keys of ``models/networks/progressive_conv_net.py`` (``GNet``) and
``custom_layers.py``: an equalised layer computes ``(W x + b) * sqrt(2 / fan_in)`` and saves its
tensors without the inner ``module.`` level; ``alpha`` weighs the *old* branch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ZooEqualized(nn.Module):
    def __init__(self, cin: int, cout: int, kernel: int | None, padding: int = 0) -> None:
        super().__init__()
        shape = (cout, cin) if kernel is None else (cout, cin, kernel, kernel)
        self.weight = nn.Parameter(torch.randn(shape))
        self.bias = nn.Parameter(torch.randn(cout) * 0.1)
        self.padding = padding
        self.c = math.sqrt(2.0 / (cin * (kernel or 1) ** 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.dim() == 2:
            return F.linear(x, self.weight, self.bias) * self.c
        return F.conv2d(x, self.weight, self.bias, padding=self.padding) * self.c


def _pn(x: torch.Tensor) -> torch.Tensor:
    return x * ((x**2).mean(dim=1, keepdim=True) + 1e-8).rsqrt()


def _up(x: torch.Tensor) -> torch.Tensor:
    s = x.shape
    return x.view(-1, s[1], s[2], 1, s[3], 1).expand(-1, s[1], s[2], 2, s[3], 2) \
        .contiguous().view(-1, s[1], s[2] * 2, s[3] * 2)


class ZooGNet(nn.Module):
    def __init__(self, z_dim: int, depths: list[int], out: int = 3) -> None:
        super().__init__()
        self.formatLayer = ZooEqualized(z_dim, 16 * depths[0], None)
        self.groupScale0 = nn.ModuleList([ZooEqualized(depths[0], depths[0], 3, 1)])
        self.scaleLayers = nn.ModuleList()
        self.toRGBLayers = nn.ModuleList([ZooEqualized(depths[0], out, 1)])
        for prev, new in zip(depths, depths[1:], strict=False):
            self.scaleLayers.append(nn.ModuleList([ZooEqualized(prev, new, 3, 1),
                                                   ZooEqualized(new, new, 3, 1)]))
            self.toRGBLayers.append(ZooEqualized(new, out, 1))
        self.alpha = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = nn.LeakyReLU(0.2)
        x = _pn(x).view(x.shape[0], -1)
        x = _pn(act(self.formatLayer(x)).view(x.shape[0], -1, 4, 4))
        for conv in self.groupScale0:
            x = _pn(act(conv(x)))
        if self.alpha > 0 and len(self.scaleLayers) == 1:
            y = _up(self.toRGBLayers[-2](x))
        for scale, group in enumerate(self.scaleLayers):
            x = _up(x)
            for conv in group:
                x = _pn(act(conv(x)))
            if self.alpha > 0 and scale == len(self.scaleLayers) - 2:
                y = _up(self.toRGBLayers[-2](x))
        x = self.toRGBLayers[-1](x)
        if self.alpha > 0:
            x = self.alpha * y + (1.0 - self.alpha) * x
        return x
