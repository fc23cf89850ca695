"""NVlabs' published StyleGAN2 networks, fetched into the cache, verified and converted.

NVlabs publishes no checksums for these files, so the SHA-256 of the first download is recorded
beside it and every later use verifies the cached copy against it (``sha256=`` pins a known
value). The pickles are read with the restricted unpickler of :mod:`convert`, never executed.
"""

from __future__ import annotations

import os
from pathlib import Path

from gankit.core.checkpoint import cache_dir, check_model_output
from gankit.core.download import download_file
from gankit.core.errors import UsageError

BASE_URL = "https://nvlabs-fi-cdn.nvidia.com"
MODELS: dict[str, tuple[str, str]] = {
    "ffhq": ("stylegan2-ada-pytorch/pretrained/ffhq.pkl", "FFHQ faces 1024, StyleGAN2-ADA"),
    "metfaces": (
        "stylegan2-ada-pytorch/pretrained/metfaces.pkl",
        "MetFaces portraits 1024, StyleGAN2-ADA (transfer from FFHQ)",
    ),
    "afhqcat": ("stylegan2-ada-pytorch/pretrained/afhqcat.pkl", "AFHQ cats 512, StyleGAN2-ADA"),
    "afhqdog": ("stylegan2-ada-pytorch/pretrained/afhqdog.pkl", "AFHQ dogs 512, StyleGAN2-ADA"),
    "afhqwild": (
        "stylegan2-ada-pytorch/pretrained/afhqwild.pkl",
        "AFHQ wild animals 512, StyleGAN2-ADA",
    ),
    "brecahad": (
        "stylegan2-ada-pytorch/pretrained/brecahad.pkl",
        "BreCaHAD histology 512, StyleGAN2-ADA",
    ),
    "cifar10": (
        "stylegan2-ada-pytorch/pretrained/cifar10.pkl",
        "CIFAR-10 32, class-conditional StyleGAN2-ADA",
    ),
    "ffhq-config-f": (
        "stylegan2/networks/stylegan2-ffhq-config-f.pkl",
        "FFHQ 1024, the original StyleGAN2 config-f (TensorFlow-era pickle)",
    ),
}


def cache_root() -> Path:
    return cache_dir() / "stylegan"


def download(
    name: str,
    out: str | os.PathLike[str] | None = None,
    base_url: str = BASE_URL,
    sha256: str | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Fetch NVlabs' network ``name`` (see :data:`MODELS`) and convert it to a model folder.

    Returns ``out`` (default: the cache) holding the EMA generator; a cached conversion is reused.
    ``out`` is checked before the download, as in :func:`~gankit.core.checkpoint.save_pretrained`.
    """
    from gankit.families.stylegan.convert import convert

    if name not in MODELS:
        raise UsageError(f"unknown StyleGAN model {name!r}; choose from {', '.join(MODELS)}")
    rel = MODELS[name][0]
    pkl = cache_root() / "downloads" / Path(rel).name
    dest = Path(out) if out is not None else cache_root() / "models" / name
    check_model_output(dest, overwrite=overwrite, inputs=[pkl])
    fresh = not pkl.exists()
    download_file(f"{base_url.rstrip('/')}/{rel}", pkl, sha256=sha256)
    if fresh or out is not None or not (dest / "model.safetensors").exists():
        convert(pkl, dest, overwrite=overwrite)
    return dest
