"""Bias + leaky ReLU + gain (+ clamp): the activation of every StyleGAN layer.

StyleGAN2 (Karras et al. 2020, appendix B) adds a per-channel bias, applies a leaky ReLU with
slope 0.2 and multiplies by sqrt(2) so that the activation keeps unit variance; NVlabs' released
networks also clamp activations to +-256 (``conv_clamp``) to keep fp16 layers finite.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LRELU_GAIN = math.sqrt(2.0)


def _bias_shape(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return bias.view(1, -1, *([1] * (x.dim() - 2)))


def bias_act_ref(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    negative_slope: float = 0.2,
    gain: float = LRELU_GAIN,
    clamp: float | None = None,
) -> torch.Tensor:
    """Readable reference: add bias on dim 1, leaky ReLU, scale, clamp — one step at a time."""
    if bias is not None:
        x = x + _bias_shape(x, bias)
    x = torch.where(x >= 0, x, x * negative_slope)
    x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def fused_leaky_relu(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    negative_slope: float = 0.2,
    gain: float = LRELU_GAIN,
    clamp: float | None = None,
) -> torch.Tensor:
    """Same result as :func:`bias_act_ref` with fewer temporaries (one add, one activation)."""
    if bias is not None:
        x = x + _bias_shape(x, bias)
    x = F.leaky_relu(x, negative_slope) * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


class FusedLeakyReLU(nn.Module):
    """A learned per-channel bias followed by the scaled leaky ReLU (parameter name ``bias``)."""

    def __init__(
        self,
        channels: int,
        bias: bool = True,
        negative_slope: float = 0.2,
        gain: float = LRELU_GAIN,
        clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None
        self.negative_slope, self.gain, self.clamp = negative_slope, gain, clamp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.gain, self.clamp)
