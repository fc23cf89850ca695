"""Convolution, normalisation and LeakyReLU in one block: the "Conv-Block" of AnimeGAN (sec. 3.1).

Built as an ``nn.Sequential`` of (explicit pad, conv, norm, activation) so that its state-dict keys
(``1.weight`` for the conv, ``2.weight``/``2.bias`` for the norm) are those of the public PyTorch
AnimeGANv2 port, whose published weights then load without renaming.
"""

from __future__ import annotations

from torch import nn

from gankit.nn.image_norm import make_norm

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
            nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=0, groups=groups,
                      bias=bias),
            make_norm(norm, out_ch),
            nn.LeakyReLU(0.2, inplace=True),
        )
