"""VGG19 perceptual losses: content (feature L1) and Gram-matrix style, as AnimeGAN uses them.

AnimeGAN (Chen et al. 2020, sec. 3.2) compares VGG19 ``conv4_4`` features *before* the ReLU: an L1
content loss between photo and generated image, and an L1 loss between Gram matrices of the
generated image and the grayscale anime image (normalised by C*H*W as in ``tools/ops.py``).

Weights are torchvision's ImageNet VGG19, fetched once into the torch hub cache (through
:func:`gankit.core.download.download_file`, so with its limits and checks). If they are not
there and cannot be downloaded, :class:`~gankit.core.errors.MissingWeightsError` says where to put
the file; random weights are never used silently. Tests pass a small extractor explicitly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.errors import GankitError, MissingWeightsError

VGG19_URL: str | None = None
"""Where to fetch the weights; ``None`` means torchvision's own URL for ``IMAGENET1K_V1``."""
CONV4_4 = 26
"""Index just past ``conv4_4`` in torchvision's ``vgg19().features`` (pre-activation output)."""
CAFFE_MEAN = (123.68, 116.779, 103.939)
"""The ImageNet pixel mean (RGB) the original TF VGG19 subtracts from [0, 255] inputs."""


def caffe_preprocess(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] RGB -> [0, 255] minus the ImageNet mean, as AnimeGAN's ``tools/vgg19.py`` does.

    The original loss weights were tuned to features of inputs at this scale. Channels stay RGB,
    the order torchvision's filters expect.
    """
    mean = torch.tensor(CAFFE_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x + 1.0) * 127.5 - mean


class VGGFeatures(nn.Module):
    """A frozen feature extractor: ``preprocess`` then ``layers`` (eval mode, no gradients kept)."""

    def __init__(self, layers: nn.Module, preprocess: bool = True) -> None:
        super().__init__()
        self.layers = layers.eval().requires_grad_(False)
        self.preprocess = preprocess

    def train(self, mode: bool = True) -> VGGFeatures:
        del mode
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(caffe_preprocess(x) if self.preprocess else x)


def vgg19_conv4_4(progress: bool = True) -> VGGFeatures:
    """torchvision's ImageNet VGG19 up to ``conv4_4`` (pre-ReLU), downloading it on first use."""
    import re
    from pathlib import Path

    from torchvision.models import VGG19_Weights, vgg19

    from gankit.core.download import download_file
    from gankit.core.foreign import load_torch_file

    url = VGG19_URL or VGG19_Weights.IMAGENET1K_V1.url
    name = url.rsplit("/", 1)[1]
    prefix = re.search(r"-([0-9a-f]{8,64})\.", name)  # torch.hub names carry a SHA-256 prefix
    where = Path(torch.hub.get_dir()) / "checkpoints" / name
    try:
        download_file(url, where, sha256=prefix.group(1) if prefix else None, progress=progress)
    except GankitError as err:
        raise MissingWeightsError(f"VGG19 ImageNet weights for the perceptual losses: {err}"
                                  ) from None
    state = load_torch_file(where)
    net = vgg19()
    net.load_state_dict(state)
    return VGGFeatures(net.features[:CONV4_4])


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
