"""Adaptive discriminator augmentation's pipeline (Karras et al. 2020, "Training Generative
Adversarial Networks with Limited Data", sec. 2.3 and app. B), in plain PyTorch.

It follows ``training/augment.py`` of NVlabs/stylegan2-ada-pytorch@d72cc7d (``AugmentPipe``,
lines 116-429) transform for transform: each transform of the enabled groups is applied to each
image with probability ``multiplier * p``, in the reference's order, with its parameter
distributions. The geometric transforms (pixel blitting, then general geometry) compose into one
inverse matrix per image that is executed in a single resampling pass: reflect padding, 2x
up-sampling with the sym6 wavelet low-pass, bilinear ``grid_sample``, 2x down-sampling with the
same filter. The colour transforms compose into one 4x4 matrix per image; image-space filtering
(four frequency bands), additive noise and cutout follow. Every step is differentiable in the
images, so D's gradients (R1 included) reach G through it.

Random numbers come from a :class:`~gankit.nn.augment.draws.Draws`, in the reference's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.nn.augment.draws import Draws, TorchDraws
from gankit.nn.upfirdn2d import upfirdn2d

SYM2 = [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025]
"""Daubechies' symlet-2 low-pass taps (the image-space filter bank's base, augment.py line 31)."""
SYM6 = [
    0.015404109327027373,
    0.0034907120842174702,
    -0.11799011114819057,
    -0.048311742585633,
    0.4910559419267466,
    0.787641141030194,
    0.3379294217276218,
    -0.07263752278646252,
    -0.021060292512300564,
    0.04472490177066578,
    0.0017677118642428036,
    -0.007800708325034148,
]
"""Symlet-6 low-pass taps: the orthogonal filter of the geometric resampling (line 35)."""

_BLIT = {"xflip": 1, "rotate90": 1, "xint": 1}
_GEOM = {"scale": 1, "rotate": 1, "aniso": 1, "xfrac": 1}
_COLOR = {"brightness": 1, "contrast": 1, "lumaflip": 1, "hue": 1, "saturation": 1}
PIPELINES: dict[str, dict[str, float]] = {
    "blit": _BLIT,
    "geom": _GEOM,
    "color": _COLOR,
    "filter": {"imgfilter": 1},
    "noise": {"noise": 1},
    "cutout": {"cutout": 1},
    "bg": {**_BLIT, **_GEOM},
    "bgc": {**_BLIT, **_GEOM, **_COLOR},
    "bgcf": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1},
    "bgcfn": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1},
    "bgcfnc": {**_BLIT, **_GEOM, **_COLOR, "imgfilter": 1, "noise": 1, "cutout": 1},
}
"""The named pipelines of NVlabs' ``train.py --augpipe`` (``augpipe_specs``, lines 271-283):
which transforms are on (probability multiplier 1)."""


def _matrix(rows: Sequence[Sequence[torch.Tensor | float]], like: torch.Tensor) -> torch.Tensor:
    """A batch of matrices from per-image entries (tensors shaped like ``like``) and constants."""
    entries = [
        e if isinstance(e, torch.Tensor) else torch.full_like(like, e) for row in rows for e in row
    ]
    return torch.stack(entries, dim=-1).reshape(*like.shape, len(rows), len(rows[0]))


def _translate2d(tx: torch.Tensor, ty: torch.Tensor) -> torch.Tensor:
    return _matrix([[1, 0, tx], [0, 1, ty], [0, 0, 1]], tx)


def _scale2d(sx: torch.Tensor, sy: torch.Tensor | float) -> torch.Tensor:
    return _matrix([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], sx)


def _rotate2d(theta: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return _matrix([[c, torch.sin(-theta), 0], [s, c, 0], [0, 0, 1]], theta)


def _translate3d(t: torch.Tensor) -> torch.Tensor:
    return _matrix([[1, 0, 0, t], [0, 1, 0, t], [0, 0, 1, t], [0, 0, 0, 1]], t)


def _scale3d(s: torch.Tensor) -> torch.Tensor:
    return _matrix([[s, 0, 0, 0], [0, s, 0, 0], [0, 0, s, 0], [0, 0, 0, 1]], s)


def _rotate3d(v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Rotation by ``theta`` about the unit axis ``v`` (Rodrigues), homogeneous 4x4."""
    x, y, z = (v[i].expand_as(theta) for i in range(3))
    s, c = torch.sin(theta), torch.cos(theta)
    cc = 1 - c
    return _matrix(
        [
            [x * x * cc + c, x * y * cc - z * s, x * z * cc + y * s, 0],
            [y * x * cc + z * s, y * y * cc + c, y * z * cc - x * s, 0],
            [z * x * cc - y * s, z * y * cc + x * s, z * z * cc + c, 0],
            [0, 0, 0, 1],
        ],
        theta,
    )


