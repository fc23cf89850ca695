"""The perceptual losses against hand-computed values: Gram/style loss, the VGG19 feature
extractors (torchvision's weights and the AnimeGAN originals' ``vgg19.npy``) and their
preprocessing."""

from __future__ import annotations

import socket

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from vgg19_npy import write_vgg19_npy

from gankit.core.errors import MissingWeightsError
from gankit.losses import perceptual
from gankit.losses.perceptual import caffe_bgr_preprocess, gram, style_loss


def test_gram_normalised_by_chw():
    f = torch.tensor([[[[1.0, 2.0]], [[3.0, 4.0]]]])  # B=1, C=2, H=1, W=2
    expected = torch.tensor([[[5.0, 11.0], [11.0, 25.0]]]) / 4.0
    assert torch.allclose(gram(f), expected)
    assert torch.allclose(style_loss(f, torch.zeros_like(f)), expected.abs().mean())


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
