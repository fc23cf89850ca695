"""Equalised learning rate layers (Karras et al. 2018, "Progressive Growing of GANs", sec. 4.1).

Weights are stored as N(0, 1) / ``lr_mul`` and multiplied at run time by ``gain * lr_mul /
sqrt(fan_in)``, so that Adam's per-parameter step size acts equally on every layer. ``lr_mul``
is StyleGAN's learning-rate multiplier of the mapping network (Karras et al. 2019, app. C: 0.01);
``gain`` is PGGAN's He-init gain (sqrt(2) before a leaky ReLU, 1 when the activation carries it,
as in StyleGAN2). Parameter names are ``weight`` and ``bias``, as in the published ports.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gankit.nn.bias_act import fused_leaky_relu


class PixelNorm(nn.Module):
    """Normalise each feature vector to unit average square (PGGAN sec. 4.2; StyleGAN's z)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class EqualLinear(nn.Module):
    """Fully connected layer with run-time weight scaling; optional fused bias + leaky ReLU."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: str | None = None,
        gain: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in (None, "lrelu"):
            raise ValueError(f"activation must be None or 'lrelu', got {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.activation = activation
        self.scale = gain * lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation:
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[1]}, {self.weight.shape[0]}, lr_mul={self.lr_mul}"


class EqualConv2d(nn.Module):
    """2-D convolution with run-time weight scaling (square kernel)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        gain: float = 1.0,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = gain / math.sqrt(in_channels * kernel_size**2)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, self.stride, self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, {k}, stride={self.stride}, padding={self.padding}"
