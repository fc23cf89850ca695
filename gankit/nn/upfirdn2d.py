"""upfirdn2d: upsample (zero insertion), FIR filter, downsample — StyleGAN2's resampling.

StyleGAN2 (Karras et al. 2020, sec. 2 and app. B) resamples with the separable binomial filter
[1, 3, 3, 1] instead of nearest/bilinear to reduce aliasing. ``upfirdn2d_ref`` follows the
definition literally (insert zeros, pad, convolve, keep every ``down``-th pixel); ``upfirdn2d``
gives the same numbers with a transposed convolution for ``up > 1`` and a strided convolution for
``down > 1``, so zeros are never multiplied and dropped pixels never computed. Filters are
*convolved* (flipped), as in NVlabs' and rosinality's ops; padding is ``(x0, x1, y0, y1)`` or
``(p0, p1)`` for both axes, and negative padding crops. A 1-D kernel is separable: it filters the
rows, then the columns (NVlabs' ``setup_filter`` keeps filters of 8 taps or more that way).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def make_kernel(k: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """A 2-D FIR filter normalised to sum 1 (a 1-D list gives its outer product)."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.dim() == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def _pads(pad: Sequence[int]) -> tuple[int, int, int, int]:
    if len(pad) == 2:
        return pad[0], pad[1], pad[0], pad[1]
    if len(pad) == 4:
        return tuple(pad)  # type: ignore[return-value]
    raise ValueError(f"pad must have 2 or 4 entries, got {pad!r}")


def upfirdn2d_ref(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """Reference implementation, one operation per step of the definition."""
    n, c, h, w = x.shape
    px0, px1, py0, py1 = _pads(pad)
    kh, kw = kernel.shape
    out = x.reshape(n * c, 1, h, 1, w, 1)
    out = F.pad(out, [0, up - 1, 0, 0, 0, up - 1])  # zero insertion
    out = out.reshape(n * c, 1, h * up, w * up)
    out = F.pad(out, [px0, px1, py0, py1])  # negative values crop
    weight = torch.flip(kernel, [0, 1]).reshape(1, 1, kh, kw).to(out)
    out = F.conv2d(out, weight)
    out = out[:, :, ::down, ::down]
    return out.reshape(n, c, out.shape[2], out.shape[3])


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """Same result as :func:`upfirdn2d_ref` with depthwise (transposed/strided) convolutions."""
    if kernel.dim() == 1:
        return _separable(x, kernel, up, down, _pads(pad))
    # A Python int, not a traced size: the TorchScript ONNX exporter must see the depthwise
    # kernel's shape, and it loses the channel count of a padded input once the batch is dynamic.
    c = int(x.shape[1])
    px0, px1, py0, py1 = _pads(pad)
    kh, kw = kernel.shape
    kernel = kernel.to(x)
    if up > 1:
        if down != 1:
            return upfirdn2d_ref(x, kernel, up, down, (px0, px1, py0, py1))
        # conv_transpose2d places kernel tap j of input pixel i at up*i + j; upfirdn2d's output
        # pixel o is that full result ((len - 1) up + k long) shifted by (k - 1 - pad0): crop (or
        # pad) both ends to match. The amounts do not depend on the input size, so an exported
        # graph keeps static pads (and shapes ONNX can infer).
        weight = kernel.reshape(1, 1, kh, kw).expand(c, 1, kh, kw)
        full = F.conv_transpose2d(x, weight, stride=up, groups=c)
        return F.pad(full, [px0 + 1 - kw, px1 + up - kw, py0 + 1 - kh, py1 + up - kh])
    weight = torch.flip(kernel, [0, 1]).reshape(1, 1, kh, kw).expand(c, 1, kh, kw)
    return F.conv2d(F.pad(x, [px0, px1, py0, py1]), weight, stride=down, groups=c)


def _separable(
    x: torch.Tensor, kernel: torch.Tensor, up: int, down: int, pad: tuple[int, int, int, int]
) -> torch.Tensor:
    """A 1-D kernel along x, then along y: the 2-D filter ``outer(kernel, kernel)`` in two
    passes (as NVlabs' ``_upfirdn2d_ref`` applies a separable filter)."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape(n, c, h * up, w * up)
    x = F.pad(x, list(pad))
    k = torch.flip(kernel, [0]).to(x)
    x = F.conv2d(x, k.reshape(1, 1, 1, -1).expand(c, 1, 1, -1), stride=(1, down), groups=c)
    return F.conv2d(x, k.reshape(1, 1, -1, 1).expand(c, 1, -1, 1), stride=(down, 1), groups=c)


class Blur(nn.Module):
    """FIR filter with fixed padding (buffer ``kernel``), scaled by ``upsample_factor**2``."""

    def __init__(self, kernel: Sequence[float], pad: Sequence[int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(kernel) * upsample_factor**2)
        self.pad = tuple(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x up-sampling by zero insertion and the FIR filter (gain 4 keeps the mean)."""

    def __init__(self, kernel: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel) * factor**2)
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class Downsample(nn.Module):
    """2x down-sampling: FIR filter then keep every other pixel."""

    def __init__(self, kernel: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        self.register_buffer("kernel", make_kernel(kernel))
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, down=self.factor, pad=self.pad)
