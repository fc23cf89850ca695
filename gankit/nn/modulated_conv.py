"""Modulated convolution with weight demodulation (Karras et al. 2020, "StyleGAN2", sec. 2.2).

A style vector ``s`` scales the input channels of the kernel, ``w'_ijk = s_i w_ijk``, and
demodulation rescales each output channel to unit norm, ``w'' = w' / sqrt(sum w'^2 + eps)``
(eq. 1-3), replacing StyleGAN1's AdaIN without its droplet artefacts.

``modulated_conv2d_ref`` is the readable form: scale the activations by ``s``, convolve with the
shared kernel, rescale the outputs. ``modulated_conv2d`` builds one kernel per sample and runs a
single grouped convolution (sec. 2.2, "fused"). Both share the up/down-sampling of NVlabs and
rosinality (transposed convolution then FIR blur; FIR blur then strided convolution), so they
give the same numbers; tests compare them. As NVlabs' ``SynthesisBlock`` does
(``fused_modconv = not training``), :class:`ModulatedConv2d` uses the grouped form for inference
and the activation-scaling form while training, unless told otherwise; :func:`set_fused` tells a
whole network at once (ONNX export asks for the activation-scaling form, see there).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from gankit.nn.equalized import EqualLinear
from gankit.nn.upfirdn2d import Blur


def _demod_coefficients(weight: torch.Tensor, styles: torch.Tensor, eps: float) -> torch.Tensor:
    """``[N, O]`` factors 1/sqrt(sum_{i,k} (s_i w_oik)^2 + eps) (sec. 2.2, eq. 3), summed as
    sum_i s_i^2 (sum_k w_oik^2): the same terms regrouped, so that neither pass builds the
    ``[N, O, I, k, k]`` product NVlabs' ``modulated_conv2d`` squares and sums (StyleGAN2's CPU
    training step at 64 px 1.21x faster in fp32, 1.39x in bf16). Elementwise rather than a
    matmul, which autocast would round to bf16."""
    return torch.rsqrt((styles.square()[:, None, :] * weight.square().sum([2, 3])).sum(2) + eps)


def modulated_conv2d_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    up: bool = False,
    down: bool = False,
    blur: nn.Module | None = None,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Reference path. ``weight`` is ``[O, I, k, k]`` (already scaled), ``styles`` ``[N, I]``.

    Shapes come from indexing, never from reshapes of the batch size, so that an exported graph
    keeps its channel counts static while the batch is free (ONNX shape inference cannot see
    through ``reshape(n, -1, ...)`` with a dynamic ``n``).
    """
    k = weight.shape[-1]
    x = x * styles[:, :, None, None]
    if up:
        out = blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
    elif down:
        out = F.conv2d(blur(x), weight, stride=2)
    else:
        out = F.conv2d(x, weight, padding=k // 2)
    if demodulate:
        out = out * _demod_coefficients(weight, styles, eps)[:, :, None, None]
    return out


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    up: bool = False,
    down: bool = False,
    blur: nn.Module | None = None,
    eps: float = 1e-8,
) -> torch.Tensor:
    """Fused path: per-sample kernels and one grouped convolution over the whole batch."""
    n, c, h, w = x.shape
    o, _, k, _ = weight.shape
    scale = styles.reshape(n, 1, c, 1, 1)
    if demodulate:
        scale = scale * _demod_coefficients(weight, styles, eps).reshape(n, o, 1, 1, 1)
    weight = weight.unsqueeze(0) * scale
    if up:
        weight = weight.transpose(1, 2).reshape(n * c, o, k, k)
        out = F.conv_transpose2d(x.reshape(1, n * c, h, w), weight, stride=2, groups=n)
        return blur(out.reshape(n, o, out.shape[2], out.shape[3]))
    weight = weight.reshape(n * o, c, k, k)
    if down:
        x = blur(x)
        out = F.conv2d(x.reshape(1, n * c, *x.shape[2:]), weight, stride=2, groups=n)
    else:
        out = F.conv2d(x.reshape(1, n * c, h, w), weight, padding=k // 2, groups=n)
    return out.reshape(n, o, out.shape[2], out.shape[3])


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution; parameter names follow rosinality's ``ModulatedConv2d``.

    ``weight`` is ``[1, out, in, k, k]`` stored unscaled (equalised learning rate), the style
    affine is ``modulation`` (bias initialised to 1 so that styles start as identity), and a
    resampling layer owns the ``blur`` filter buffer.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        downsample: bool = False,
        blur_kernel: Sequence[float] = (1, 3, 3, 1),
        fused: bool | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = (
            in_channels,
            out_channels,
            kernel_size,
        )
        self.upsample, self.downsample, self.demodulate, self.fused = (
            upsample,
            downsample,
            demodulate,
            fused,
        )
        factor = 2
        if upsample:
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(
                blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor
            )
        elif downsample:
            p = (len(blur_kernel) - factor) + (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2, p // 2))
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.weight = nn.Parameter(
            torch.randn(1, out_channels, in_channels, kernel_size, kernel_size)
        )
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        fused = not self.training if self.fused is None else self.fused
        op = modulated_conv2d if fused else modulated_conv2d_ref
        return op(
            x,
            self.weight[0] * self.scale,
            self.modulation(style),
            self.demodulate,
            self.upsample,
            self.downsample,
            getattr(self, "blur", None),
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, {self.kernel_size}, "
            f"upsample={self.upsample}, downsample={self.downsample}"
        )


def set_fused(module: nn.Module, fused: bool | None) -> nn.Module:
    """Set the form of every :class:`ModulatedConv2d` in ``module`` (``None``: by train/eval mode).

    ``fused=False`` is what an exported graph needs: the grouped form builds its kernels from the
    batch's styles and reshapes the batch into conv groups, so the traced graph only works at the
    traced batch size; the activation-scaling form (NVlabs ``modulated_conv2d`` with
    ``fused_modconv=False``) convolves with the shared kernel, leaving the batch axis free.
    Returns ``module`` for chaining.
    """
    for m in module.modules():
        if isinstance(m, ModulatedConv2d):
            m.fused = fused
    return module
