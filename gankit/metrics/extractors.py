"""The standard feature networks, each taking gankit images (N x 3 x H x W floats in [-1, 1]).

- :func:`fid_inception`: torch-fidelity's port of the TF Inception used by FID, KID and IS
  (the network torchmetrics and torch-fidelity use, with their uint8 input, TF-style bilinear
  resize to 299 and ``(x - 128) / 128`` scaling), returning 2048-d pool features and/or the
  1008 unbiased logits.
- :func:`vgg16_fc2`: torch-fidelity's VGG16 fc2 features (torchvision weights), precision/recall's
  ``--network torch-fidelity``.
- :func:`nvlabs_pr_features` / :func:`nvlabs_lpips`: NVlabs' ``vgg16.pt``
  (:mod:`gankit.metrics.nvlabs_vgg`), the network of the StyleGAN2/ADA precision/recall and PPL
  numbers, and gankit's default for both.
- :func:`sifid_inception`: the 192-channel block (after ``Conv2d_4a_3x3``) of torchvision's
  ImageNet Inception v3 at the input's own resolution, which is what tamarott/SinGAN's SIFID
  script uses (Shaham et al. 2019, sec. 4.1).
- :func:`lpips_network`: the ``lpips`` package's LPIPS (Zhang et al. 2018) with its shipped linear
  layers and torchvision's trunk weights.

Images read from 8-bit files map back to exactly the same uint8 values the standard tools see.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import torch
from torch import nn

from gankit.metrics.weights import (
    fid_inception_spec,
    load_state_dict,
    resolve_weights,
    torchvision_spec,
)

PathLike = str | os.PathLike[str] | None


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255], rounding as an 8-bit image file would store them."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class _TorchFidelityNet(nn.Module):
    """Feeds uint8 images to a torch-fidelity feature extractor and returns its features."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        out = self.net(to_uint8(images))
        return out[0] if len(out) == 1 else out


def _checked_path(spec: Any, path: PathLike) -> str:
    file = resolve_weights(spec, path)
    load_state_dict(file, spec)  # refuse anything but tensors before torch-fidelity loads it
    return str(file)


def fid_inception(path: PathLike = None, features: tuple[str, ...] = ("2048",)) -> nn.Module:
    """FID Inception returning ``features`` ("2048" and/or "logits_unbiased", torch-fidelity's)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    weights = _checked_path(fid_inception_spec(), path)
    net = FeatureExtractorInceptionV3(
        "inception-v3-compat", list(features), feature_extractor_weights_path=weights
    )
    return _TorchFidelityNet(net).eval()


def vgg16_fc2(path: PathLike = None) -> nn.Module:
    """VGG16 fc2 features (4096-d) for precision/recall."""
    from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

    weights = _checked_path(torchvision_spec("vgg16"), path)
    net = FeatureExtractorVGG16("vgg16-fe", ["fc2"], feature_extractor_weights_path=weights)
    return _TorchFidelityNet(net).eval()


class SIFIDInception(nn.Module):
    """Inception v3 up to ``Conv2d_4a_3x3``: 192 x h x w feature maps, no resizing.

    SinGAN's script feeds ``2 * x - 1`` of [0, 1] images, i.e. exactly gankit's [-1, 1] tensors.
    """

    def __init__(self, inception: nn.Module) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            inception.Conv2d_1a_3x3,
            inception.Conv2d_2a_3x3,
            inception.Conv2d_2b_3x3,
            inception.maxpool1,
            inception.Conv2d_3b_1x1,
            inception.Conv2d_4a_3x3,
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.blocks(images)


def sifid_inception(path: PathLike = None) -> nn.Module:
    """SIFID's feature network with torchvision's ImageNet Inception v3 weights."""
    from torchvision.models import inception_v3

    spec = torchvision_spec("inception_v3")
    state = load_state_dict(resolve_weights(spec, path), spec)
    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    _load(net, state, path or spec.filename)
    return SIFIDInception(net).eval().requires_grad_(False)


def _load(net: nn.Module, state: dict[str, torch.Tensor], origin: Any) -> None:
    from gankit.core.errors import MissingWeightsError

    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise MissingWeightsError(f"{origin}: weights do not fit the network ({first})") from None


def lpips_network(net: str = "alex", path: PathLike = None) -> nn.Module:
    """LPIPS v0.1 with trunk ``net`` ("alex" or "vgg"); inputs in [-1, 1], output N x 1 x 1 x 1."""
    import torchvision.models as tvm

    arch = {"alex": "alexnet", "vgg": "vgg16"}[net]
    spec = torchvision_spec(arch)
    trunk = getattr(tvm, arch)(weights=None)
    _load(trunk, load_state_dict(resolve_weights(spec, path), spec), path or spec.filename)
    return lpips_from_trunk(net, trunk)


def lpips_from_trunk(net: str, trunk: nn.Module) -> nn.Module:
    """The ``lpips`` package's model with its shipped linear layers on ``trunk``'s features."""
    import warnings

    import lpips

    with warnings.catch_warnings():  # lpips still passes torchvision's old ``pretrained`` flag
        warnings.simplefilter("ignore", UserWarning)
        model = lpips.LPIPS(pretrained=True, net=net, pnet_rand=True, verbose=False)
    features = trunk.features.state_dict()
    # lpips splits torchvision's ``features`` into slices that keep the original indices.
    remapped = {k: features[k.split(".", 1)[1]] for k in model.net.state_dict()}
    model.net.load_state_dict(remapped)
    return model.eval().requires_grad_(False)


def nvlabs_pr_features(path: PathLike = None) -> nn.Module:
    """NVlabs' ``vgg16.pt`` fc2 features, as stylegan2-ada-pytorch's precision/recall."""
    from gankit.metrics.nvlabs_vgg import NVlabsFeatures, nvlabs_vgg16

    return NVlabsFeatures(nvlabs_vgg16(path)).eval()


def nvlabs_lpips(path: PathLike = None) -> nn.Module:
    """NVlabs' ``vgg16.pt`` LPIPS distance, as stylegan2-ada-pytorch's PPL."""
    from gankit.metrics.nvlabs_vgg import NVlabsLPIPS, nvlabs_vgg16

    return NVlabsLPIPS(nvlabs_vgg16(path)).eval()


@cache
def cached(kind: str, path: str | None = None) -> nn.Module:
    """One instance per (network, weights file) per process: loading Inception takes a while."""
    builders = {
        "vgg16-nvlabs": nvlabs_pr_features,
        "lpips-nvlabs": nvlabs_lpips,
        "fid": fid_inception,
        "vgg16": vgg16_fc2,
        "sifid": sifid_inception,
        "fid-logits": lambda p: fid_inception(p, ("logits_unbiased",)),
        "lpips-alex": lambda p: lpips_network("alex", p),
        "lpips-vgg": lambda p: lpips_network("vgg", p),
    }
    return builders[kind](path)
