"""Losses against hand-computed values; edge smoothing and dataset preparation."""

from __future__ import annotations

import json
import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from animegan_helpers import photo, write_vgg19_npy
from PIL import Image

from gankit.core.errors import MissingWeightsError
from gankit.families.animegan.prepare import canny, edge_smooth, prepare
from gankit.losses import perceptual
from gankit.losses.color import color_loss, rgb_to_yuv
from gankit.losses.perceptual import caffe_bgr_preprocess, gram, style_loss
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


def test_caffe_bgr_preprocess_scale_and_order():
    red = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)
    assert torch.allclose(
        caffe_bgr_preprocess(red).flatten(), torch.tensor([-103.939, -116.779, 255.0 - 123.68])
    )


def _by_hand(x, convs, pool):
    """conv/ReLU stack to conv4_4 (pre-ReLU) from explicit (OIHW weight, bias) pairs."""
    h, k = x, 0
    for b, n in enumerate((2, 2, 4, 4)):
        if b:
            h = pool(h)
        for i in range(n):
            w, bias = convs[k]
            h = F.conv2d(h, w, bias, padding=1)
            k += 1
            if not (b == 3 and i == n - 1):
                h = F.relu(h)
    return h


def test_torchvision_vgg19_gets_imagenet_normalisation(monkeypatch):
    """Synthetic weights in torchvision's layout; features by hand from ((x+1)/2 - mean)/std."""
    gen = torch.Generator().manual_seed(0)
    widths = [64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512]
    indices = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25]
    state, convs, cin = {"classifier.0.bias": torch.zeros(4096)}, [], 3
    for idx, cout in zip(indices, widths, strict=True):
        w = torch.randn(cout, cin, 3, 3, generator=gen) * (2.0 / (9 * cin)) ** 0.5
        bias = torch.randn(cout, generator=gen) * 0.1
        state[f"features.{idx}.weight"], state[f"features.{idx}.bias"] = w, bias
        convs.append((w, bias))
        cin = cout
    from pathlib import Path

    from torchvision.models import VGG19_Weights

    name = VGG19_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    where = Path(torch.hub.get_dir()) / "checkpoints" / name
    where.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, where)  # as if downloaded and verified (tests/core/test_download_limits.py)
    monkeypatch.setattr("gankit.core.download.download_file", lambda *a, **k: where)
    vgg = perceptual.vgg19_conv4_4(progress=False)
    x = torch.rand(2, 3, 16, 16, generator=gen) * 2 - 1
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    expected = _by_hand(((x + 1) / 2 - mean) / std, convs, lambda h: F.max_pool2d(h, 2))
    with torch.no_grad():
        assert torch.allclose(vgg(x), expected, rtol=1e-4, atol=1e-4)


def test_vgg19_npy_gets_the_originals_preprocessing(tmp_path):
    """AnimeGANv2 tools/vgg19.py: (x+1)/2*255, RGB -> BGR minus VGG_MEAN, SAME max pools."""
    convs = write_vgg19_npy(tmp_path / "vgg19.npy")
    vgg = perceptual.vgg19_npy_conv4_4(tmp_path / "vgg19.npy")
    x = torch.rand(2, 3, 13, 11, generator=torch.Generator().manual_seed(1)) * 2 - 1
    scaled = (x + 1) / 2 * 255.0
    r, g, b = scaled[:, 0:1], scaled[:, 1:2], scaled[:, 2:3]
    bgr = torch.cat([b - 103.939, g - 116.779, r - 123.68], 1)

    def same_pool(h):  # TF 'SAME' 2x2/2: odd sizes padded at the bottom/right
        h = F.pad(h, (0, h.shape[-1] % 2, 0, h.shape[-2] % 2), value=float("-inf"))
        return F.max_pool2d(h, 2)

    expected = _by_hand(bgr, convs, same_pool)
    with torch.no_grad():
        out = vgg(x)
    assert out.shape == expected.shape == (2, 8, 2, 2)
    assert torch.allclose(out, expected, rtol=1e-4, atol=1e-3)


def test_vgg19_npy_never_runs_its_pickle(tmp_path):
    import os

    from gankit.core.errors import CheckpointError

    class Payload:
        def __reduce__(self):
            return os.mkdir, (str(tmp_path / "ran"),)

    np.save(
        tmp_path / "evil.npy", np.array({"conv1_1": Payload()}, dtype=object), allow_pickle=True
    )
    with pytest.raises(CheckpointError, match="evil.npy"):
        perceptual.vgg19_npy_conv4_4(tmp_path / "evil.npy")
    assert not (tmp_path / "ran").exists()
    np.save(tmp_path / "flat.npy", np.zeros(3))
    with pytest.raises(CheckpointError, match="dict of layers"):
        perceptual.vgg19_npy_conv4_4(tmp_path / "flat.npy")
    write_vgg19_npy(tmp_path / "bad.npy", widths=(4, 4, 6, 6, 8, 8, 8, 8, 8, 8, 8, 8))
    data = np.load(tmp_path / "bad.npy", allow_pickle=True).item()
    data["conv2_1"][0] = data["conv2_1"][0][:, :, :3]
    np.save(tmp_path / "bad.npy", data, allow_pickle=True)
    with pytest.raises(CheckpointError, match="conv2_1"):
        perceptual.vgg19_npy_conv4_4(tmp_path / "bad.npy")


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
