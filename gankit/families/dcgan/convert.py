"""Import of the ``netG`` / ``netD`` state dicts saved by PyTorch's DCGAN example.

``examples/dcgan/main.py`` saves ``netG_epoch_N.pth`` and ``netD_epoch_N.pth``: a ``main``
``nn.Sequential`` whose indices gankit's networks reproduce, so the import maps keys one to one;
the sizes (z, ngf/ndf, channels, resolution) are read from the tensor shapes. Its D ends in a
sigmoid, which gankit's D leaves to the loss: ``sigmoid(gankit D(x))`` equals the example's output.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.core.errors import CheckpointError
from gankit.core.foreign import load_torch_file, strip_prefix, tensor_dict
from gankit.families.dcgan.config import DiscriminatorConfig, GeneratorConfig


def _conv_weights(state: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    """The 4-D ``main.<i>.weight`` tensors in layer order (the convolutions)."""
    convs = [
        (int(k.split(".")[1]), v)
        for k, v in state.items()
        if k.startswith("main.") and k.endswith(".weight") and v.dim() == 4
    ]
    return [v for _, v in sorted(convs, key=lambda item: item[0])]


def detect(state: dict[str, torch.Tensor]) -> tuple[str, Any]:
    """``("dcgan_g", GeneratorConfig)`` or ``("dcgan_d", DiscriminatorConfig)`` from the shapes."""
    convs = _conv_weights(state)
    if len(convs) < 3:
        raise CheckpointError("not a DCGAN-example state dict (expected main.<i>.weight convs)")
    resolution = 4 * 2 ** (len(convs) - 1)
    first, last = convs[0], convs[-1]
    try:
        if first.shape[2:] == (4, 4) and last.shape[0] != 1:  # ConvTranspose: (in, out, k, k)
            return "dcgan_g", GeneratorConfig(
                resolution=resolution,
                z_dim=first.shape[0],
                ngf=last.shape[0],
                channels=last.shape[1],
            )
        return "dcgan_d", DiscriminatorConfig(
            resolution=resolution, ndf=first.shape[0], channels=first.shape[1]
        )
    except ValueError as err:
        raise CheckpointError(f"unsupported DCGAN layout: {err}") from None


def from_example_state(state: dict[str, torch.Tensor]) -> torch.nn.Module:
    """A gankit DCGAN network holding the example's weights (eval mode)."""
    state = strip_prefix(dict(state))
    arch, config = detect(state)
    model = registry.build(arch, config)
    # Checkpoints from PyTorch < 0.4 have no BN ``num_batches_tracked``; it does not affect outputs.
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(f"weights do not fit {arch} {config}: {first}") from None
    return model.eval()


def convert(
    src: str | os.PathLike[str], out: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Read a ``netG_*.pth`` / ``netD_*.pth`` file and write a gankit model folder to ``out``."""
    state = tensor_dict(load_torch_file(src), str(src))
    model = from_example_state(state)
    return save_pretrained(
        model,
        out,
        extra={"converted_from": "pytorch/examples dcgan", "source_file": Path(src).name},
        overwrite=overwrite,
        inputs=[src],
    )
