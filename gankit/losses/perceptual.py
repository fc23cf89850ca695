"""VGG19 perceptual losses: content (feature L1) and Gram-matrix style, as AnimeGAN uses them.

AnimeGAN (Chen et al. 2020, sec. 3.2) compares VGG19 ``conv4_4`` features *before* the ReLU: an L1
content loss between photo and generated image, and an L1 loss between Gram matrices of the
generated image and the grayscale anime image (normalised by C*H*W as in ``tools/ops.py``).

Two networks, each fed the input it was trained on:

- :func:`vgg19_conv4_4`: torchvision's ImageNet VGG19, fetched once into the torch hub cache
  (through :func:`gankit.core.download.download_file`, so with its limits and checks); input
  ``(x / 255 - mean) / std`` in RGB. If the weights are not there and cannot be downloaded,
  :class:`~gankit.core.errors.MissingWeightsError` says where to put the file.
- :func:`vgg19_npy_conv4_4`: the original's Caffe VGG19 from its ``vgg19.npy``; input BGR in
  [0, 255] minus the Caffe mean, 2x2 max pools padded like TF's ``SAME`` (AnimeGANv2
  ``tools/vgg19.py``@8f97ab4). The loss weights of the original presets were tuned on these
  features.

Random weights are never used silently; tests pass a small extractor explicitly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.errors import CheckpointError, GankitError, MissingWeightsError

VGG19_URL: str | None = None
"""Where to fetch the weights; ``None`` means torchvision's own URL for ``IMAGENET1K_V1``."""
VGG19_TO_CONV4_4 = ((64, 64), (128, 128), (256, 256, 256, 256), (512, 512, 512, 512))
"""Output channels of each conv, block by block, up to ``conv4_4``."""
CONV4_4 = 26
"""Index just past ``conv4_4`` in torchvision's ``vgg19().features`` (pre-activation output)."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""The RGB normalisation torchvision's ImageNet weights expect on [0, 1] inputs."""
CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
"""``VGG_MEAN`` of the original's ``tools/vgg19.py``: the ImageNet pixel mean in BGR, [0, 255]."""


def imagenet_preprocess(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] RGB -> ``((x + 1) / 2 - mean) / std``, the input of torchvision's VGG19."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return ((x + 1.0) * 0.5 - mean) / std


def caffe_bgr_preprocess(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] RGB -> BGR in [0, 255] minus ``CAFFE_BGR_MEAN`` (AnimeGANv2 ``tools/vgg19.py``
    ``build``), the input of the Caffe VGG19 in ``vgg19.npy``."""
    mean = torch.tensor(CAFFE_BGR_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x.flip(1) + 1.0) * 127.5 - mean


class VGGFeatures(nn.Module):
    """A frozen feature extractor: ``preprocess`` then ``layers`` (eval mode, no gradients kept).

    ``preprocess=None`` feeds the [-1, 1] input as is.
    """

    def __init__(
        self,
        layers: nn.Module,
        preprocess: Callable[[torch.Tensor], torch.Tensor] | None = imagenet_preprocess,
    ) -> None:
        super().__init__()
        self.layers = layers.eval().requires_grad_(False)
        self.preprocess = preprocess

    def train(self, mode: bool = True) -> VGGFeatures:
        del mode
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.preprocess(x) if self.preprocess is not None else x)


def _vgg_to_conv4_4(
    blocks: tuple[tuple[int, ...], ...], in_ch: int = 3, ceil_mode: bool = False
) -> nn.Sequential:
    """3x3 convs with ReLUs, 2x2 max pools between blocks, ending on conv4_4 without its ReLU.

    Indices are those of torchvision's ``vgg19().features``; ``ceil_mode=True`` pads odd sizes
    at the bottom/right as TF's ``SAME`` max pool does.
    """
    layers: list[nn.Module] = []
    for b, widths in enumerate(blocks):
        if b:
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=ceil_mode))
        for width in widths:
            layers += [nn.Conv2d(in_ch, width, 3, padding=1), nn.ReLU(inplace=True)]
            in_ch = width
    return nn.Sequential(*layers[:-1])


def vgg19_conv4_4(progress: bool = True) -> VGGFeatures:
    """torchvision's ImageNet VGG19 up to ``conv4_4`` (pre-ReLU), downloading it on first use."""
    import re
    from pathlib import Path

    from torchvision.models import VGG19_Weights

    from gankit.core.download import download_file
    from gankit.core.foreign import load_torch_file

    url = VGG19_URL or VGG19_Weights.IMAGENET1K_V1.url
    name = url.rsplit("/", 1)[1]
    prefix = re.search(r"-([0-9a-f]{8,64})\.", name)  # torch.hub names carry a SHA-256 prefix
    where = Path(torch.hub.get_dir()) / "checkpoints" / name
    try:
        download_file(url, where, sha256=prefix.group(1) if prefix else None, progress=progress)
    except GankitError as err:
        raise MissingWeightsError(
            f"VGG19 ImageNet weights for the perceptual losses: {err}"
        ) from None
    state = load_torch_file(where)
    layers = _vgg_to_conv4_4(VGG19_TO_CONV4_4)
    wanted = set(layers.state_dict())
    layers.load_state_dict(
        {
            k[len("features.") :]: v
            for k, v in state.items()
            if k.startswith("features.") and k[len("features.") :] in wanted
        }
    )
    return VGGFeatures(layers, imagenet_preprocess)


