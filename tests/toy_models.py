"""Tiny networks registered under a "toy" family, to test export, the runtime and serve without
any real family; ``v3_like_graph`` builds ONNX graphs shaped like the published AnimeGANv3 files.

``serve_toy_i2i`` is an image-to-image generator (conv, instance norm, a resize down and up, tanh)
and ``serve_toy_latent`` a latent generator with ``z_dim`` and a ``truncation`` keyword, i.e. the
two kinds of :mod:`gankit.runtime.protocol`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.core.errors import ConfigError


@dataclass
class ToyI2IConfig:
    ch: int = 8


@dataclass
class ToyLatentConfig:
    z_dim: int = 16
    size: int = 16


@registry.register("serve_toy_i2i", family="toy", role="generator", config_cls=ToyI2IConfig)
class ToyImageToImage(nn.Module):
    size_multiple = 2

    def __init__(self, config: ToyI2IConfig) -> None:
        super().__init__()
        self.head = nn.Conv2d(3, config.ch, 3, padding=1)
        self.norm = nn.InstanceNorm2d(config.ch, affine=True)
        self.down = nn.Conv2d(config.ch, config.ch, 3, stride=2, padding=1)
        self.tail = nn.Conv2d(config.ch, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.norm(self.head(x)), 0.2)
        h = F.interpolate(self.down(h), scale_factor=2.0, mode="bilinear", align_corners=False)
        return torch.tanh(self.tail(h) + x)


@registry.register("serve_toy_latent", family="toy", role="generator", config_cls=ToyLatentConfig)
class ToyLatent(nn.Module):
    def __init__(self, config: ToyLatentConfig) -> None:
        super().__init__()
        self.z_dim = config.z_dim
        self.size = config.size
        self.fc = nn.Linear(config.z_dim, 4 * (config.size // 2) ** 2)
        self.register_buffer("z_avg", torch.zeros(config.z_dim))
        self.conv = nn.Conv2d(4, 3, 3, padding=1)

    def forward(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        z = self.z_avg.lerp(z, truncation)
        h = self.fc(z).view(z.shape[0], 4, self.size // 2, self.size // 2)
        h = F.interpolate(h, scale_factor=2.0, mode="nearest")
        return torch.tanh(self.conv(h))


def register_style_toy() -> str | None:
    """``serve_toy_stylegan``: the tree's real StyleGAN2 generator (found by registry name,
    not imported) at a tiny default config, given ``z_dim`` if the family does not set it."""
    name = "serve_toy_stylegan"
    try:
        registry.get(name)
        return name
    except ConfigError:
        pass
    try:
        base = registry.get("stylegan2")
    except ConfigError:
        return None
    tiny = dataclasses.make_dataclass(
        "TinyStyleConfig",
        [
            ("size", int, 8),
            ("style_dim", int, 16),
            ("n_mlp", int, 1),
            ("channel_base", int, 64),
            ("channel_max", int, 8),
        ],
        bases=(base.config_cls,),
    )

    class StyleWithZ(base.builder):
        def __init__(self, config) -> None:
            super().__init__(config)
            if not hasattr(self, "z_dim"):
                self.z_dim = config.style_dim

    registry.register(name, family="toy", role="generator", config_cls=tiny)(StyleWithZ)
    return name


def make_models(root: Path) -> dict[str, Path]:
    """Save one seeded model of each toy kind under ``root``; returns name -> folder."""
    torch.manual_seed(0)
    out = {}
    names = ["serve_toy_i2i", "serve_toy_latent"]
    style = register_style_toy()
    if style:
        names.append(style)
    for name in names:
        out[name] = save_pretrained(registry.build(name).eval(), root / name)
    return out


def v3_like_graph(path, layout="NHWC", channels=3, fixed=None):
    """An ONNX graph with the AnimeGANv3 contract: y = tanh(2x) on an NHWC float input."""
    import onnx
    from onnx import TensorProto, helper

    h, w = fixed or ("h", "w")
    if layout == "NHWC":
        shape = ["n", h, w, channels]
    else:
        shape = ["n", channels, h, w]
    nodes = [
        helper.make_node("Mul", ["AnimeGANv3_input:0", "two"], ["scaled"]),
        helper.make_node("Tanh", ["scaled"], ["generator/main/out:0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "v3",
        [helper.make_tensor_value_info("AnimeGANv3_input:0", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("generator/main/out:0", TensorProto.FLOAT, shape)],
        [helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path
