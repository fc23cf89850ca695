"""Tiny synthetic paired data for the tests: filled shapes (A) and their outlines (B)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw


def shape_pair(i: int, size: tuple[int, int] = (32, 32)) -> tuple[Image.Image, Image.Image]:
    """A coloured filled shape and the same shape's black outline on white, (width, height)."""
    rng = np.random.default_rng(i)
    w, h = size
    x0, y0 = int(rng.integers(2, w // 2)), int(rng.integers(2, h // 2))
    x1, y1 = int(rng.integers(w // 2 + 2, w - 2)), int(rng.integers(h // 2 + 2, h - 2))
    color = tuple(int(c) for c in rng.integers(40, 255, 3))
    a, b = Image.new("RGB", size, "white"), Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(a).ellipse if i % 2 else ImageDraw.Draw(a).rectangle
    draw((x0, y0, x1, y1), fill=color)
    edge = ImageDraw.Draw(b).ellipse if i % 2 else ImageDraw.Draw(b).rectangle
    edge((x0, y0, x1, y1), outline="black", width=2)
    return a, b


def write_aligned(folder: Path, n: int, size: tuple[int, int] = (32, 32)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        a, b = shape_pair(i, size)
        ab = Image.new("RGB", (size[0] * 2, size[1]))
        ab.paste(a, (0, 0))
        ab.paste(b, (size[0], 0))
        ab.save(folder / f"{i:03d}.png")
    return folder


def write_two_folders(
    root: Path, n: int, size: tuple[int, int] = (32, 32), phase: str | None = None
) -> Path:
    for i in range(n):
        a, b = shape_pair(i, size)
        for side, img in (("A", a), ("B", b)):
            d = root / side / phase if phase else root / side
            d.mkdir(parents=True, exist_ok=True)
            img.save(d / f"{i:03d}.png")
    return root
