"""State dicts saved by junyanz/pytorch-CycleGAN-and-pix2pix's own ``networks.py`` and their
eval-mode outputs (``parity/importer.safetensors``, made by ``tools/parity/pix2pix.py``; the
commit is in ``parity/SOURCE``): the foreign files the importer must read and what the converted
networks must compute."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

_FILE = load_file(str(Path(__file__).parent / "parity" / "importer.safetensors"))
NAMES = sorted({k.split(".")[0] for k in _FILE})


@dataclass
class ReferenceNet:
    state: dict[str, torch.Tensor]
    """The state dict as the reference saves it."""
    old_stats: dict[str, torch.Tensor]
    """InstanceNorm running statistics a file of PyTorch < 0.4 also holds."""
    x: torch.Tensor
    y: torch.Tensor
    stride: int

    def output(self, net: torch.nn.Module) -> torch.Tensor:
        """``net(x)`` sampled as the fixture's ``y`` is (every stride-th pixel of an image)."""
        with torch.no_grad():
            y = net(self.x)
        return y[..., :: self.stride, :: self.stride] if y.shape[-1] == self.x.shape[-1] else y


def reference_net(name: str) -> ReferenceNet:
    def part(prefix: str) -> dict[str, torch.Tensor]:
        return {k[len(prefix) :]: v.clone() for k, v in _FILE.items() if k.startswith(prefix)}

    stride = int(_FILE[f"{name}.stride"])
    x = _FILE[f"{name}.x"].repeat_interleave(stride, -1).repeat_interleave(stride, -2)
    return ReferenceNet(part(f"{name}.state."), part(f"{name}.old."), x, _FILE[f"{name}.y"], stride)
