"""FCN-8s (Long et al. 2015) as the Pix2Pix FCN-score runs it, with weights read from its
``.caffemodel``.

The layers, their names, paddings, crop offsets and deconvolutions are those of
junyanz/pytorch-CycleGAN-and-pix2pix ``scripts/eval_cityscapes/caffemodel/deploy.prototxt``
@9a9c1ce (the fcn.berkeleyvision.org FCN-8s with ``_cs`` fully convolutional layers): VGG16
convolutions with ``pad: 100`` on ``conv1_1``, max pooling 2/2 rounding up (Caffe's pooling),
``fc6_cs`` 7x7 and ``fc7_cs`` 1x1 convolutions, 1x1 scores, ``upscore2``/``upscore_pool4``
(4x4, stride 2) and ``upscore8`` (16x16, stride 8) deconvolutions without bias, and the
``Crop`` offsets 5 (``score_pool4c``), 9 (``score_pool3c``) and 31 (``score``). The input is
Caffe's: BGR, mean subtracted, 0..255 (:func:`gankit.metrics.fcn_score.caffe_input`).

The widths are read from the file's blob shapes, so a reduced-width model in the same layout
(as the tests write) loads into the same code; the published model has VGG16's widths, 4096
fully convolutional channels and 20 scores.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gankit.core.errors import CheckpointError

STAGES = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
"""(stage, convolutions) of the VGG16 trunk: conv1_1 .. conv5_3."""
CROP_POOL4, CROP_POOL3, CROP_SCORE = 5, 9, 31
"""The ``crop_param { offset }`` of score_pool4c, score_pool3c and score in deploy.prototxt."""


@dataclass(frozen=True)
class FCN8sConfig:
    """Widths of the five VGG stages, of fc6_cs/fc7_cs, and the number of scores."""

    widths: tuple[int, int, int, int, int] = (64, 128, 256, 512, 512)
    fc: int = 4096
    classes: int = 20


def _conv_names() -> list[str]:
    return [f"conv{s}_{i}" for s, n in STAGES for i in range(1, n + 1)]


def _crop(x: torch.Tensor, like: torch.Tensor, offset: int) -> torch.Tensor:
    """Caffe's ``Crop`` on axes 2 and 3: ``x`` at ``offset`` to ``like``'s height and width."""
    h, w = like.shape[-2:]
    return x[..., offset : offset + h, offset : offset + w]


class FCN8s(nn.Module):
    """Caffe-preprocessed N x 3 x H x W images -> N x classes x H x W scores."""

    def __init__(self, config: FCN8sConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or FCN8sConfig()
        cin = 3
        for (stage, n), width in zip(STAGES, cfg.widths, strict=True):
            for i in range(1, n + 1):
                pad = 100 if (stage, i) == (1, 1) else 1
                self.add_module(f"conv{stage}_{i}", nn.Conv2d(cin, width, 3, padding=pad))
                cin = width
        self.fc6_cs = nn.Conv2d(cin, cfg.fc, 7)
        self.fc7_cs = nn.Conv2d(cfg.fc, cfg.fc, 1)
        self.score_fr = nn.Conv2d(cfg.fc, cfg.classes, 1)
        self.score_pool4 = nn.Conv2d(cfg.widths[3], cfg.classes, 1)
        self.score_pool3 = nn.Conv2d(cfg.widths[2], cfg.classes, 1)
        k = cfg.classes
        self.upscore2 = nn.ConvTranspose2d(k, k, 4, stride=2, bias=False)
        self.upscore_pool4 = nn.ConvTranspose2d(k, k, 4, stride=2, bias=False)
        self.upscore8 = nn.ConvTranspose2d(k, k, 16, stride=8, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        pools = []
        for stage, n in STAGES:
            for i in range(1, n + 1):
                h = F.relu(getattr(self, f"conv{stage}_{i}")(h))
            h = F.max_pool2d(h, 2, 2, ceil_mode=True)
            pools.append(h)
        h = F.relu(self.fc7_cs(F.relu(self.fc6_cs(h))))
        up2 = self.upscore2(self.score_fr(h))
        fuse4 = up2 + _crop(self.score_pool4(pools[3]), up2, CROP_POOL4)
        up4 = self.upscore_pool4(fuse4)
        fuse3 = up4 + _crop(self.score_pool3(pools[2]), up4, CROP_POOL3)
        return _crop(self.upscore8(fuse3), x, CROP_SCORE)


LEARNED = [*_conv_names(), "fc6_cs", "fc7_cs", "score_fr", "score_pool4", "score_pool3"]
DECONVS = ["upscore2", "upscore_pool4", "upscore8"]


def _config_from(blobs: dict[str, list[np.ndarray]], origin: str) -> FCN8sConfig:
    missing = [n for n in LEARNED + DECONVS if n not in blobs]
    if missing:
        raise CheckpointError(
            f"{origin}: not an FCN-8s Caffe model (no layer {', '.join(missing[:3])}"
            f"{' ...' if len(missing) > 3 else ''}; the layer names of the FCN-score's "
            "deploy.prototxt are expected)"
        )
    widths = tuple(int(blobs[f"conv{s}_1"][0].shape[0]) for s, _ in STAGES)
    return FCN8sConfig(
        widths=widths,  # type: ignore[arg-type]
        fc=int(blobs["fc6_cs"][0].shape[0]),
        classes=int(blobs["score_fr"][0].shape[0]),
    )


def fcn8s_from_caffemodel(path: str | os.PathLike[str]) -> FCN8s:
    """The FCN-8s whose weights ``path`` holds (layer names of deploy.prototxt; every blob
    must have the shape the network expects, as Caffe's ``CopyTrainedLayersFrom`` demands;
    layers the network does not use are ignored, as Caffe ignores them)."""
    from gankit.core.caffemodel import read_caffemodel

    blobs = read_caffemodel(path)
    net = FCN8s(_config_from(blobs, str(path)))
    state = {}
    for name in LEARNED + DECONVS:
        module = getattr(net, name)
        params = [module.weight] + ([module.bias] if module.bias is not None else [])
        got = blobs[name]
        if len(got) != len(params):
            raise CheckpointError(
                f"{path}: layer {name} holds {len(got)} blobs, FCN-8s expects {len(params)}"
            )
        for key, param, blob in zip(("weight", "bias"), params, got, strict=False):
            if blob.size != param.numel() or (
                param.dim() == 4 and blob.shape[-param.dim() :] != tuple(param.shape)
            ):
                raise CheckpointError(
                    f"{path}: layer {name} blob {key} has shape {blob.shape}, "
                    f"FCN-8s expects {tuple(param.shape)}"
                )
            state[f"{name}.{key}"] = torch.from_numpy(blob.reshape(param.shape).copy())
    net.load_state_dict(state)
    return net.eval().requires_grad_(False)
