"""A tiny image folder: coloured discs on a dark background, 24x20 px (cropped/resized by D's
dataset), so that training tests run on real files without any download."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


@pytest.fixture(scope="session")
def disc_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("discs")
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:20, 0:24]
    for i in range(12):
        cy, cx, r = rng.uniform(6, 14), rng.uniform(6, 18), rng.uniform(3, 7)
        img = np.zeros((20, 24, 3), np.uint8) + 20
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = rng.integers(80, 255, 3)
        Image.fromarray(img).save(root / f"img{i:02d}.png")
    return root
