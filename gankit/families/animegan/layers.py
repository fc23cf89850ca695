"""The layers only AnimeGAN's generators use (AnimeGAN paper sec. 3.1), keyed as the public
PyTorch AnimeGANv2 port keys them, so its published weights load without renaming.

Normalisation: the generators normalise each feature map over the whole image (v2: layer norm
over (C, H, W), i.e. ``GroupNorm(1, C)``, as the v2 PyTorch port; v1: instance norm per
channel). Run naively on tiles, each tile gets its own mean and
variance and the colours drift tile by tile; :func:`frozen_norm_stats` records the statistics of
every such layer on a whole-image pass and replays them on the tiles.

Blocks: :class:`ConvNormLReLU` is the paper's "Conv-Block", an ``nn.Sequential`` of (explicit
pad, conv, norm, activation) (keys ``1.weight`` for the conv, ``2.weight``/``2.bias`` for the
norm). :class:`DSConv` is the depthwise-separable conv (fig. 2; MobileNet's block): a 3x3
depthwise conv then a 1x1 pointwise conv, one norm and LeakyReLU after both, as TF's
``separable_conv2d`` with ``normalizer_fn``/``activation_fn`` in the original AnimeGAN; stride 1
reflect-pads by 1, stride 2 reflect-pads right and bottom by 1, as the TF code does.
:class:`InvertedResBlock` is MobileNetV2's inverted residual (Sandler et al. 2018, sec. 3.3),
AnimeGAN's IRB: 1x1 expansion (norm, LeakyReLU) -> 3x3 depthwise (norm, LeakyReLU) -> 1x1 linear
projection (norm), plus the input when the shapes agree (``layers.0`` expand, ``layers.1``
depthwise, ``layers.2`` projection conv, ``layers.3`` norm).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("layer", "layer_tf", "channel", "instance", "instance_affine", "instance_tf")


class ChannelLayerNorm(nn.LayerNorm):
    """Layer norm over the channels of each pixel of an NCHW map (ConvNeXt's ``LayerNorm2d``).

    Per-pixel statistics make it tile-consistent by construction.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


def make_norm(kind: str, channels: int) -> nn.Module:
    """``layer``: GroupNorm(1, C) (per-channel affine), eps 1e-5 as the PyTorch v2 port;
    ``layer_tf``: the same with eps 1e-12, ``tf.contrib.layers.layer_norm``'s, which the TF
    originals train with; ``channel``: per-pixel layer norm;
    ``instance``: InstanceNorm2d without affine parameters (TF ``instance_norm`` as ported);
    ``instance_affine``: InstanceNorm2d with per-channel scale and shift, eps 1e-5 (the TF
    ``tools/ops.instance_norm`` of AnimeGAN v1); ``instance_tf``: the same with eps 1e-6,
    ``tf.contrib.layers.instance_norm``'s default, as v1's separable convs normalise."""
    if kind == "layer":
        return nn.GroupNorm(1, channels, affine=True)
    if kind == "layer_tf":
        return nn.GroupNorm(1, channels, eps=1e-12, affine=True)
    if kind == "channel":
        return ChannelLayerNorm(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels)
    if kind == "instance_affine":
        return nn.InstanceNorm2d(channels, eps=1e-5, affine=True)
    if kind == "instance_tf":
        return nn.InstanceNorm2d(channels, eps=1e-6, affine=True)
    raise ValueError(f"unknown norm {kind!r}; choose from {', '.join(NORMS)}")


def _stat_dims(module: nn.Module) -> tuple[int, ...] | None:
    if isinstance(module, nn.GroupNorm) and module.num_groups == 1:
        return (1, 2, 3)
    if isinstance(module, nn.InstanceNorm2d) and not module.track_running_stats:
        return (2, 3)
    return None


def _normalise(
    module: nn.Module, x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor
) -> torch.Tensor:
    y = (x - mean.to(x.dtype)) * torch.rsqrt(var.to(x.dtype) + module.eps)
    if getattr(module, "weight", None) is not None:
        shape = (1, -1, 1, 1)
        y = y * module.weight.view(shape).to(x.dtype) + module.bias.view(shape).to(x.dtype)
    return y


@contextlib.contextmanager
def frozen_norm_stats(
    model: nn.Module, mode: str, store: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> Iterator[None]:
    """Inside the block, the whole-image norms of ``model`` either record (``mode="record"``) the
    statistics of the first image of the batch into ``store`` (keyed by module name) or replay
    them (``mode="use"``), broadcast over the batch so that all tiles of one image share them.
    """
    if mode not in ("record", "use"):
        raise ValueError(f"mode must be 'record' or 'use', got {mode!r}")
    patched: list[nn.Module] = []

    def make_forward(name: str, module: nn.Module, dims: tuple[int, ...]):
        def forward(x: torch.Tensor) -> torch.Tensor:
            if mode == "record":
                var, mean = torch.var_mean(x.float(), dim=dims, keepdim=True, correction=0)
                store[name] = (mean[:1], var[:1])
            else:
                mean, var = store[name]
            return _normalise(module, x, mean, var)

        return forward

    try:
        for name, module in model.named_modules():
            dims = _stat_dims(module)
            if dims is not None:
                module.forward = make_forward(name, module, dims)
                patched.append(module)
        yield
    finally:
        for module in patched:
            del module.forward


PADDINGS = {"reflect": nn.ReflectionPad2d, "zero": nn.ZeroPad2d, "replicate": nn.ReplicationPad2d}


def make_pad(mode: str, padding: int | tuple[int, int, int, int]) -> nn.Module:
    """An explicit padding layer; ``padding`` is one int or (left, right, top, bottom)."""
    if mode not in PADDINGS:
        raise ValueError(f"unknown padding {mode!r}; choose from {', '.join(PADDINGS)}")
    return PADDINGS[mode](padding)


class ConvNormLReLU(nn.Sequential):
    """pad -> conv (no bias unless asked) -> norm -> LeakyReLU(0.2)."""

    def __init__(
        self,
        in_ch: int,
        out_ch: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int | tuple[int, int, int, int] = 1,
        pad_mode: str = "reflect",
        groups: int = 1,
        bias: bool = False,
        norm: str = "layer",
    ) -> None:
        super().__init__(
            make_pad(pad_mode, padding),
            nn.Conv2d(
                in_ch, out_ch, kernel_size, stride=stride, padding=0, groups=groups, bias=bias
            ),
            make_norm(norm, out_ch),
            nn.LeakyReLU(0.2, inplace=True),
        )


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
            ConvNormLReLU(
                mid, mid, 3, 1, 1, pad_mode=pad_mode, groups=mid, bias=dw_bias, norm=norm
            ),
            nn.Conv2d(mid, out_ch, 1, bias=False),
            make_norm(norm, out_ch),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(x)
        return x + out if self.use_residual else out