def _fixed(rows: Sequence[Sequence[float]] | Sequence[float], device: torch.device) -> torch.Tensor:
    """Constants worked out in float64, stored as float32 (as NVlabs' ``misc.constant``)."""
    return torch.tensor(np.asarray(rows, dtype=np.float64), dtype=torch.float32, device=device)


def _shift(device: torch.device, tx: float, ty: float) -> torch.Tensor:
    return _fixed([[1, 0, tx], [0, 1, ty], [0, 0, 1]], device)


def _zoom(device: torch.device, sx: float, sy: float) -> torch.Tensor:
    return _fixed([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], device)


def filter_bank() -> np.ndarray:
    """Four symmetric band filters that split an image into octaves (augment.py lines 169-179):
    band 0 is the sym2 low-pass ``H(z) H(1/z) / 2`` applied three times at growing strides,
    band i adds the matching high-pass ``H(-z) H(-1/z) / 2`` at stride ``2^(3-i)``."""
    lo = np.asarray(SYM2)
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2 = np.convolve(lo, lo[::-1]) / 2
    hi2 = np.convolve(hi, hi[::-1]) / 2
    bank = np.eye(4, 1)
    for band in range(1, 4):
        spread = np.zeros((4, bank.shape[1] * 2 - 1))
        spread[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in spread])
        start = (bank.shape[1] - hi2.size) // 2
        bank[band, start : start + hi2.size] += hi2
    return bank


