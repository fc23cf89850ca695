"""Import of junyanz/pytorch-CycleGAN-and-pix2pix checkpoints (``*_net_G.pth``, ``*_net_D.pth``).

The reference saves bare ``state_dict``s whose architecture is fixed by command-line flags that
must match at load time (``--netG``, ``--norm``, ``--no_dropout``...). Here everything is read
from the keys and shapes instead, so there are no flags to get wrong:

- the U-Net nests ``model.model.1.model.3.model...`` once per level -> ``num_downs``;
- the ResNet has ``model.N.conv_block.M`` blocks; a ``conv_block.6`` conv means dropout;
- the PatchGAN is a flat ``model.N`` of 4x4 convs -> ``n_layers``; the PixelGAN is ``net.N``;
- BatchNorm leaves ``weight``/``running_mean`` pairs (files of PyTorch < 0.4.1, such as the
  published models, lack ``num_batches_tracked``; it is set to 0 as PyTorch itself does);
- the InstanceNorm of files written before PyTorch 0.4 leaves only ``running_mean/var``
  (dropped, as the reference's ``__patch_instance_norm_state_dict`` does); otherwise a biased
  conv means instance norm and an unbiased one means no norm.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import torch

from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.core.errors import CheckpointError, UsageError
from gankit.core.foreign import load_torch_file, strip_prefix, tensor_dict
from gankit.families.pix2pix.config import (
    DIRECTIONS,
    GeneratorConfig,
    PatchConfig,
    PixelConfig,
    Resnet6Config,
    ResnetConfig,
    Unet128Config,
    UnetConfig,
)

_STAT_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")


def load_foreign(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """A reference ``.pth`` as a flat ``{key: tensor}`` (``weights_only`` loading; a
    ``DataParallel`` ``module.`` prefix or a ``{"state_dict": ...}`` wrapper is removed)."""
    with contextlib.suppress(OSError), open(path, "rb") as fh:
        head = fh.read(4)
        if head and head != b"PK\x03\x04" and head[:1] != b"\x80":
            raise CheckpointError(
                f"{path}: not a PyTorch .pth file (neither a zip archive nor a "
                "pickle); expected a junyanz *_net_G.pth or *_net_D.pth"
            )
    obj = load_torch_file(path)
    if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
        obj = obj["state_dict"]
    return strip_prefix(tensor_dict(obj, str(path)))


def _norm_of(state: dict[str, torch.Tensor], norm_prefixes: list[str], conv_key: str) -> str:
    """batch | instance | none from the first norm slot's keys and its conv's bias."""
    for prefix in norm_prefixes:
        if f"{prefix}.weight" in state and f"{prefix}.running_mean" in state:
            return "batch"
        if f"{prefix}.running_mean" in state:
            return "instance"
    return "instance" if f"{conv_key}.bias" in state else "none"


def _unet(state: dict[str, torch.Tensor]) -> tuple[str, Any]:
    prefix, num_downs = "model.model.", 1
    while any(k.startswith(prefix + ("1.model." if num_downs == 1 else "3.model.")) for k in state):
        prefix += "1.model." if num_downs == 1 else "3.model."
        num_downs += 1
    first, last = state["model.model.0.weight"], state.get("model.model.3.weight")
    if last is None or num_downs < 5:
        raise CheckpointError(
            f"a U-Net-like state dict with {num_downs} levels, which is not a "
            "Pix2Pix U-Net (5 or more levels)"
        )
    second = "model.model.1.model."
    norm = _norm_of(state, [second + "2"], second + "1")
    has_dropout = True  # dropout has no weights; the Pix2Pix default (not --no_dropout)
    cls, name = (
        (Unet128Config, "pix2pix_unet_128") if num_downs == 7 else (UnetConfig, "pix2pix_unet_256")
    )
    cfg = cls(
        norm=norm,
        input_nc=first.shape[1],
        output_nc=last.shape[1],
        ngf=first.shape[0],
        num_downs=num_downs,
        use_dropout=has_dropout,
    )
    return name, cfg


def _resnet(state: dict[str, torch.Tensor]) -> tuple[str, Any]:
    blocks = sorted(
        {int(m.group(1)) for k in state if (m := re.match(r"model\.(\d+)\.conv_block\.", k))}
    )
    first = state["model.1.weight"]
    convs = [
        k
        for k, v in state.items()
        if k.startswith("model.")
        and k.endswith(".weight")
        and v.dim() == 4
        and "conv_block" not in k
    ]
    last = state[max(convs, key=lambda k: int(k.split(".")[1]))]
    b0 = f"model.{blocks[0]}.conv_block."
    dropout = f"{b0}6.weight" in state and state[f"{b0}6.weight"].dim() == 4
    norm = _norm_of(state, ["model.2"], "model.1")
    n = len(blocks)
    cls, name = (
        (Resnet6Config, "pix2pix_resnet_6blocks")
        if n == 6
        else (ResnetConfig, "pix2pix_resnet_9blocks")
    )
    cfg = cls(
        norm=norm,
        input_nc=first.shape[1],
        output_nc=last.shape[0],
        ngf=first.shape[0],
        n_blocks=n,
        use_dropout=dropout,
    )
    return name, cfg


def _patchgan(state: dict[str, torch.Tensor]) -> tuple[str, Any]:
    convs = sorted(
        (
            int(k.split(".")[1])
            for k, v in state.items()
            if k.startswith("model.") and k.endswith(".weight") and v.dim() == 4
        )
    )
    first = state["model.0.weight"]
    if len(convs) < 3 or state[f"model.{convs[-1]}.weight"].shape[0] != 1:
        raise CheckpointError(
            "a flat model.N state dict that is not a PatchGAN "
            "(expected 4x4 convs ending in one output channel)"
        )
    norm = _norm_of(state, [f"model.{convs[1] + 1}"], f"model.{convs[1]}")
    cfg = PatchConfig(
        norm=norm, input_nc=first.shape[1], ndf=first.shape[0], n_layers=len(convs) - 2
    )
    return "pix2pix_patchgan", cfg


def _pixelgan(state: dict[str, torch.Tensor]) -> tuple[str, Any]:
    first = state["net.0.weight"]
    norm = _norm_of(state, ["net.3"], "net.2")
    return "pix2pix_pixelgan", PixelConfig(norm=norm, input_nc=first.shape[1], ndf=first.shape[0])


def detect(state: dict[str, torch.Tensor]) -> tuple[str, Any]:
    """(architecture name, config) of a reference state dict, or a CheckpointError saying what
    the keys look like instead."""
    keys = set(state)
    if "model.model.0.weight" in keys:
        return _unet(state)
    if "model.1.weight" in keys and any(".conv_block." in k for k in keys):
        return _resnet(state)
    if (
        "model.0.weight" in keys
        and state["model.0.weight"].dim() == 4
        and state["model.0.weight"].shape[-1] == 4
    ):
        return _patchgan(state)
    if (
        "net.0.weight" in keys
        and state["net.0.weight"].dim() == 4
        and state["net.0.weight"].shape[-1] == 1
    ):
        return _pixelgan(state)
    sample = ", ".join(sorted(keys)[:3])
    raise CheckpointError(
        f"not a junyanz Pix2Pix/CycleGAN generator or discriminator: {len(keys)} tensors such as "
        f"{sample} (expected model.model.* for a U-Net, model.N.conv_block.* for a ResNet, "
        "model.N.* for a PatchGAN or net.N.* for a PixelGAN)"
    )


def convert_state_dict(
    state: dict[str, torch.Tensor], direction: str | None = None
) -> torch.nn.Module:
    """Build the detected network and load ``state`` into it, strictly (after dropping the stray
    InstanceNorm statistics that the reference also ignores). A generator records
    ``direction`` (default AtoB, the reference's ``--direction`` default); the reference's
    files do not say which way they were trained."""
    name, cfg = detect(state)
    if isinstance(cfg, GeneratorConfig):
        cfg = dataclasses.replace(cfg, direction=direction or "AtoB")
    elif direction is not None:
        raise UsageError(f"{name} is a discriminator: only a generator records a direction")
    model = registry.build(name, cfg)
    expected = model.state_dict()
    clean = {k: v for k, v in state.items() if k in expected or not k.endswith(_STAT_SUFFIXES)}
    for k in expected.keys() - clean.keys():
        if k.endswith(".num_batches_tracked"):  # files from before PyTorch 0.4.1 lack it
            clean[k] = torch.zeros((), dtype=torch.long)
    missing = sorted(set(expected) - set(clean))
    unexpected = sorted(set(clean) - set(expected))
    if missing or unexpected:
        what = (f"missing {missing[0]!r}" if missing else "") + (
            f"{'; ' if missing else ''}unexpected {unexpected[0]!r}" if unexpected else ""
        )
        raise CheckpointError(f"looks like {name} ({cfg}) but the tensors do not fit: {what}")
    for k, v in clean.items():
        if tuple(v.shape) != tuple(expected[k].shape):
            raise CheckpointError(
                f"looks like {name} but {k!r} has shape {tuple(v.shape)}, "
                f"expected {tuple(expected[k].shape)}"
            )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in clean.items()}, strict=True)
    return model.eval()


def convert(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    direction: str | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """``gankit pix2pix convert FILE -o DIR [--direction BtoA]``: a reference ``.pth`` -> a
    gankit model folder (a generator records ``direction``, default AtoB)."""
    if direction not in (None, *DIRECTIONS):
        raise UsageError(f"direction must be AtoB or BtoA, got {direction!r}")
    model = convert_state_dict(load_foreign(path), direction)
    return save_pretrained(
        model,
        out_dir,
        extra={"converted_from": Path(path).name},
        overwrite=overwrite,
        inputs=[path],
    )
