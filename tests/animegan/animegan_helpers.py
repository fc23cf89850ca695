"""Small deterministic inputs shared by the AnimeGAN tests."""

from __future__ import annotations

import numpy as np
from PIL import Image


def photo(h: int, w: int, seed: int = 0) -> Image.Image:
    """A smooth synthetic photo with some noise (deterministic)."""
    yy, xx = np.mgrid[0:h, 0:w]
    arr = np.stack([128 + 100 * np.sin(xx / 11.0), 128 + 90 * np.cos(yy / 7.0),
                    128 + 60 * np.sin((xx + yy) / 13.0)], -1)
    arr += np.random.default_rng(seed).normal(0, 8, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
