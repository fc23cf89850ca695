"""Losses against hand-computed values; edge smoothing and dataset preparation."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch
from animegan_helpers import photo
from PIL import Image

from gankit.core.errors import MissingWeightsError
from gankit.families.animegan.prepare import canny, edge_smooth, prepare
from gankit.losses import perceptual
from gankit.losses.color import color_loss, rgb_to_yuv
from gankit.losses.perceptual import caffe_preprocess, gram, style_loss
from gankit.losses.total_variation import total_variation_loss


def test_gram_normalised_by_chw():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # B=1, C=2, H=1, W=2
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4.0
    assert torch.allclose(gram(f), expected)
    assert torch.allclose(style_loss(f, torch.zeros_like(f)), expected.abs().mean())


def test_yuv_and_colour_loss_by_hand():
    white = torch.ones(1, 3, 2, 2)
    yuv = rgb_to_yuv(white)
    assert torch.allclose(yuv[:, 0], torch.ones(1, 2, 2))
    assert yuv[:, 1:].abs().max() < 1e-6
    black = -torch.ones(1, 3, 2, 2)
    # Y differs by 1 (L1 = 1); U, V are 0 for both greys
    assert color_loss(white, black).item() == pytest.approx(1.0, abs=1e-6)
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)
    u, v = -0.14714119, 0.61497538
    expected = 0.299 + 0.5 * u * u + 0.5 * v * v  # Huber = x^2/2 for |x| < 1
    assert color_loss(red, -torch.ones(1, 3, 1, 1)).item() == pytest.approx(expected, rel=1e-5)


def test_total_variation_by_hand():
    x = torch.tensor([[[[0.0, 1.0], [2.0, 4.0]]]])
    # vertical diffs: -2, -3 -> (4 + 9)/2 / 2 ; horizontal: -1, -2 -> (1 + 4)/2 / 2
    assert total_variation_loss(x).item() == pytest.approx(13 / 4 + 5 / 4)


def test_lsgan_terms_by_hand():
    from gankit.families.animegan.recipe import _ls

    logits = torch.tensor([0.0, 2.0])
    assert _ls(logits, 1.0).item() == pytest.approx(1.0)
    assert _ls(logits, 0.0).item() == pytest.approx(2.0)


def test_caffe_preprocess_scale():
    x = torch.zeros(1, 3, 1, 1)
    assert torch.allclose(caffe_preprocess(x).flatten(),
                          torch.tensor([127.5 - 123.68, 127.5 - 116.779, 127.5 - 103.939]))


def test_vgg_offline_is_a_clear_error(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(perceptual, "VGG19_URL", f"http://127.0.0.1:{port}/vgg19-dcbb9e9d.pth")
    with pytest.raises(MissingWeightsError, match="vgg19-dcbb9e9d.pth"):
        perceptual.vgg19_conv4_4(progress=False)


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
    expected = (arr[y - 2:y + 3, x - 2:x + 3, 0] * k).sum()
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
