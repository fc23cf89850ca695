"""NVlabs' ``vgg16.pt`` (the network behind the StyleGAN2/ADA precision/recall and PPL tables),
rebuilt in PyTorch from the weights in its TorchScript archive, never executing the archive.

stylegan2-ada-pytorch@d72cc7d calls it ``vgg16(img, return_features=True)`` for
precision/recall (metrics/precision_recall.py lines 37-38) and
``vgg16(img, resize_images=False, return_lpips=True)`` for PPL, with the squared L2 distance
of the two outputs as LPIPS (metrics/perceptual_path_length.py lines 84-90). Images come in
[0, 255] as floats (PPL) or uint8 (metric_utils.py line 244).

What is known, and what is assumed (the file itself could not be obtained here):

- Its parameters are ``layers.conv1`` ... ``layers.conv13`` (VGG16's convolutions, each followed
  by ReLU), ``layers.fc1`` ... ``layers.fc3`` and the LPIPS v0.1 linear weights ``lpips0`` ...
  ``lpips4`` (one per tapped layer, C x 1 x 1); this is the layout that the published
  conversions of the file read (e.g. genforce's ``PerceptualModel``), and the weights are the
  LPIPS VGG16 trunk (NVlabs' NOTICE: "derived from the pre-trained LPIPS weights").
- Assumed forward, from those conversions and LPIPS itself: input / 255, normalised with the
  ImageNet mean and std (the same map as LPIPS' scaling layer on [-1, 1]); with
  ``resize_images`` an image larger than 224 is resized to 224 x 224 bilinearly as TF1's
  ``resize_bilinear`` does (no half-pixel offset); ``return_features`` is fc2 after its ReLU;
  ``return_lpips`` concatenates, for relu1_2, relu2_2, relu3_3, relu4_3 and relu5_3, the
  channel-normalised features times sqrt(lpips weight / (H W)), so that the squared distance of
  two outputs is LPIPS.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.errors import CheckpointError

URL = "https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/vgg16.pt"
WIDTHS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
POOL_AFTER = (2, 4, 7, 10, 13)
"""1-based indices of the convolutions followed by 2x2 max pooling; LPIPS taps the same ones."""
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def tf_resize_bilinear(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 ``resize_bilinear`` (align_corners=False): source coordinate = destination x in/out."""
    for dim in (2, 3):
        n = x.shape[dim]
        src = torch.arange(size, dtype=torch.float64, device=x.device) * (n / size)
        lo = src.floor().long().clamp(max=n - 1)
        hi = (lo + 1).clamp(max=n - 1)
        frac = (src - lo).to(x.dtype)
        shape = [1, 1, 1, 1]
        shape[dim] = size
        a, b = x.index_select(dim, lo), x.index_select(dim, hi)
        x = a + (b - a) * frac.view(shape)
    return x


class NVlabsVGG16(nn.Module):
    """VGG16 with NVlabs' ``vgg16.pt`` interface: ``forward(img, resize_images=True,
    return_lpips=False, return_features=False)``, images N x 3 x H x W in [0, 255]."""

    def __init__(
        self, widths: tuple[int, ...] = WIDTHS, hidden: int = 4096, classes: int = 1000
    ) -> None:
        super().__init__()
        if len(widths) != 13:
            raise CheckpointError(f"VGG16 has 13 convolutions, got {len(widths)} widths")
        chans = (3, *widths)
        self.convs = nn.ModuleList(
            nn.Conv2d(chans[i], chans[i + 1], 3, padding=1) for i in range(13)
        )
        self.fc1 = nn.Linear(widths[-1] * 7 * 7, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, classes)
        for i, c in enumerate(widths[k - 1] for k in POOL_AFTER):
            self.register_buffer(f"lpips{i}", torch.ones(c))
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) * 255 for v in (IMAGENET_MEAN, IMAGENET_STD))
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(
        self,
        img: torch.Tensor,
        resize_images: bool = True,
        return_lpips: bool = False,
        return_features: bool = False,
    ) -> torch.Tensor:
        if return_lpips == return_features:
            raise ValueError("NVlabsVGG16: ask for exactly one of return_lpips, return_features")
        x = img.float()
        if resize_images and (x.shape[2] > 224 or x.shape[3] > 224):
            x = tf_resize_bilinear(x, 224)
        x = (x - self.mean) / self.std
        taps = []
        for i, conv in enumerate(self.convs, start=1):
            x = F.relu(conv(x))
            if i in POOL_AFTER:
                taps.append(x)
                x = F.max_pool2d(x, 2)
        if return_lpips:
            parts = []
            for i, f in enumerate(taps):
                f = f / (f.norm(dim=1, keepdim=True) + 1e-10)
                w = getattr(self, f"lpips{i}").view(1, -1, 1, 1)
                parts.append((f * (w / (f.shape[2] * f.shape[3])).sqrt()).flatten(1))
            return torch.cat(parts, dim=1)
        x = F.adaptive_avg_pool2d(x, 7).flatten(1)
        return F.relu(self.fc2(F.relu(self.fc1(x))))


