"""Convolutions aligned as TensorFlow's ``padding='SAME'`` aligns them.

For a stride-s convolution TF pads ``max((ceil(n / s) - 1) * s + k - n, 0)`` pixels in all,
half of them (rounded down) before and the rest after; PyTorch's ``padding`` is symmetric, so a
5x5 stride-2 layer ported with ``padding=2`` reads a window one pixel up and left of TF's.
``tf.nn.conv2d_transpose(..., padding='SAME')`` is the adjoint of that convolution: the full
transposed convolution with the same number of pixels cut from its start. Weights keep
PyTorch's layouts, so state dicts are those of ``nn.Conv2d`` / ``nn.ConvTranspose2d``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after): TF's 'SAME' padding of one axis of length ``size``."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` padded as TF's 'SAME' (``padding`` must be left at 0)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
        left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
        return super().forward(F.pad(x, (left, right, top, bottom)))


class ConvTranspose2dSame(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` giving ``stride`` times the input size, cut as TF's 'SAME'."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = super().forward(x)
        h, w = x.shape[-2] * self.stride[0], x.shape[-1] * self.stride[1]
        top = same_padding(h, self.kernel_size[0], self.stride[0])[0]
        left = same_padding(w, self.kernel_size[1], self.stride[1])[0]
        return full[..., top : top + h, left : left + w]
