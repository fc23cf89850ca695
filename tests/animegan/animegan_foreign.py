"""Independent, test-only models in the foreign checkpoint layouts the importers read.

They follow the public sources' module structure and parameter names (bryandlee/animegan2-pytorch
``model.py``; ptran1203/pytorch-animeGAN ``models/anime_gan_v2.py`` at aa543f0 and
``models/anime_gan.py`` at 3415a32) so that a state dict they produce is laid out like the
published files; the converters must reproduce their outputs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _lrelu() -> nn.Module:
    return nn.LeakyReLU(0.2)


# --- bryandlee/animegan2-pytorch ---------------------------------------------------------------


def port_cnl(cin, cout, k=3, s=1, pad=1, groups=1, bias=False):
    return nn.Sequential(
        nn.ReflectionPad2d(pad),
        nn.Conv2d(cin, cout, k, s, 0, groups=groups, bias=bias),
        nn.GroupNorm(1, cout),
        _lrelu(),
    )


class PortIRB(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        mid = 2 * cin
        self.res = cin == cout
        self.layers = nn.Sequential(
            port_cnl(cin, mid, 1, pad=0),
            port_cnl(mid, mid, groups=mid, bias=True),
            nn.Conv2d(mid, cout, 1, bias=False),
            nn.GroupNorm(1, cout),
        )

    def forward(self, x):
        y = self.layers(x)
        return x + y if self.res else y


class PortGenerator(nn.Module):
    def __init__(self):
        super().__init__()
        d = (0, 1, 0, 1)
        self.block_a = nn.Sequential(
            port_cnl(3, 32, 7, pad=3), port_cnl(32, 64, s=2, pad=d), port_cnl(64, 64)
        )
        self.block_b = nn.Sequential(port_cnl(64, 128, s=2, pad=d), port_cnl(128, 128))
        self.block_c = nn.Sequential(
            port_cnl(128, 128),
            PortIRB(128, 256),
            PortIRB(256, 256),
            PortIRB(256, 256),
            PortIRB(256, 256),
            port_cnl(256, 128),
        )
        self.block_d = nn.Sequential(port_cnl(128, 128), port_cnl(128, 128))
        self.block_e = nn.Sequential(
            port_cnl(128, 64), port_cnl(64, 64), port_cnl(64, 32, 7, pad=3)
        )
        self.out_layer = nn.Sequential(nn.Conv2d(32, 3, 1, bias=False), nn.Tanh())

    def forward(self, x, align_corners=True):
        out = self.block_a(x)
        half = out.shape[-2:]
        out = self.block_c(self.block_b(out))
        for block, size in ((self.block_d, half), (self.block_e, x.shape[-2:])):
            if align_corners:
                out = F.interpolate(out, size, mode="bilinear", align_corners=True)
            else:
                out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=False)
            out = block(out)
        return self.out_layer(out)


# --- ptran1203/pytorch-animeGAN GeneratorV2 ----------------------------------------------------


class PtranConvBlockV2(nn.Module):
    def __init__(self, cin, cout, k=3, s=1, groups=1, padding=1, bias=False):
        super().__init__()
        self.pad = nn.ReflectionPad2d(padding)
        self.conv = nn.Conv2d(cin, cout, k, s, 0, groups=groups, bias=bias)
        self.ins_norm = nn.GroupNorm(1, cout)
        self.activation = _lrelu()

    def forward(self, x):
        return self.activation(self.ins_norm(self.conv(self.pad(x))))


class PtranIRBV2(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        mid = 2 * cin
        self.conv_block = PtranConvBlockV2(cin, mid, 1, padding=0)
        self.conv_block2 = PtranConvBlockV2(mid, mid, groups=mid, bias=True)
        self.conv = nn.Conv2d(mid, cout, 1, bias=False)
        self.norm = nn.GroupNorm(1, cout)

    def forward(self, x):
        out = self.norm(self.conv(self.conv_block2(self.conv_block(x))))
        return out if out.shape[1] != x.shape[1] else out + x


class PtranGeneratorV2(nn.Module):
    def __init__(self):
        super().__init__()
        cb, d = PtranConvBlockV2, (0, 1, 0, 1)
        self.conv_block1 = nn.Sequential(
            cb(3, 32, 7, padding=3), cb(32, 64, s=2, padding=d), cb(64, 64)
        )
        self.conv_block2 = nn.Sequential(cb(64, 128, s=2, padding=d), cb(128, 128))
        self.res_blocks = nn.Sequential(
            cb(128, 128),
            PtranIRBV2(128, 256),
            PtranIRBV2(256, 256),
            PtranIRBV2(256, 256),
            PtranIRBV2(256, 256),
            cb(256, 128),
        )
        self.conv_block3 = nn.Sequential(cb(128, 128), cb(128, 128))
        self.conv_block4 = nn.Sequential(cb(128, 64), cb(64, 64), cb(64, 32, 7, padding=3))
        self.decode_blocks = nn.Sequential(nn.Conv2d(32, 3, 1), nn.Tanh())

    def forward(self, x):
        out = self.res_blocks(self.conv_block2(self.conv_block1(x)))
        out = self.conv_block3(F.interpolate(out, scale_factor=2, mode="bilinear"))
        out = self.conv_block4(F.interpolate(out, scale_factor=2, mode="bilinear"))
        return self.decode_blocks(out)


# --- ptran1203/pytorch-animeGAN GeneratorV1 ----------------------------------------------------


class PtranConvBlockV1(nn.Module):
    def __init__(self, cin, cout, k=3, s=1, padding="valid"):
        super().__init__()
        self.pad = nn.ReflectionPad2d(1) if (k == 3 and s == 1) else None
        self.conv = nn.Conv2d(cin, cout, k, s, padding=padding, bias=False)
        self.ins_norm = nn.InstanceNorm2d(cout)
        self.activation = _lrelu()

    def forward(self, x):
        if self.pad is not None:
            x = self.pad(x)
        return self.activation(self.ins_norm(self.conv(x)))


class PtranSeparable(nn.Module):
    def __init__(self, cin, cout, s=1):
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, s, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)
        self.ins_norm1, self.ins_norm2 = nn.InstanceNorm2d(cin), nn.InstanceNorm2d(cout)
        self.activation1, self.activation2 = _lrelu(), _lrelu()

    def forward(self, x):
        out = self.activation1(self.ins_norm1(self.depthwise(x)))
        return self.activation2(self.ins_norm2(self.pointwise(out)))


class PtranDown(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1, self.conv2 = PtranSeparable(c, c, 2), PtranSeparable(c, c)

    def forward(self, x):
        return self.conv1(x) + self.conv2(F.interpolate(x, scale_factor=0.5, mode="bilinear"))


class PtranUp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = PtranSeparable(c, c)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear"))


class PtranIRBV1(nn.Module):
    def __init__(self, c=256):
        super().__init__()
        self.conv_block = PtranConvBlockV1(c, 2 * c, 1, padding=0)
        self.depthwise_conv = nn.Conv2d(2 * c, 2 * c, 3, 1, 1, groups=2 * c, bias=False)
        self.conv = nn.Conv2d(2 * c, c, 1, bias=False)
        self.ins_norm1, self.ins_norm2 = nn.InstanceNorm2d(2 * c), nn.InstanceNorm2d(c)
        self.activation = _lrelu()

    def forward(self, x):
        out = self.activation(self.ins_norm1(self.depthwise_conv(self.conv_block(x))))
        return self.ins_norm2(self.conv(out)) + x


class PtranGeneratorV1(nn.Module):
    def __init__(self):
        super().__init__()
        cb = PtranConvBlockV1
        self.encode_blocks = nn.Sequential(
            cb(3, 64),
            cb(64, 128),
            PtranDown(128),
            cb(128, 128),
            PtranSeparable(128, 256),
            PtranDown(256),
            cb(256, 256),
        )
        self.res_blocks = nn.Sequential(*(PtranIRBV1() for _ in range(8)))
        self.decode_blocks = nn.Sequential(
            cb(256, 128),
            PtranUp(128),
            PtranSeparable(128, 128),
            cb(128, 128),
            PtranUp(128),
            cb(128, 64),
            cb(64, 64),
            nn.Conv2d(64, 3, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, x):
        return self.decode_blocks(self.res_blocks(self.encode_blocks(x)))


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every parameter (norm affines included) non-trivial random values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.1 if p.dim() == 1 else 1.0 / max(1, p[0].numel()) ** 0.5
            base = 1.0 if (p.dim() == 1 and name.endswith("weight")) else 0.0
            p.copy_(base + scale * torch.randn(p.shape, generator=g))
    return model.eval()
