"""Networks laid out as junyanz/pytorch-CycleGAN-and-pix2pix lays them out, written independently
for the tests: their state dicts are the "foreign files" the importer must read, and their outputs
are what the converted gankit networks must reproduce."""

from __future__ import annotations

import torch
from torch import nn


def _norm(kind: str, ch: int, old_instance: bool) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "instance":
        # Files from before PyTorch 0.4 carry running statistics for InstanceNorm.
        return nn.InstanceNorm2d(ch, track_running_stats=old_instance)
    return nn.Identity()


class _Level(nn.Module):
    def __init__(self, outer, inner, norm, inp=None, sub=None, outermost=False,
                 innermost=False, dropout=False, old=False):
        super().__init__()
        self.outermost = outermost
        b = norm == "instance"
        inp = inp or outer
        if outermost:
            seq = [nn.Conv2d(inp, inner, 4, 2, 1, bias=b), sub, nn.ReLU(True),
                   nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1), nn.Tanh()]
        elif innermost:
            seq = [nn.LeakyReLU(0.2, True), nn.Conv2d(inp, inner, 4, 2, 1, bias=b),
                   nn.ReLU(True), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=b),
                   _norm(norm, outer, old)]
        else:
            seq = [nn.LeakyReLU(0.2, True), nn.Conv2d(inp, inner, 4, 2, 1, bias=b),
                   _norm(norm, inner, old), sub, nn.ReLU(True),
                   nn.ConvTranspose2d(inner * 2, outer, 4, 2, 1, bias=b), _norm(norm, outer, old)]
            seq += [nn.Dropout(0.5)] if dropout else []
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        y = self.model(x)
        return y if self.outermost else torch.cat([x, y], 1)


class RefUnet(nn.Module):
    def __init__(self, inp, out, downs, ngf=64, norm="batch", dropout=True, old=False):
        super().__init__()
        blk = _Level(ngf * 8, ngf * 8, norm, innermost=True, old=old)
        for _ in range(downs - 5):
            blk = _Level(ngf * 8, ngf * 8, norm, sub=blk, dropout=dropout, old=old)
        for mult in (4, 2, 1):
            blk = _Level(ngf * mult, ngf * mult * 2, norm, sub=blk, old=old)
        self.model = _Level(out, ngf, norm, inp=inp, sub=blk, outermost=True, old=old)

    def forward(self, x):
        return self.model(x)


class _Res(nn.Module):
    def __init__(self, d, norm, dropout, old):
        super().__init__()
        b = norm == "instance"
        seq = [nn.ReflectionPad2d(1), nn.Conv2d(d, d, 3, bias=b), _norm(norm, d, old),
               nn.ReLU(True)]
        seq += [nn.Dropout(0.5)] if dropout else []
        seq += [nn.ReflectionPad2d(1), nn.Conv2d(d, d, 3, bias=b), _norm(norm, d, old)]
        self.conv_block = nn.Sequential(*seq)

    def forward(self, x):
        return x + self.conv_block(x)


class RefResnet(nn.Module):
    def __init__(self, inp, out, blocks, ngf=64, norm="instance", dropout=False, old=False):
        super().__init__()
        b = norm == "instance"
        seq = [nn.ReflectionPad2d(3), nn.Conv2d(inp, ngf, 7, bias=b), _norm(norm, ngf, old),
               nn.ReLU(True)]
        for m in (1, 2):
            seq += [nn.Conv2d(ngf * m, ngf * m * 2, 3, 2, 1, bias=b),
                    _norm(norm, ngf * m * 2, old), nn.ReLU(True)]
        seq += [_Res(ngf * 4, norm, dropout, old) for _ in range(blocks)]
        for m in (4, 2):
            seq += [nn.ConvTranspose2d(ngf * m, ngf * m // 2, 3, 2, 1, output_padding=1, bias=b),
                    _norm(norm, ngf * m // 2, old), nn.ReLU(True)]
        seq += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, out, 7), nn.Tanh()]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


class RefNLayer(nn.Module):
    def __init__(self, inp, ndf=64, n_layers=3, norm="batch", old=False):
        super().__init__()
        b = norm == "instance"
        seq = [nn.Conv2d(inp, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        cur = ndf
        for n in range(1, n_layers + 1):
            nxt = ndf * min(2**n, 8)
            stride = 2 if n < n_layers else 1
            seq += [nn.Conv2d(cur, nxt, 4, stride, 1, bias=b), _norm(norm, nxt, old),
                    nn.LeakyReLU(0.2, True)]
            cur = nxt
        seq += [nn.Conv2d(cur, 1, 4, 1, 1)]
        self.model = nn.Sequential(*seq)

    def forward(self, x):
        return self.model(x)


class RefPixel(nn.Module):
    def __init__(self, inp, ndf=64, norm="batch", old=False):
        super().__init__()
        b = norm == "instance"
        self.net = nn.Sequential(nn.Conv2d(inp, ndf, 1), nn.LeakyReLU(0.2, True),
                                 nn.Conv2d(ndf, ndf * 2, 1, bias=b), _norm(norm, ndf * 2, old),
                                 nn.LeakyReLU(0.2, True), nn.Conv2d(ndf * 2, 1, 1, bias=b))

    def forward(self, x):
        return self.net(x)


def randomise(net: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial weights and BatchNorm statistics, so that a wrong mapping shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.is_floating_point():
                if name.endswith("running_var"):
                    t.copy_(torch.rand(t.shape, generator=g) + 0.5)
                else:
                    t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return net.eval()
