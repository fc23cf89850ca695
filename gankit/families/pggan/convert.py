"""Import of facebookresearch/pytorch_GAN_zoo PGAN checkpoints (its torch.hub models).

A zoo checkpoint is ``{"config": BaseConfig, "netG": ..., "netD": ..., "avgG": ...}``; ``avgG``
(the weight average it samples with) becomes gankit's generator. Layers map by key —
``formatLayer`` -> ``dense``, ``groupScale0.0`` -> ``conv``, ``scaleLayers.i.j`` ->
``blocks.i.conv{j+1}``, ``toRGBLayers.i`` -> ``to_rgb.i`` — and sizes come from the shapes.
The zoo's equalised layers scale the whole output, bias included, by He's constant
``sqrt(2 / fan_in)``, whereas gankit scales the weight only, by its own gain; the import folds the
difference into the stored tensors, so the outputs are identical. The zoo's fade weight
``alpha`` counts the *old* branch (1 = old); gankit's counts the new one.
Both key layouts the zoo has written are read: its published hub checkpoints
(``formatLayer.weight``) and its current code's (``formatLayer.module.weight``, the
``ConstrainedLayer`` wrapper of custom_layers.py@b75dee4, which the zoo's own
``loadStateDictCompatible`` in utils.py maps to the other).
The pickled ``BaseConfig`` is read as plain data through a stand-in class: no code runs.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import torch

from gankit.core import registry
from gankit.core.checkpoint import cache_dir, check_model_output, save_pretrained
from gankit.core.download import download_file
from gankit.core.errors import CheckpointError, MissingWeightsError
from gankit.core.foreign import load_torch_file, strip_prefix, tensor_dict
from gankit.families.pggan.config import GeneratorConfig

ZOO_MODELS = {
    "celebAHQ-256": "https://dl.fbaipublicfiles.com/gan_zoo/PGAN/celebaHQ_s6_i80000-6196db68.pth",
    "celebAHQ-512": (
        "https://dl.fbaipublicfiles.com/gan_zoo/PGAN/celebaHQ16_december_s7_i96000-9c72988c.pth"
    ),
    "DTD": "https://dl.fbaipublicfiles.com/gan_zoo/PGAN/testDTD_s5_i96000-04efa39f.pth",
    "celeba": "https://dl.fbaipublicfiles.com/gan_zoo/PGAN/celebaCropped_s5_i83000-2b0acc76.pth",
}
"""pytorch_GAN_zoo's ``hubconf.py`` PGAN checkpoints; the file names end in a SHA-256 prefix."""

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})\.pth?$")
_WRAPPED = re.compile(r"\.module\.(weight|bias)$")


class ZooBaseConfig:
    """Stands in for ``models.utils.config.BaseConfig``: receives its attributes, runs nothing."""


ZooBaseConfig.__module__ = "models.utils.config"
ZooBaseConfig.__qualname__ = ZooBaseConfig.__name__ = "BaseConfig"


def load_zoo_file(path: str | os.PathLike[str]) -> Any:
    return load_torch_file(path, safe_globals=[ZooBaseConfig])


def zoo_keys(state: dict[str, Any]) -> dict[str, Any]:
    """``state`` with a ``DataParallel`` prefix dropped and ``X.module.weight`` read as
    ``X.weight`` (pytorch_GAN_zoo utils.py ``loadStateDictCompatible``, the same mapping)."""
    return {_WRAPPED.sub(r".\1", k): v for k, v in strip_prefix(dict(state)).items()}


def _zoo_scale(weight: torch.Tensor, equalized: bool) -> float:
    return math.sqrt(2.0 / weight[0].numel()) if equalized else 1.0


def _generator_config(state: dict[str, torch.Tensor]) -> GeneratorConfig:
    if "formatLayer.weight" not in state or "toRGBLayers.0.weight" not in state:
        raise CheckpointError("not a pytorch_GAN_zoo PGAN generator (no formatLayer/toRGBLayers)")
    levels = sum(1 for k in state if re.fullmatch(r"toRGBLayers\.\d+\.weight", k))
    widths = [int(state[f"toRGBLayers.{i}.weight"].shape[1]) for i in range(levels)]
    fmt = state["formatLayer.weight"]
    if fmt.shape[0] != 16 * widths[0]:
        raise CheckpointError(f"formatLayer has {fmt.shape[0]} outputs, expected 16 x {widths[0]}")
    return GeneratorConfig(
        resolution=4 * 2 ** (levels - 1),
        widths=widths,
        channels=int(state["toRGBLayers.0.weight"].shape[0]),
        z_dim=int(fmt.shape[1]),
        normalize_latent=True,
    )


