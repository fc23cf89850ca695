"""Import the community's AnimeGAN checkpoints into gankit's folder format.

Supported (layout detected from the tensor names, never from the file name):
- bryandlee/animegan2-pytorch ``.pt`` files (``face_paint_512_v1/v2``, ``celeba_distill``,
  ``paprika``): a bare state dict whose keys are already gankit's v2 generator's.
- ptran1203/pytorch-animeGAN release files: ``GeneratorV2_*.pt`` (``models/anime_gan_v2.py``,
  commit aa543f0: the v2 layout under other names plus an output bias) and ``generator_*.pth``
  (``models/anime_gan.py`` ``GeneratorV1``, commit 3415a32), bare or inside its checkpoint dict
  ``{"model_state_dict": ..., "epoch": ...}``.

Files are read with ``torch.load(weights_only=True)``: a pickle that tries to run code is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.core.errors import BadInputError, CheckpointError
from gankit.core.foreign import load_torch_file, strip_prefix

_WRAPPER_KEYS = ("model_state_dict", "state_dict", "generator", "G", "model")


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a foreign ``.pt/.pth`` file, unwrapped from training-checkpoint dicts."""
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise BadInputError(f"{path}: file is empty")
    obj: Any = load_torch_file(path)
    for _ in range(2):
        if isinstance(obj, dict) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
            obj = next((obj[k] for k in _WRAPPER_KEYS if isinstance(obj.get(k), dict)), obj)
    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise CheckpointError(f"{path}: expected a state dict of tensors, found {_describe(obj)}")
    return strip_prefix(obj)


def _describe(obj: Any) -> str:
    if isinstance(obj, dict):
        keys = ", ".join(map(str, list(obj)[:4]))
        return f"a dict with {len(obj)} entries (e.g. {keys})"
    return f"a {type(obj).__name__}"


def _ptran_v2_key(key: str, irbs: set[str]) -> str:
    for old, new in (
        ("conv_block1.", "block_a."),
        ("conv_block2.", "block_b."),
        ("res_blocks.", "block_c."),
        ("conv_block3.", "block_d."),
        ("conv_block4.", "block_e."),
        ("decode_blocks.", "out_layer."),
    ):
        if key.startswith(old):
            key = new + key[len(old) :]
            break
    block = ".".join(key.split(".")[:2])
    if block in irbs:
        for old, new in (
            (".conv_block2.conv.", ".layers.1.1."),
            (".conv_block2.ins_norm.", ".layers.1.2."),
            (".conv_block.conv.", ".layers.0.1."),
            (".conv_block.ins_norm.", ".layers.0.2."),
            (".conv.", ".layers.2."),
            (".norm.", ".layers.3."),
        ):
            if key.startswith(block + old):
                return block + new + key[len(block + old) :]
        return key
    return key.replace(".conv.", ".1.").replace(".ins_norm.", ".2.")


def _ptran_v1_key(key: str) -> str:
    if re.match(r"^res_blocks\.\d+\.conv\.weight$", key):
        return key
    return re.sub(r"\.conv\.weight$", ".1.weight", key)


def detect(state: dict[str, torch.Tensor]) -> tuple[str, Any, dict[str, torch.Tensor]]:
    """``(architecture, config, gankit state dict)`` for a foreign state dict, or a clear error."""
    keys = set(state)
    if {"block_a.0.1.weight", "out_layer.0.weight"} <= keys:
        n_irb = len({k.split(".")[1] for k in keys if ".layers." in k})
        arch = registry.get("animegan_v2_generator")
        cfg = arch.config_cls(n_irb=n_irb, out_bias="out_layer.0.bias" in keys)
        return arch.name, cfg, dict(state)
    if {"conv_block1.0.conv.weight", "decode_blocks.0.weight"} <= keys:
        irbs = {"block_c." + k.split(".")[1] for k in keys if ".conv_block2." in k}
        arch = registry.get("animegan_v2_generator")
        cfg = arch.config_cls(n_irb=len(irbs), out_bias="decode_blocks.0.bias" in keys)
        return arch.name, cfg, {_ptran_v2_key(k, irbs): v for k, v in state.items()}
    if {"encode_blocks.0.conv.weight", "decode_blocks.7.weight"} <= keys:
        n_irb = len({k.split(".")[1] for k in keys if k.startswith("res_blocks.")})
        arch = registry.get("animegan_v1_ptran_generator")
        return (
            arch.name,
            arch.config_cls(n_irb=n_irb),
            {_ptran_v1_key(k): v for k, v in state.items()},
        )
    sample = ", ".join(sorted(keys)[:3])
    raise CheckpointError(
        f"unrecognised AnimeGAN checkpoint: {len(keys)} tensors (e.g. {sample}); expected the "
        "animegan2-pytorch generator or pytorch-animeGAN GeneratorV1/GeneratorV2"
    )


def load_foreign(
    path: str | os.PathLike[str], align_corners: bool | None = None
) -> torch.nn.Module:
    """Build the gankit generator holding a foreign file's weights (eval mode)."""
    name, cfg, state = detect(load_state_dict(path))
    if align_corners is not None and hasattr(cfg, "align_corners"):
        cfg.align_corners = align_corners
    model = registry.build(name, cfg)
    expected = model.state_dict()
    bad = [k for k in expected if k not in state or state[k].shape != expected[k].shape]
    if bad or len(state) != len(expected):
        raise CheckpointError(
            f"{path}: looks like {name} but {len(bad) or abs(len(state) - len(expected))} "
            f"tensor(s) do not fit (e.g. {bad[0] if bad else 'extra tensors'})"
        )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return model.eval()


def convert(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    align_corners: bool | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Convert a foreign checkpoint ``src`` into the gankit model folder ``out`` (atomic;
    ``overwrite`` as in :func:`~gankit.core.checkpoint.save_pretrained`)."""
    model = load_foreign(src, align_corners)
    return save_pretrained(
        model, out, extra={"converted_from": Path(src).name}, overwrite=overwrite, inputs=[src]
    )