def vgg19_npy_conv4_4(path: str | Path) -> VGGFeatures:
    """The original's Caffe VGG19 from ``vgg19.npy`` (``{"conv1_1": [W (HWIO), b], ...}``),
    up to ``conv4_4`` pre-ReLU, with the original's BGR/mean input and TF ``SAME`` pooling.

    The file is read without running its pickle (:func:`gankit.core.foreign.load_npy_object`);
    channel counts come from the file, so a file in the same layout at other widths also loads.
    """
    from gankit.core.foreign import load_npy_object

    data = load_npy_object(path)
    if not isinstance(data, Mapping):
        raise CheckpointError(f"{path}: not a vgg19.npy (expected a dict of layers)")
    blocks: list[tuple[int, ...]] = []
    tensors: list[tuple[torch.Tensor, torch.Tensor]] = []
    in_ch = 3
    for b, n_convs in enumerate(len(block) for block in VGG19_TO_CONV4_4):
        widths: list[int] = []
        for i in range(1, n_convs + 1):
            w, bias = _npy_conv(data, f"conv{b + 1}_{i}", in_ch, path)
            tensors.append((w, bias))
            widths.append(w.shape[0])
            in_ch = w.shape[0]
        blocks.append(tuple(widths))
    layers = _vgg_to_conv4_4(tuple(blocks), ceil_mode=True)
    convs = [m for m in layers if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for conv, (w, bias) in zip(convs, tensors, strict=True):
            conv.weight.copy_(w)
            conv.bias.copy_(bias)
    return VGGFeatures(layers, caffe_bgr_preprocess)


def _npy_conv(
    data: Mapping[str, Any], name: str, in_ch: int, path: str | Path
) -> tuple[torch.Tensor, torch.Tensor]:
    """``data[name] = [W (3, 3, in_ch, out), b (out,)]`` as a PyTorch (out, in, 3, 3) weight."""
    import numpy as np

    entry = data.get(name)
    try:
        w, b = (np.asarray(a, np.float32) for a in entry)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise CheckpointError(f"{path}: {name} missing or not a [weights, biases] pair") from None
    if w.shape[:3] != (3, 3, in_ch) or b.shape != (w.shape[3],):
        raise CheckpointError(
            f"{path}: {name} has shapes {w.shape}, {b.shape}; expected (3, 3, {in_ch}, C) and (C,)"
        )
    return torch.from_numpy(w.transpose(3, 2, 0, 1).copy()), torch.from_numpy(b.copy())


def gram(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, C) Gram matrices divided by C*H*W (AnimeGAN ``tools/ops.gram``)."""
    b, c, h, w = features.shape
    f = features.reshape(b, c, h * w).float()
    return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)


def content_loss(features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of two feature maps."""
    return F.l1_loss(features_a, features_b)


def style_loss(features_a: torch.Tensor, features_b: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of the Gram matrices of two feature maps."""
    return F.l1_loss(gram(features_a), gram(features_b))
