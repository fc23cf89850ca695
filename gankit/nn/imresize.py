"""MATLAB-style ``imresize`` as the SinGAN reference computes it, in PyTorch ops (ONNX-exportable).

tamarott/SinGAN ``SinGAN/imresize.py``@7b0b418e (A. Shocher's ``resizer``) resizes an image by a
*scale factor*: the output has ``ceil(size * scale)`` pixels and output pixel ``o`` (1-based)
sits at ``o / scale + (1 - 1 / scale) / 2`` in input coordinates; it is the weighted sum of the
input pixels around it under Keys' cubic kernel (a = -0.5), stretched by ``1 / scale`` when the
*first* (height) factor shrinks (antialiasing), the weights of each output pixel normalised to
sum to one. Before resizing, the reference turns the [-1, 1] tensor into uint8 by truncation
(``torch2uint8``) and back by ``/ 255`` afterwards (``np2torch``), so :func:`imresize` does too
(``quantize``; the gradient passes straight through the rounding).

Two details of the reference are kept because trained models depend on them:

* callers crop the result to the next scale's size (``draw_concat``: ``G_z[:, :, :H, :W]``);
  ``size`` computes exactly those rows and columns, with the weights of ``scale``, not of
  ``size / input size``;
* border taps: the reference casts tap positions to uint64 (``np.uint``) *before* weighting
  them, so a negative position (left of the first pixel) becomes ~2**64, lies far outside the
  kernel and gets weight 0; the remaining weights are renormalised. Only taps past the last
  pixel are mirrored. So the top and left edges are not mirror-padded but truncated, and
  :func:`resize_matrix` does the same.

Each axis is one dense matrix built from the sizes with tensor ops (so a traced graph keeps
dynamic sizes), applied as a matrix product in float64 as the reference's numpy does.
"""

from __future__ import annotations

import math

import torch


def _cubic(x: torch.Tensor) -> torch.Tensor:
    a = x.abs()
    a2, a3 = a * a, a * a * a
    near = (1.5 * a3 - 2.5 * a2 + 1) * (a <= 1)
    far = (-0.5 * a3 + 2.5 * a2 - 4 * a + 2) * ((a > 1) & (a <= 2))
    return near + far


def _as_tensor(n: int | torch.Tensor, device: torch.device) -> torch.Tensor:
    return n.to(device) if isinstance(n, torch.Tensor) else torch.tensor(n, device=device)


def resize_matrix(
    in_len: int | torch.Tensor,
    out_len: int | torch.Tensor,
    scale: float,
    antialias: bool,
    device: torch.device | None = None,
) -> torch.Tensor:
    """``[out_len, in_len]`` float64 weights of the reference's ``contributions`` along one axis.

    ``scale`` is a Python float (the factor the reference passes, e.g. ``1 / scale_factor``);
    the lengths may be traced sizes.
    """
    device = device or torch.device("cpu")
    kernel_width = 4.0 / scale if antialias else 4.0
    taps = math.ceil(kernel_width) + 2
    n_in = _as_tensor(in_len, device)
    out = torch.arange(1, out_len + 1, device=device, dtype=torch.float64)
    centre = out / scale + 0.5 * (1 - 1.0 / scale)
    left = torch.floor(centre - kernel_width / 2)
    pos = left[:, None] + torch.arange(taps, device=device, dtype=torch.float64) - 1
    dist = centre[:, None] - pos - 1
    weights = scale * _cubic(scale * dist) if antialias else _cubic(dist)
    weights = weights * (pos >= 0)
    total = weights.sum(1, keepdim=True)
    weights = weights / torch.where(total == 0, torch.ones_like(total), total)
    period = 2 * n_in
    idx = torch.remainder(pos.to(torch.int64).clamp_min(0), period)
    idx = torch.where(idx < n_in, idx, period - 1 - idx)
    columns = torch.arange(in_len, device=device)
    onehot = (idx[:, :, None] == columns[None, None, :]).to(torch.float64)
    return (weights[:, :, None] * onehot).sum(1)


def to_uint8_levels(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> 0..255 truncated as the reference's ``torch2uint8`` (gradient passes through)."""
    levels = ((x + 1) / 2).clamp(0, 1) * 255
    return levels + (torch.floor(levels) - levels).detach()


def imresize(
    x: torch.Tensor,
    scale: float | tuple[float, float],
    size: tuple[int, int] | list[int] | torch.Size | None = None,
    quantize: bool = True,
) -> torch.Tensor:
    """Resize ``x`` (``[N, C, H, W]`` in [-1, 1]) by ``scale`` (one factor or (height, width)).

    ``size`` defaults to ``ceil(H * scale), ceil(W * scale)``; a given ``size`` is the top-left
    crop (or continuation) of that result. An axis whose factor is exactly 1 is left as is, as in
    the reference. With ``quantize`` the input goes through uint8 levels first and the result is
    clamped to [-1, 1], as the reference's ``imresize`` does.
    """
    sh, sw = (scale, scale) if isinstance(scale, (int, float)) else scale
    h_in, w_in = x.shape[-2], x.shape[-1]
    if size is None:
        size = (math.ceil(h_in * sh), math.ceil(w_in * sw))
    h_out, w_out = size[0], size[1]
    antialias = sh < 1
    # float64 like the reference's numpy (so uint8 truncation at the next scale sees the same
    # values); Apple MPS has no float64
    mps = x.device.type == "mps"
    work, built_on = (torch.float32, torch.device("cpu")) if mps else (torch.float64, x.device)
    y = (to_uint8_levels(x) if quantize else x).to(work)
    if sh != 1.0:
        mh = resize_matrix(h_in, h_out, sh, antialias, built_on).to(x.device, work)
        y = torch.matmul(mh, y)
    if sw != 1.0:
        mw = resize_matrix(w_in, w_out, sw, antialias, built_on).to(x.device, work)
        y = torch.matmul(y, mw.transpose(0, 1))
    if quantize:
        y = ((y / 255).to(x.dtype) - 0.5) * 2
        return y.clamp(-1, 1)[..., :h_out, :w_out]
    return y.to(x.dtype)[..., :h_out, :w_out]


def imresize_to_shape(
    x: torch.Tensor, size: tuple[int, int] | list[int], quantize: bool = True
) -> torch.Tensor:
    """The reference's ``imresize_to_shape``: factors ``size / input size`` per axis."""
    h, w = int(size[0]), int(size[1])
    return imresize(x, (h / x.shape[-2], w / x.shape[-1]), (h, w), quantize)
