"""Training data for AnimeGAN from any folder of style frames and any folder of photos.

Edge smoothing follows the original ``tools/edge_smooth.py`` (AnimeGAN sec. 3.2: the
discriminator learns that anime has *sharp* edges by seeing the same frames with blurred edges as
fakes): Canny edges (thresholds 100/200) of the grayscale frame, dilated by a 5x5 square, and in
that band each pixel replaced by a 5x5 binomial Gaussian (reflect-101 border) of its colour.
Canny is implemented with NumPy/SciPy (Sobel 3x3, L1 magnitude, non-maximum suppression,
hysteresis) so no OpenCV is needed. The data mean is v2's ``data_mean.py``: the RGB channel means
of the style set, from which training subtracts each channel's offset to the mean of the three.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from gankit.core.atomic import FolderKind, atomic_dir
from gankit.core.errors import BadInputError
from gankit.core.images import expand_inputs, read_image

GAUSS_TAPS = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0
"""OpenCV's ``getGaussianKernel(5, 0)`` (its fixed binomial kernel for 5 taps), as the original."""
PREPARED = FolderKind(
    "`animegan prepare` folder (photo/ style/ smooth/ mean.json only)",
    lambda p: sorted(c.name for c in p.iterdir()) == ["mean.json", "photo", "smooth", "style"],
)


def canny(gray: np.ndarray, low: float = 100.0, high: float = 200.0) -> np.ndarray:
    """Boolean edge map of a uint8 grayscale image (OpenCV ``Canny`` semantics, L1 gradient)."""
    g = gray.astype(np.float64)
    gx = ndimage.sobel(g, axis=1, mode="nearest")
    gy = ndimage.sobel(g, axis=0, mode="nearest")
    mag = np.abs(gx) + np.abs(gy)
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    padded = np.pad(mag, 1)
    h, w = mag.shape
    keep = np.zeros_like(mag, dtype=bool)
    # neighbours along the gradient direction quantised to 0, 45, 90, 135 degrees
    for lo_a, hi_a, (dy, dx) in (
        (0, 22.5, (0, 1)),
        (157.5, 180.1, (0, 1)),
        (22.5, 67.5, (1, 1)),
        (67.5, 112.5, (1, 0)),
        (112.5, 157.5, (1, -1)),
    ):
        sel = (angle >= lo_a) & (angle < hi_a)
        a = padded[1 + dy : 1 + dy + h, 1 + dx : 1 + dx + w]
        b = padded[1 - dy : 1 - dy + h, 1 - dx : 1 - dx + w]
        keep |= sel & (mag >= a) & (mag > b)
    candidate = keep & (mag > low)
    labels, n = ndimage.label(candidate, structure=np.ones((3, 3)))
    if n == 0:
        return candidate
    strong = np.unique(labels[candidate & (mag > high)])
    return np.isin(labels, strong[strong > 0])


def edge_smooth(rgb: np.ndarray) -> np.ndarray:
    """The edge-smoothed copy of a uint8 RGB image (same shape and dtype)."""
    gray = np.asarray(Image.fromarray(rgb).convert("L"))
    band = ndimage.binary_dilation(canny(gray), structure=np.ones((5, 5), dtype=bool))
    blurred = rgb.astype(np.float64)
    for axis in (0, 1):
        blurred = ndimage.convolve1d(blurred, GAUSS_TAPS, axis=axis, mode="mirror")
    out = rgb.copy()
    out[band] = np.clip(blurred[band], 0, 255).astype(np.uint8)  # truncates, as the original
    return out


def fit(img: Image.Image, size: int) -> Image.Image:
    """Resize the shorter side to ``size`` and centre-crop to a square."""
    w, h = img.size
    s = size / min(w, h)
    img = img.resize((max(size, round(w * s)), max(size, round(h * s))), Image.Resampling.BICUBIC)
    w, h = img.size
    left, top = (w - size) // 2, (h - size) // 2
    return img.crop((left, top, left + size, top + size))


def prepare(
    style: str | os.PathLike[str],
    photos: str | os.PathLike[str],
    out: str | os.PathLike[str],
    size: int = 256,
    *,
    overwrite: bool = False,
) -> Path:
    """Write ``out/{photo,style,smooth}/*.png`` and ``out/mean.json``, atomically as one folder.

    ``out`` may replace an earlier prepared folder; other contents only with ``overwrite``,
    a folder holding the inputs never (:func:`gankit.core.atomic.check_output_dir`).
    """
    if size < 16 or size % 4:
        raise BadInputError(f"--size must be a multiple of 4 and >= 16, got {size}")
    style_files, photo_files = expand_inputs([style]), expand_inputs([photos])
    sums = np.zeros(3)
    with atomic_dir(out, PREPARED, overwrite=overwrite, inputs=[*style_files, *photo_files]) as tmp:
        for sub in ("photo", "style", "smooth"):
            (tmp / sub).mkdir()
        for i, f in enumerate(photo_files):
            fit(read_image(f), size).save(tmp / "photo" / f"{i:06d}.png")
        for i, f in enumerate(style_files):
            arr = np.asarray(fit(read_image(f), size))
            sums += arr.reshape(-1, 3).mean(0)
            Image.fromarray(arr).save(tmp / "style" / f"{i:06d}.png")
            Image.fromarray(edge_smooth(arr)).save(tmp / "smooth" / f"{i:06d}.png")
        means = sums / len(style_files)
        (tmp / "mean.json").write_text(
            json.dumps({"rgb_mean": means.round(4).tolist(), "size": size}) + "\n"
        )
    return Path(out)
