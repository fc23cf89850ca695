"""Inverted residual block (MobileNetV2, Sandler et al. 2018, sec. 3.3), AnimeGAN's IRB.

1x1 expansion (norm, LeakyReLU) -> 3x3 depthwise (norm, LeakyReLU) -> 1x1 linear projection
(norm), plus the input when the shapes agree. The ``layers`` Sequential mirrors the key names of
the public PyTorch AnimeGANv2 port (``layers.0`` expand, ``layers.1`` depthwise, ``layers.2``
projection conv, ``layers.3`` norm).
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.nn.conv_norm_act import ConvNormLReLU
from gankit.nn.image_norm import make_norm


class InvertedResBlock(nn.Module):
    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        expansion: float = 2.0,
        dw_bias: bool = True,
        pad_mode: str = "reflect",
        norm: str = "layer",
    ) -> None:
        super().__init__()
        self.use_residual = in_ch == out_ch
        mid = int(round(in_ch * expansion))
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvNormLReLU(in_ch, mid, 1, 1, 0, norm=norm))
        layers += [
            ConvNormLReLU(mid, mid, 3, 1, 1, pad_mode=pad_mode, groups=mid, bias=dw_bias,
                          norm=norm),
            nn.Conv2d(mid, out_ch, 1, bias=False),
            make_norm(norm, out_ch),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(x)
        return x + out if self.use_residual else out
