"""``gankit animegan prepare``: Canny edges, edge smoothing of the style images and the dataset
folder it writes."""

from __future__ import annotations

import json

import numpy as np
from animegan_helpers import photo
from PIL import Image

from gankit.families.animegan.prepare import canny, edge_smooth, prepare


def _square(size=48):
    arr = np.full((size, size, 3), 30, np.uint8)
    arr[12:36, 12:36] = (220, 180, 40)
    return arr


def test_canny_finds_the_square_outline():
    gray = np.asarray(Image.fromarray(_square()).convert("L"))
    edges = canny(gray)
    ys, xs = np.nonzero(edges)
    assert edges.sum() > 40
    assert ys.min() >= 10 and ys.max() <= 37 and xs.min() >= 10 and xs.max() <= 37
    assert not edges[20:28, 20:28].any() and not edges[:8].any()


def test_edge_smoothing_blurs_only_the_edge_band():
    arr = _square()
    out = edge_smooth(arr)
    assert out.shape == arr.shape and out.dtype == np.uint8
    assert (out[:6] == arr[:6]).all() and (out[20:28, 20:28] == arr[20:28, 20:28]).all()
    # at the corner of the square the 5x5 binomial average mixes both colours
    taps = np.array([1, 4, 6, 4, 1]) / 16.0
    k = np.outer(taps, taps)
    y, x = 12, 12
    expected = (arr[y - 2 : y + 3, x - 2 : x + 3, 0] * k).sum()
    assert out[y, x, 0] == int(expected)
    assert out[y, x, 0] != arr[y, x, 0]


def test_prepare_builds_dataset(tmp_path):
    (tmp_path / "style").mkdir()
    (tmp_path / "photos").mkdir()
    for i in range(2):
        Image.fromarray(_square(40)).save(tmp_path / "style" / f"s{i}.png")
        photo(30, 50, i).save(tmp_path / "photos" / f"p{i}.jpg")
    out = prepare(tmp_path / "style", tmp_path / "photos", tmp_path / "ds", size=32)
    for sub in ("photo", "style", "smooth"):
        files = sorted((out / sub).iterdir())
        assert len(files) == 2 and Image.open(files[0]).size == (32, 32)
    mean = json.loads((out / "mean.json").read_text())["rgb_mean"]
    expected = np.asarray(Image.open(out / "style" / "000000.png"), np.float64).reshape(-1, 3)
    assert np.allclose(mean, expected.mean(0), atol=1e-3)
