"""Pretrained feature-network weights: found locally, in the usual cache, or downloaded once.

The files are the ones the standard tools use (torch-fidelity's TF-ported FID Inception,
torchvision's ImageNet networks) under their usual names in torch.hub's cache
(``$TORCH_HOME/hub/checkpoints``), so a copy fetched by torchvision or torch-fidelity is reused.
A download shows a progress bar, is written atomically and checked against the SHA-256 prefix in
its file name (torch.hub's convention). Offline and absent, :class:`MissingWeightsError` names the
file, where to get it and the ``--inception PATH`` / ``--weights PATH`` option that takes a copy.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.core.errors import MissingWeightsError


@dataclass(frozen=True)
class WeightsSpec:
    """One weights file: what it is, where the standard tools fetch it from, and its CLI option."""

    title: str
    url: str
    option: str

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_prefix(self) -> str | None:
        match = re.search(r"-([a-f0-9]{8,})\.", self.filename)
        return match.group(1) if match else None


def fid_inception_spec() -> WeightsSpec:
    """The TF 2015-12-05 Inception graph ported to PyTorch (torch-fidelity's copy; FID, KID, IS)."""
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    return WeightsSpec("FID Inception (TF 2015-12-05 port)", URL_INCEPTION_V3, "--inception")


def torchvision_spec(arch: str) -> WeightsSpec:
    """torchvision's ImageNet weights of ``arch`` (``inception_v3``, ``vgg16`` or ``alexnet``)."""
    import torchvision.models as tvm

    enums = {
        "inception_v3": (tvm.Inception_V3_Weights, "--inception"),
        "vgg16": (tvm.VGG16_Weights, "--weights"),
        "alexnet": (tvm.AlexNet_Weights, "--weights"),
    }
    enum, option = enums[arch]
    return WeightsSpec(f"torchvision {arch} ImageNet", enum.IMAGENET1K_V1.url, option)


def cache_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def _offline() -> bool:
    return os.environ.get("GANKIT_OFFLINE", "") not in ("", "0")


def _missing(spec: WeightsSpec, dest: Path, why: str) -> MissingWeightsError:
    return MissingWeightsError(
        f"{spec.title} weights are needed but {why}; fetch {spec.url} on a connected machine and "
        f"pass {spec.option} PATH (or put the file at {dest})"
    )


def resolve_weights(
    spec: WeightsSpec,
    path: str | os.PathLike[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> Path:
    """A local file with ``spec``'s weights: ``path`` if given, else the cache or a new download."""
    from gankit.core.download import download_file

    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise MissingWeightsError(f"{spec.option} {p}: no such file")
        return p
    dest = Path(cache) if cache is not None else cache_dir()
    dest = dest / spec.filename
    if dest.is_file():
        return dest
    if _offline():
        raise _missing(spec, dest, "they are not cached and downloads are off (GANKIT_OFFLINE)")
    try:
        download_file(spec.url, dest, sha256=spec.sha256_prefix)
    except MissingWeightsError as err:
        raise MissingWeightsError(
            f"{spec.title} weights: {err} (or pass a local copy with {spec.option} PATH)"
        ) from None
    return dest


def load_state_dict(path: Path, spec: WeightsSpec) -> dict[str, Any]:
    """Tensors only (``weights_only=True``): a weights file is never allowed to run code."""
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise MissingWeightsError(
            f"{path}: not a readable {spec.title} weights file ({first})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise MissingWeightsError(f"{path}: not a {spec.title} state dict")
    return state
