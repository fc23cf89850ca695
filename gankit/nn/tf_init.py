"""TensorFlow 1.x weight initialisers applied to PyTorch convolutions, with TF's fan arithmetic.

TF derives fans from its kernel layout ``[kh, kw, in, out]``. A depthwise kernel there is
``[kh, kw, C, multiplier]``, so its fan-in is ``kh * kw * C`` where PyTorch's ``(C, 1, kh, kw)``
layout would give ``kh * kw``; :func:`tf_fans` reproduces TF's numbers
(``tf.contrib.layers.variance_scaling_initializer``, TF 1.x ``initializers.py``).
"""

from __future__ import annotations

import math

from torch import nn


def tf_fans(conv: nn.Conv2d) -> tuple[int, int]:
    """(fan_in, fan_out) as TF computes them for the kernel this conv would have in TF."""
    kh, kw = conv.kernel_size
    if conv.groups > 1 and conv.groups == conv.in_channels:
        return kh * kw * conv.in_channels, kh * kw * (conv.out_channels // conv.in_channels)
    return kh * kw * conv.in_channels, kh * kw * conv.out_channels


def variance_scaling_(
    conv: nn.Conv2d, factor: float = 2.0, mode: str = "fan_in", uniform: bool = False
) -> None:
    """``tf.contrib.layers.variance_scaling_initializer(factor, mode, uniform)`` on ``conv``.

    The defaults are TF's (He init as a normal truncated at 2 sigma, stddev
    ``sqrt(1.3 * factor / fan_in)``); ``factor=1, mode="fan_avg", uniform=True`` is
    ``xavier_initializer()``, the default of ``tf.contrib.layers.conv2d``. Biases become 0.
    """
    fan_in, fan_out = tf_fans(conv)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[mode]
    if uniform:
        limit = math.sqrt(3.0 * factor / n)
        nn.init.uniform_(conv.weight, -limit, limit)
    else:
        truncated_normal_(conv, math.sqrt(1.3 * factor / n))
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)


def truncated_normal_(conv: nn.Conv2d, stddev: float) -> None:
    """``tf.truncated_normal_initializer(stddev=stddev)``: N(0, stddev) redrawn beyond 2 sigma."""
    nn.init.trunc_normal_(conv.weight, 0.0, stddev, -2.0 * stddev, 2.0 * stddev)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
