"""Depthwise-separable convolution (DSConv, AnimeGAN paper sec. 3.1, fig. 2; MobileNet's block).

A 3x3 depthwise conv then a 1x1 pointwise conv, one norm and LeakyReLU after both, as TF's
``separable_conv2d`` with ``normalizer_fn``/``activation_fn`` that the original AnimeGAN uses.
Stride 1 reflect-pads by 1; stride 2 reflect-pads right and bottom by 1, as the TF code does.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.nn.conv_norm_act import ConvNormLReLU, make_pad


class DSConv(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, norm: str = "layer") -> None:
        super().__init__()
        padding = 1 if stride == 1 else (0, 1, 0, 1)
        self.depthwise = nn.Sequential(
            make_pad("reflect", padding),
            nn.Conv2d(in_ch, in_ch, 3, stride=stride, groups=in_ch, bias=False),
        )
        self.pointwise = ConvNormLReLU(in_ch, out_ch, 1, 1, 0, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))
