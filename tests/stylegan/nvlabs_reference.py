"""A literal, slow re-statement of NVlabs' StyleGAN2 generator maths on an ADA-layout state dict.

Written from the paper's equations and NVlabs' documented conventions (normalised z, equalised
layers, per-sample demodulated kernels, up-sampling by zero insertion + [1,3,3,1] filter before a
flipped 3x3 convolution, skip ToRGBs), independently of gankit's networks, so converted models
can be checked against it. Also builds random ADA-layout and TF-layout weights for the tests.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from gankit.nn.upfirdn2d import make_kernel, upfirdn2d_ref

SQRT2 = math.sqrt(2.0)


def channels(res: int, base: int, cmax: int) -> int:
    return min(base // res, cmax)


def random_ada_state(size=16, w_dim=32, n_mlp=2, base=256, cmax=32, c_dim=0, seed=0):
    """Random tensors with the names and shapes of an NVlabs ADA ``Generator``."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    s: dict[str, torch.Tensor] = {}
    for i in range(n_mlp):
        fan_in = w_dim * 2 if (i == 0 and c_dim) else w_dim
        s[f"mapping.fc{i}.weight"] = r(w_dim, fan_in, scale=100.0)  # stored / lr_mul (0.01)
        s[f"mapping.fc{i}.bias"] = r(w_dim, scale=10.0)
    if c_dim:
        s["mapping.embed.weight"], s["mapping.embed.bias"] = r(w_dim, c_dim), r(w_dim, scale=0.1)
    s["mapping.w_avg"] = r(w_dim, scale=0.5)
    res_list = [2**i for i in range(2, int(math.log2(size)) + 1)]
    s["synthesis.b4.const"] = r(channels(4, base, cmax), 4, 4)
    for res in res_list:
        ch = channels(res, base, cmax)
        names = ["conv1"] if res == 4 else ["conv0", "conv1"]
        for name in names:
            in_ch = ch if name == "conv1" else channels(res // 2, base, cmax)
            p = f"synthesis.b{res}.{name}"
            s[f"{p}.weight"] = r(ch, in_ch, 3, 3)
            s[f"{p}.affine.weight"] = r(in_ch, w_dim)
            s[f"{p}.affine.bias"] = 1.0 + r(in_ch, scale=0.1)
            s[f"{p}.noise_strength"] = r((), scale=0.3)
            s[f"{p}.noise_const"] = r(res, res)
            s[f"{p}.bias"] = r(ch, scale=0.1)
        p = f"synthesis.b{res}.torgb"
        s[f"{p}.weight"] = r(3, ch, 1, 1)
        s[f"{p}.affine.weight"] = r(ch, w_dim)
        s[f"{p}.affine.bias"] = 1.0 + r(ch, scale=0.1)
        s[f"{p}.bias"] = r(3, scale=0.1)
    return s


def _fc(x, weight, bias, lr_mul=1.0):
    return x @ (weight * (lr_mul / math.sqrt(weight.shape[1]))).T + bias * lr_mul


def _norm(x):
    return x * torch.rsqrt(x.square().mean(1, keepdim=True) + 1e-8)


def forward(s, z, psi=1.0, c=None, n_mlp=2, conv_clamp=None, lr_mul=0.01):
    """Images for latents ``z`` with const noise and truncation toward ``mapping.w_avg``."""
    x = _norm(z)
    if c is not None:
        x = torch.cat([x, _norm(_fc(c, s["mapping.embed.weight"], s["mapping.embed.bias"]))], 1)
    for i in range(n_mlp):
        x = (
            F.leaky_relu(_fc(x, s[f"mapping.fc{i}.weight"], s[f"mapping.fc{i}.bias"], lr_mul), 0.2)
            * SQRT2
        )
    w = s["mapping.w_avg"] + psi * (x - s["mapping.w_avg"])
    f = make_kernel([1, 3, 3, 1])
    size = max(int(k.split(".")[1][1:]) for k in s if k.startswith("synthesis.b"))

    def modconv(xin, p, demod, up=False, style_gain=1.0):
        styles = _fc(w, s[f"{p}.affine.weight"], s[f"{p}.affine.bias"]) * style_gain
        outs = []
        for n in range(xin.shape[0]):  # one sample at a time, the literal definition
            k = s[f"{p}.weight"] * styles[n].view(1, -1, 1, 1)
            if demod:
                k = k / torch.sqrt(k.square().sum([1, 2, 3], keepdim=True) + 1e-8)
            xn = xin[n : n + 1]
            if up:
                xn = upfirdn2d_ref(xn, f * 4, up=2, pad=(3, 2))
                outs.append(F.conv2d(xn, k.flip([2, 3])))
            else:
                outs.append(F.conv2d(xn, k, padding=k.shape[-1] // 2))
        return torch.cat(outs)

    def layer(xin, p, up=False):
        y = modconv(xin, p, True, up) + s[f"{p}.noise_const"] * s[f"{p}.noise_strength"]
        y = F.leaky_relu(y + s[f"{p}.bias"].view(1, -1, 1, 1), 0.2) * SQRT2
        return y if conv_clamp is None else y.clamp(-conv_clamp, conv_clamp)

    def torgb(xin, p):
        gain = 1 / math.sqrt(s[f"{p}.weight"].shape[1])
        y = modconv(xin, p, False, style_gain=gain) + s[f"{p}.bias"].view(1, -1, 1, 1)
        return y if conv_clamp is None else y.clamp(-conv_clamp, conv_clamp)

    h = s["synthesis.b4.const"].unsqueeze(0).repeat(z.shape[0], 1, 1, 1)
    h = layer(h, "synthesis.b4.conv1")
    img = torgb(h, "synthesis.b4.torgb")
    res = 8
    while res <= size:
        h = layer(h, f"synthesis.b{res}.conv0", up=True)
        h = layer(h, f"synthesis.b{res}.conv1")
        img = upfirdn2d_ref(img, f * 4, up=2, pad=(2, 1)) + torgb(h, f"synthesis.b{res}.torgb")
        res *= 2
    return img


def ada_to_rosinality(s):
    """The test's own map from NVlabs names to rosinality's (checked against the reference)."""
    out = {}
    n = 0
    while f"mapping.fc{n}.weight" in s:
        out[f"style.{n + 1}.weight"] = s[f"mapping.fc{n}.weight"]
        out[f"style.{n + 1}.bias"] = s[f"mapping.fc{n}.bias"]
        n += 1
    out["input.input"] = s["synthesis.b4.const"][None]
    size = max(int(k.split(".")[1][1:]) for k in s if k.startswith("synthesis.b"))
    targets = [("synthesis.b4.conv1", "conv1")]
    rgb = [("synthesis.b4.torgb", "to_rgb1")]
    res, i = 8, 0
    while res <= size:
        targets += [
            (f"synthesis.b{res}.conv0", f"convs.{2 * i}"),
            (f"synthesis.b{res}.conv1", f"convs.{2 * i + 1}"),
        ]
        rgb.append((f"synthesis.b{res}.torgb", f"to_rgbs.{i}"))
        res, i = res * 2, i + 1
    for j, (a, b) in enumerate(targets):
        out[f"{b}.conv.weight"] = s[f"{a}.weight"][None]
        out[f"{b}.conv.modulation.weight"] = s[f"{a}.affine.weight"]
        out[f"{b}.conv.modulation.bias"] = s[f"{a}.affine.bias"]
        out[f"{b}.noise.weight"] = s[f"{a}.noise_strength"].reshape(1)
        out[f"{b}.activate.bias"] = s[f"{a}.bias"]
        out[f"noises.noise_{j}"] = s[f"{a}.noise_const"][None, None]
    for a, b in rgb:
        out[f"{b}.conv.weight"] = s[f"{a}.weight"][None]
        out[f"{b}.conv.modulation.weight"] = s[f"{a}.affine.weight"]
        out[f"{b}.conv.modulation.bias"] = s[f"{a}.affine.bias"]
        out[f"{b}.bias"] = s[f"{a}.bias"].view(1, 3, 1, 1)
    return out


def ada_to_tf(s):
    """TF-era variable names and layouts (HWIO kernels, mod_bias without +1, flipped up-convs)."""
    v: dict[str, np.ndarray] = {}
    n = 0
    while f"mapping.fc{n}.weight" in s:
        v[f"mapping/Dense{n}/weight"] = s[f"mapping.fc{n}.weight"].numpy().T
        v[f"mapping/Dense{n}/bias"] = s[f"mapping.fc{n}.bias"].numpy()
        n += 1
    v["dlatent_avg"] = s["mapping.w_avg"].numpy()
    v["synthesis/4x4/Const/const"] = s["synthesis.b4.const"].numpy()[None]
    size = max(int(k.split(".")[1][1:]) for k in s if k.startswith("synthesis.b"))
    convs = [("synthesis.b4.conv1", "synthesis/4x4/Conv", 0, False)]
    rgbs = [("synthesis.b4.torgb", "synthesis/4x4/ToRGB")]
    res, i = 8, 1
    while res <= size:
        convs += [
            (f"synthesis.b{res}.conv0", f"synthesis/{res}x{res}/Conv0_up", i, True),
            (f"synthesis.b{res}.conv1", f"synthesis/{res}x{res}/Conv1", i + 1, False),
        ]
        rgbs.append((f"synthesis.b{res}.torgb", f"synthesis/{res}x{res}/ToRGB"))
        res, i = res * 2, i + 2
    for a, b, noise, flip in convs:
        w = s[f"{a}.weight"].numpy().transpose(2, 3, 1, 0)
        v[f"{b}/weight"] = w[::-1, ::-1].copy() if flip else w
        v[f"{b}/mod_weight"] = s[f"{a}.affine.weight"].numpy().T
        v[f"{b}/mod_bias"] = s[f"{a}.affine.bias"].numpy() - 1
        v[f"{b}/noise_strength"] = s[f"{a}.noise_strength"].numpy()
        v[f"{b}/bias"] = s[f"{a}.bias"].numpy()
        v[f"synthesis/noise{noise}"] = s[f"{a}.noise_const"].numpy()[None, None]
    for a, b in rgbs:
        v[f"{b}/weight"] = s[f"{a}.weight"].numpy().transpose(2, 3, 1, 0)
        v[f"{b}/mod_weight"] = s[f"{a}.affine.weight"].numpy().T
        v[f"{b}/mod_bias"] = s[f"{a}.affine.bias"].numpy() - 1
        v[f"{b}/bias"] = s[f"{a}.bias"].numpy()
    return v


def random_ada_d_state(size=16, base=256, cmax=32, seed=0):
    """Random tensors with the names and shapes of an NVlabs 'resnet' ``Discriminator``."""
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0):
        return torch.randn(*shape, generator=g) * scale

    s = {
        f"b{size}.fromrgb.weight": r(channels(size, base, cmax), 3, 1, 1),
        f"b{size}.fromrgb.bias": r(channels(size, base, cmax), scale=0.1),
    }
    res = size
    while res > 4:
        cin, cout = channels(res, base, cmax), channels(res // 2, base, cmax)
        s[f"b{res}.conv0.weight"], s[f"b{res}.conv0.bias"] = r(cin, cin, 3, 3), r(cin, scale=0.1)
        s[f"b{res}.conv1.weight"], s[f"b{res}.conv1.bias"] = r(cout, cin, 3, 3), r(cout, scale=0.1)
        s[f"b{res}.skip.weight"] = r(cout, cin, 1, 1)
        res //= 2
    c4 = channels(4, base, cmax)
    s["b4.conv.weight"], s["b4.conv.bias"] = r(c4, c4 + 1, 3, 3), r(c4, scale=0.1)
    s["b4.fc.weight"], s["b4.fc.bias"] = r(c4, c4 * 16), r(c4, scale=0.1)
    s["b4.out.weight"], s["b4.out.bias"] = r(1, c4), r(1, scale=0.1)
    return s


def d_forward(s, img, conv_clamp=None):
    """NVlabs' residual D: blocks (fromrgb, conv0, conv1 down, skip down) and the epilogue."""
    f = make_kernel([1, 3, 3, 1])

    def conv(x, p, down=False, act=True, gain=1.0, bias=True):
        w = s[f"{p}.weight"]
        w = w / math.sqrt(w[0].numel())
        if down and w.shape[-1] == 3:
            x = F.conv2d(upfirdn2d_ref(x, f, pad=(2, 2)), w, stride=2)
        elif down:
            x = F.conv2d(upfirdn2d_ref(x, f, down=2, pad=(1, 1)), w)
        else:
            x = F.conv2d(x, w, padding=w.shape[-1] // 2)
        if bias:
            x = x + s[f"{p}.bias"].view(1, -1, 1, 1)
        x = (F.leaky_relu(x, 0.2) * SQRT2 if act else x) * gain
        return x if conv_clamp is None else x.clamp(-conv_clamp * gain, conv_clamp * gain)

    size = img.shape[-1]
    x = conv(img, f"b{size}.fromrgb")
    res = size
    while res > 4:
        y = conv(x, f"b{res}.skip", down=True, act=False, gain=math.sqrt(0.5), bias=False)
        x = conv(conv(x, f"b{res}.conv0"), f"b{res}.conv1", down=True, gain=math.sqrt(0.5))
        x = x + y
        res //= 2
    n, c, h, w = x.shape
    group = min(4, n)
    y = x.reshape(group, -1, 1, c, h, w)
    y = (y - y.mean(0)).square().mean(0).add(1e-8).sqrt().mean([2, 3, 4])
    x = torch.cat([x, y.reshape(-1, 1, 1, 1).repeat(group, 1, h, w)], 1)
    x = conv(x, "b4.conv").flatten(1)
    x = F.leaky_relu(_fc(x, s["b4.fc.weight"], s["b4.fc.bias"]), 0.2) * SQRT2
    return _fc(x, s["b4.out.weight"], s["b4.out.bias"])


def ada_d_to_tf(s):
    """TF-era discriminator variable names and layouts (HWIO kernels, [in, out] dense)."""
    v = {}
    for key, t in s.items():
        block, layer, kind = key.split(".")
        res = block[1:]
        name = {
            "fromrgb": "FromRGB",
            "conv0": "Conv0",
            "conv1": "Conv1_down",
            "skip": "Skip",
            "conv": "Conv",
            "fc": "Dense0",
        }.get(layer)
        path = "Output" if layer == "out" else f"{res}x{res}/{name}"
        a = t.numpy()
        v[f"{path}/{kind}"] = (
            a.transpose(2, 3, 1, 0) if a.ndim == 4 else (a.T if a.ndim == 2 else a)
        )
    return v