def _key_map(levels: int) -> dict[str, str]:
    """gankit layer name -> zoo layer name."""
    names = {"dense": "formatLayer", "conv": "groupScale0.0"}
    for i in range(levels - 1):
        names[f"blocks.{i}.conv1"] = f"scaleLayers.{i}.0"
        names[f"blocks.{i}.conv2"] = f"scaleLayers.{i}.1"
    for i in range(levels):
        names[f"to_rgb.{i}"] = f"toRGBLayers.{i}"
    return names


def from_zoo_generator(
    state: dict[str, torch.Tensor], equalized: bool = True, zoo_alpha: float = 0.0
) -> torch.nn.Module:
    """A gankit ``pggan_g`` computing exactly what the zoo's ``GNet`` with ``state`` computes."""
    state = zoo_keys(state)
    config = _generator_config(state)
    model = registry.build("pggan_g", config)
    layers = dict(model.named_modules())
    names = _key_map(config.max_level + 1)
    used = set()
    with torch.no_grad():
        for ours, theirs in names.items():
            layer = layers[ours]
            w, b = state.get(f"{theirs}.weight"), state.get(f"{theirs}.bias")
            if (
                w is None
                or b is None
                or w.shape != layer.weight.shape
                or b.shape != layer.bias.shape
            ):
                raise CheckpointError(f"{theirs}: missing or shaped unlike gankit's {ours}")
            c = _zoo_scale(w, equalized)
            layer.weight.copy_(w * (c / layer.scale))
            layer.bias.copy_(b * c)
            used |= {f"{theirs}.weight", f"{theirs}.bias"}
    extra = sorted(set(state) - used)
    if extra:
        raise CheckpointError(f"unexpected tensors in the generator, e.g. {extra[0]!r}")
    model.set_phase(config.max_level, 1.0 - zoo_alpha)
    return model.eval()


def _zoo_settings(obj: dict[str, Any]) -> tuple[bool, float]:
    """``(equalizedlR, alpha)`` from the pickled config; refuses variants gankit cannot run."""
    cfg = obj.get("config")
    if cfg is None:
        return True, 0.0
    get = cfg.get if isinstance(cfg, dict) else lambda k, d=None: getattr(cfg, k, d)
    if not get("perChannelNormalization", True):
        raise CheckpointError("zoo models without pixel normalisation are not supported")
    if get("lossCriterion", "WGANGP") != "WGANGP":
        raise CheckpointError(f"zoo loss {get('lossCriterion')!r} is not supported (WGANGP only)")
    if get("attribKeysOrder"):
        raise CheckpointError("conditional (AC-GAN) zoo models are not supported")
    return bool(get("equalizedlR", True)), float(get("alpha", 0.0) or 0.0)


def convert(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    which: str = "avgG",
    *,
    overwrite: bool = False,
) -> Path:
    """Read a zoo checkpoint (or a bare generator state dict) and write a gankit model folder."""
    obj = load_zoo_file(src)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{src}: expected a pytorch_GAN_zoo checkpoint dict")
    if "formatLayer.weight" in zoo_keys({k: None for k in obj if isinstance(k, str)}):
        state, (equalized, alpha) = obj, (True, 0.0)
    elif which in obj:
        state, (equalized, alpha) = obj[which], _zoo_settings(obj)
    else:
        raise CheckpointError(
            f"{src}: no {which!r} generator in this checkpoint (keys: {', '.join(map(str, obj))})"
        )
    model = from_zoo_generator(tensor_dict(state, f"{src}:{which}"), equalized, alpha)
    return save_pretrained(
        model,
        out,
        extra={
            "converted_from": "pytorch_GAN_zoo PGAN",
            "source_file": Path(src).name,
            "weights": which,
        },
        overwrite=overwrite,
        inputs=[src],
    )


def download(
    name_or_url: str, out: str | os.PathLike[str], which: str = "avgG", *, overwrite: bool = False
) -> Path:
    """Fetch a zoo checkpoint (a ``ZOO_MODELS`` name or a URL) into the cache, check the SHA-256
    prefix its file name carries (torch.hub's convention), and convert it to ``out``."""
    url = ZOO_MODELS.get(name_or_url, name_or_url)
    if "://" not in url:
        raise MissingWeightsError(
            f"unknown zoo model {name_or_url!r}; choose from {', '.join(ZOO_MODELS)} or give a URL"
        )
    filename = url.rsplit("/", 1)[-1]
    dest = cache_dir() / "pggan_zoo" / filename
    check_model_output(out, overwrite=overwrite, inputs=[dest])
    match = _HASH_IN_NAME.search(filename)
    download_file(url, dest, sha256=match.group(1) if match else None)
    return convert(dest, out, which, overwrite=overwrite)