def state_from_archive(tensors: dict[str, torch.Tensor], where: str) -> dict[str, torch.Tensor]:
    """gankit's state dict from the archive's tensors (``layers.convN``, ``layers.fcN``,
    ``lpipsN``)."""
    try:
        out = {}
        for i in range(13):
            for part in ("weight", "bias"):
                out[f"convs.{i}.{part}"] = tensors[f"layers.conv{i + 1}.{part}"]
        for i in (1, 2, 3):
            for part in ("weight", "bias"):
                out[f"fc{i}.{part}"] = tensors[f"layers.fc{i}.{part}"]
        for i in range(len(POOL_AFTER)):
            out[f"lpips{i}"] = tensors[f"lpips{i}"].reshape(-1)
    except KeyError as err:
        raise CheckpointError(
            f"{where}: not NVlabs' vgg16.pt layout ({err.args[0]} missing)"
        ) from None
    return {k: v.detach().float().contiguous() for k, v in out.items()}


def load_archive(path: str | os.PathLike[str]) -> NVlabsVGG16:
    """The network from a ``vgg16.pt`` archive, read as data (:mod:`gankit.core.foreign`)."""
    from gankit.core.foreign import load_torchscript_data, script_tensors

    state = state_from_archive(script_tensors(load_torchscript_data(path)), str(path))
    try:
        widths = tuple(int(state[f"convs.{i}.weight"].shape[0]) for i in range(13))
        net = NVlabsVGG16(widths, *state["fc3.weight"].shape[::-1])
        net.load_state_dict(state)
    except (RuntimeError, IndexError) as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"{path}: weights do not fit VGG16 ({first})") from None
    return net.eval().requires_grad_(False)


def nvlabs_vgg16(path: str | os.PathLike[str] | None = None) -> NVlabsVGG16:
    """NVlabs' VGG16: ``path`` if given, else the cached or downloaded ``vgg16.pt``."""
    from gankit.metrics.weights import WeightsSpec, resolve_weights

    spec = WeightsSpec("NVlabs VGG16 (vgg16.pt)", URL, "--weights")
    return load_archive(resolve_weights(spec, path))


class NVlabsFeatures(nn.Module):
    """Precision/recall features as stylegan2-ada-pytorch computes them: gankit images
    ([-1, 1]) to 8-bit levels, fc2 features, stored in float16 (precision_recall.py line 42)."""

    def __init__(self, vgg: NVlabsVGG16) -> None:
        super().__init__()
        self.vgg = vgg

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from gankit.metrics.extractors import to_uint8

        feats = self.vgg(to_uint8(images).float(), return_features=True)
        return feats.half().float()


class NVlabsLPIPS(nn.Module):
    """LPIPS as NVlabs' PPL takes it: images in [-1, 1] scaled to [0, 255] (no rounding),
    no resize, squared distance of the ``return_lpips`` vectors (perceptual_path_length.py
    lines 84-90)."""

    def __init__(self, vgg: NVlabsVGG16) -> None:
        super().__init__()
        self.vgg = vgg

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        fa, fb = (
            self.vgg((x + 1) * (255 / 2), resize_images=False, return_lpips=True) for x in (a, b)
        )
        return (fa - fb).square().sum(dim=1)