class AugmentPipe(nn.Module):
    """NVlabs' augmentation pipeline; ``p`` (a buffer, saved with the module) scales every
    transform's probability. Build a named pipeline with :meth:`named`.

    Multipliers and ranges are the reference's constructor arguments (augment.py lines 118-164),
    with the same defaults.
    """

    def __init__(
        self,
        xflip: float = 0,
        rotate90: float = 0,
        xint: float = 0,
        xint_max: float = 0.125,
        scale: float = 0,
        rotate: float = 0,
        aniso: float = 0,
        xfrac: float = 0,
        scale_std: float = 0.2,
        rotate_max: float = 1,
        aniso_std: float = 0.2,
        xfrac_std: float = 0.125,
        brightness: float = 0,
        contrast: float = 0,
        lumaflip: float = 0,
        hue: float = 0,
        saturation: float = 0,
        brightness_std: float = 0.2,
        contrast_std: float = 0.5,
        hue_max: float = 1,
        saturation_std: float = 1,
        imgfilter: float = 0,
        imgfilter_bands: Sequence[float] = (1, 1, 1, 1),
        imgfilter_std: float = 1,
        noise: float = 0,
        cutout: float = 0,
        noise_std: float = 0.1,
        cutout_size: float = 0.5,
        draws: Draws | None = None,
    ) -> None:
        super().__init__()
        self.register_buffer("p", torch.zeros([]))
        self.xflip, self.rotate90, self.xint, self.xint_max = xflip, rotate90, xint, xint_max
        self.scale, self.rotate, self.aniso, self.xfrac = scale, rotate, aniso, xfrac
        self.scale_std, self.rotate_max = scale_std, rotate_max
        self.aniso_std, self.xfrac_std = aniso_std, xfrac_std
        self.brightness, self.contrast, self.lumaflip = brightness, contrast, lumaflip
        self.hue, self.saturation = hue, saturation
        self.brightness_std, self.contrast_std = brightness_std, contrast_std
        self.hue_max, self.saturation_std = hue_max, saturation_std
        self.imgfilter, self.imgfilter_bands = imgfilter, list(imgfilter_bands)
        self.imgfilter_std = imgfilter_std
        self.noise, self.cutout = noise, cutout
        self.noise_std, self.cutout_size = noise_std, cutout_size
        self.draws = draws or TorchDraws()
        geom = torch.tensor(SYM6)
        self.register_buffer("geom_filter", geom / geom.sum(), persistent=False)
        bank = torch.as_tensor(filter_bank(), dtype=torch.float32)
        self.register_buffer("band_filters", bank, persistent=False)

    @classmethod
    def named(cls, name: str, draws: Draws | None = None) -> AugmentPipe:
        """One of :data:`PIPELINES` (``bgc``: blitting, geometry and colour)."""
        if name not in PIPELINES:
            raise ValueError(
                f"unknown augmentation pipeline {name!r}; choose from {list(PIPELINES)}"
            )
        return cls(**PIPELINES[name], draws=draws)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Augment a batch (N x C x H x W, C 1 or 3) in float32, autocast off."""
        with torch.autocast(images.device.type, enabled=False):
            x = images.float()
            inv = self._geometry_matrix(x)
            if inv is not None:
                x = self._resample(x, inv)
            color = self._color_matrix(x)
            if color is not None:
                x = _apply_color(x, color)
            if self.imgfilter > 0:
                x = self._filter(x)
            if self.noise > 0:
                x = self._noise(x)
            if self.cutout > 0:
                x = self._cutout(x)
        return x

    def _chosen(self, shape: Sequence[int], multiplier: float, dev: torch.device) -> torch.Tensor:
        """Which images get a transform: uniform draw < multiplier * p."""
        return self.draws.rand(shape, dev) < multiplier * self.p

    def _geometry_matrix(self, x: torch.Tensor) -> torch.Tensor | None:
        """The inverse map output pixel -> input pixel of the blit and geometric transforms
        (augment.py lines 192-263), or None when none is enabled."""
        n, _, h, w = x.shape
        dev, d = x.device, self.draws
        inv: torch.Tensor | None = None

        def then(m: torch.Tensor) -> None:
            nonlocal inv
            inv = m if inv is None else inv @ m

        zeros, ones = torch.zeros([n], device=dev), torch.ones([n], device=dev)
        if self.xflip > 0:
            i = torch.floor(d.rand([n], dev) * 2)
            i = torch.where(self._chosen([n], self.xflip, dev), i, zeros)
            then(_scale2d(1 / (1 - 2 * i), 1))
        if self.rotate90 > 0:
            i = torch.floor(d.rand([n], dev) * 4)
            i = torch.where(self._chosen([n], self.rotate90, dev), i, zeros)
            then(_rotate2d(np.pi / 2 * i))
        if self.xint > 0:
            t = (d.rand([n, 2], dev) * 2 - 1) * self.xint_max
            t = torch.where(self._chosen([n, 1], self.xint, dev), t, torch.zeros_like(t))
            then(_translate2d(-torch.round(t[:, 0] * w), -torch.round(t[:, 1] * h)))
        if self.scale > 0:
            s = torch.exp2(d.randn([n], dev) * self.scale_std)
            s = torch.where(self._chosen([n], self.scale, dev), s, ones)
            then(_scale2d(1 / s, 1 / s))
        # Rotation before and after the anisotropic scaling, each with p_rot, so that one of
        # the two happens with probability rotate * p (line 233).
        p_rot = 1 - torch.sqrt((1 - self.rotate * self.p).clamp(0, 1))
        if self.rotate > 0:
            then(_rotate2d(self._angle(n, p_rot, dev)))
        if self.aniso > 0:
            s = torch.exp2(d.randn([n], dev) * self.aniso_std)
            s = torch.where(self._chosen([n], self.aniso, dev), s, ones)
            then(_scale2d(1 / s, 1 / (1 / s)))  # the inverse of diag(s, 1 / s), as NVlabs
        if self.rotate > 0:
            then(_rotate2d(self._angle(n, p_rot, dev)))
        if self.xfrac > 0:
            t = d.randn([n, 2], dev) * self.xfrac_std
            t = torch.where(self._chosen([n, 1], self.xfrac, dev), t, torch.zeros_like(t))
            then(_translate2d(-(t[:, 0] * w), -(t[:, 1] * h)))
        return inv

    def _angle(self, n: int, p_rot: torch.Tensor, dev: torch.device) -> torch.Tensor:
        theta = (self.draws.rand([n], dev) * 2 - 1) * np.pi * self.rotate_max
        return torch.where(self.draws.rand([n], dev) < p_rot, theta, torch.zeros_like(theta))

    def _resample(self, x: torch.Tensor, inv: torch.Tensor) -> torch.Tensor:
        """Execute ``inv`` in one pass (augment.py lines 272-301): reflect-pad enough for every
        image's corners to land inside, up-sample 2x, bilinear ``grid_sample``, down-sample 2x
        and crop back to the input size."""
        n, c, h, w = x.shape
        dev = x.device
        taps = self.geom_filter.shape[0]
        pad = taps // 4
        cx, cy = (w - 1) / 2, (h - 1) / 2
        corners = _fixed([[-cx, -cy, 1], [cx, -cy, 1], [cx, cy, 1], [-cx, cy, 1]], dev)
        reach = (inv @ corners.t())[:, :2, :].permute(1, 0, 2).flatten(1)
        margin = torch.cat([-reach, reach]).max(dim=1).values
        margin = margin + _fixed([pad * 2 - cx, pad * 2 - cy] * 2, dev)
        margin = margin.max(_fixed([0, 0] * 2, dev)).min(_fixed([w - 1, h - 1] * 2, dev))
        mx0, my0, mx1, my1 = (int(v) for v in margin.ceil().to(torch.int32))
        x = F.pad(x, [mx0, mx1, my0, my1], mode="reflect")
        inv = _shift(dev, (mx0 - mx1) / 2, (my0 - my1) / 2) @ inv

        # Up-sample 2x (gain 4 keeps the mean), pixel centres moving with the grid.
        f = self.geom_filter
        x = upfirdn2d(x, f * 2, up=2, pad=((taps + 1) // 2, (taps - 2) // 2))
        inv = _zoom(dev, 2, 2) @ inv @ _zoom(dev, 1 / 2, 1 / 2)
        inv = _shift(dev, -0.5, -0.5) @ inv @ _shift(dev, 0.5, 0.5)

        # Pixel coordinates -> affine_grid's [-1, 1] on both sides.
        out_shape = [n, c, (h + pad * 2) * 2, (w + pad * 2) * 2]
        to_unit = _zoom(dev, 2 / x.shape[3], 2 / x.shape[2])
        inv = to_unit @ inv @ _zoom(dev, 1 / (2 / out_shape[3]), 1 / (2 / out_shape[2]))
        grid = F.affine_grid(inv[:, :2, :], out_shape, align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        # NVlabs down-samples with the filter as a correlation (flip_filter=True); ours convolves.
        crop = (taps - 2 + 1) // 2 - pad * 2
        return upfirdn2d(x, f.flip(0), down=2, pad=(crop, (taps - 2) // 2 - pad * 2))

    def _color_matrix(self, x: torch.Tensor) -> torch.Tensor | None:
        """The colour transforms as one homogeneous 4x4 matrix per image (lines 307-350), or
        None when none is enabled; hue and saturation only for colour images."""
        n, c = x.shape[:2]
        dev, d = x.device, self.draws
        eye = torch.eye(4, device=dev)
        mat: torch.Tensor | None = None

        def then(m: torch.Tensor) -> None:
            nonlocal mat
            mat = m if mat is None else m @ mat

        if self.brightness > 0:
            b = d.randn([n], dev) * self.brightness_std
            b = torch.where(self._chosen([n], self.brightness, dev), b, torch.zeros_like(b))
            then(_translate3d(b))
        if self.contrast > 0:
            s = torch.exp2(d.randn([n], dev) * self.contrast_std)
            s = torch.where(self._chosen([n], self.contrast, dev), s, torch.ones_like(s))
            then(_scale3d(s))
        luma = torch.tensor(np.asarray([1, 1, 1, 0]) / np.sqrt(3), dtype=torch.float32, device=dev)
        proj = luma.outer(luma)
        if self.lumaflip > 0:
            i = torch.floor(d.rand([n, 1, 1], dev) * 2)
            i = torch.where(self._chosen([n, 1, 1], self.lumaflip, dev), i, torch.zeros_like(i))
            then(eye - 2 * proj * i)  # Householder reflection of the luma axis
        if self.hue > 0 and c > 1:
            theta = (d.rand([n], dev) * 2 - 1) * np.pi * self.hue_max
            chosen = self._chosen([n], self.hue, dev)
            then(_rotate3d(luma, torch.where(chosen, theta, torch.zeros_like(theta))))
        if self.saturation > 0 and c > 1:
            s = torch.exp2(d.randn([n, 1, 1], dev) * self.saturation_std)
            s = torch.where(self._chosen([n, 1, 1], self.saturation, dev), s, torch.ones_like(s))
            then(proj + (eye - proj) * s)
        return mat

    def _filter(self, x: torch.Tensor) -> torch.Tensor:
        """Amplify each frequency band by a log-normal gain, the gains renormalised against a
        1/f power spectrum, as one symmetric separable filter per image (lines 372-400)."""
        n, c, h, w = x.shape
        dev, d = x.device, self.draws
        bands = self.band_filters.shape[0]
        if len(self.imgfilter_bands) != bands:
            raise ValueError(f"imgfilter_bands needs {bands} entries")
        power = torch.tensor(np.array([10, 1, 1, 1]) / 13, dtype=torch.float32, device=dev)
        gain = torch.ones([n, bands], device=dev)
        for i, strength in enumerate(self.imgfilter_bands):
            t_i = torch.exp2(d.randn([n], dev) * self.imgfilter_std)
            chosen = d.rand([n], dev) < self.imgfilter * self.p * strength
            t_i = torch.where(chosen, t_i, 1.0)
            t = torch.ones([n, bands], device=dev)
            t[:, i] = t_i
            gain = gain * (t / (power * t.square()).sum(dim=-1, keepdim=True).sqrt())
        taps = (gain @ self.band_filters).repeat_interleave(c, dim=0)[:, None, :]
        r = self.band_filters.shape[1] // 2
        x = F.pad(x.reshape(1, n * c, h, w), [r, r, r, r], mode="reflect")
        x = F.conv2d(x, taps.unsqueeze(2), groups=n * c)
        x = F.conv2d(x, taps.unsqueeze(3), groups=n * c)
        return x.reshape(n, c, h, w)

    def _noise(self, x: torch.Tensor) -> torch.Tensor:
        """Gaussian RGB noise with a half-normal standard deviation (lines 407-412)."""
        n = x.shape[0]
        dev, d = x.device, self.draws
        sigma = d.randn([n, 1, 1, 1], dev).abs() * self.noise_std
        sigma = torch.where(self._chosen([n, 1, 1, 1], self.noise, dev), sigma, 0.0)
        return x + d.randn(list(x.shape), dev) * sigma

    def _cutout(self, x: torch.Tensor) -> torch.Tensor:
        """Zero a ``cutout_size`` rectangle at a uniform centre (lines 415-427)."""
        n, _, h, w = x.shape
        dev, d = x.device, self.draws
        size = torch.full([n, 2, 1, 1, 1], self.cutout_size, device=dev)
        size = torch.where(self._chosen([n, 1, 1, 1, 1], self.cutout, dev), size, 0.0)
        centre = d.rand([n, 2, 1, 1, 1], dev)
        col = torch.arange(w, device=dev).reshape(1, 1, 1, -1)
        row = torch.arange(h, device=dev).reshape(1, 1, -1, 1)
        keep_x = ((col + 0.5) / w - centre[:, 0]).abs() >= size[:, 0] / 2
        keep_y = ((row + 0.5) / h - centre[:, 1]).abs() >= size[:, 1] / 2
        return x * torch.logical_or(keep_x, keep_y).to(torch.float32)


def _apply_color(x: torch.Tensor, mat: torch.Tensor) -> torch.Tensor:
    """``mat @ [rgb, 1]`` per pixel; a grey image takes the mean of the three output rows."""
    n, c, h, w = x.shape
    flat = x.reshape(n, c, h * w)
    if c == 3:
        flat = mat[:, :3, :3] @ flat + mat[:, :3, 3:]
    elif c == 1:
        grey = mat[:, :3, :].mean(dim=1, keepdim=True)
        flat = flat * grey[:, :, :3].sum(dim=2, keepdim=True) + grey[:, :, 3:]
    else:
        raise ValueError(f"augmentation takes RGB or grey images, got {c} channels")
    return flat.reshape(n, c, h, w)
