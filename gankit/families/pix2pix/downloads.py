"""The published Pix2Pix PyTorch models and datasets of the paper's authors, fetched into the
cache with progress, verified by SHA-256 and converted / extracted.

The authors publish no checksums, so the SHA-256 of the first download is recorded beside the
file and every later use verifies the cached copy against it (``sha256=`` pins a known value
instead). ``base_url`` points at a mirror.
"""

from __future__ import annotations

import os
from pathlib import Path

from gankit.core.archive import safe_extract
from gankit.core.checkpoint import cache_dir, check_model_output
from gankit.core.download import download_file
from gankit.core.errors import BadInputError, UsageError

BASE_URL = "https://efrosgans.eecs.berkeley.edu/pix2pix"
MODELS = {
    "edges2shoes": "edges -> shoes (edges2shoes, AtoB)",
    "sat2map": "aerial photo -> map (maps, AtoB)",
    "map2sat": "map -> aerial photo (maps, BtoA)",
    "facades_label2photo": "labels -> facade photos (facades, BtoA)",
    "day2night": "day -> night (night2day, BtoA)",
}
"""Exactly the models of junyanz/pytorch-CycleGAN-and-pix2pix scripts/download_pix2pix_model.sh
("available models are edges2shoes, sat2map, map2sat, facades_label2photo, and day2night",
@487b2ef); each converted folder records the direction named here."""
DIRECTIONS = {
    "edges2shoes": "AtoB",
    "sat2map": "AtoB",
    "map2sat": "BtoA",
    "facades_label2photo": "BtoA",
    "day2night": "BtoA",
}
DATASETS = ("cityscapes", "night2day", "edges2handbags", "edges2shoes", "facades", "maps")
"""Exactly the datasets of the reference's datasets/download_pix2pix_dataset.sh@27c4ec0
(cityscapes is not redistributable: the reference and gankit explain how to make it)."""
CITYSCAPES_HELP = (
    "cityscapes cannot be redistributed: register and download gtFine_trainvaltest.zip and "
    "leftImg8bit_trainvaltest.zip from the Cityscapes website (cityscapes-dataset.com), put each "
    "photo (A) and its colour label map gtFine/*_color.png (B) into A/train and B/train under "
    "one name, resize both to 256x256, then run `gankit pix2pix prepare A B -o cityscapes`"
)


def cache_root() -> Path:
    return cache_dir() / "pix2pix"


def download(
    name: str,
    out: str | os.PathLike[str] | None = None,
    base_url: str = BASE_URL,
    sha256: str | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Fetch a published generator (``latest_net_G.pth``) and convert it to a model folder
    (``out`` checked before the download, as in :func:`~gankit.core.checkpoint.save_pretrained`)."""
    from gankit.families.pix2pix.convert import convert

    if name not in MODELS:
        raise UsageError(f"unknown Pix2Pix model {name!r}; choose from {', '.join(MODELS)}")
    dest = Path(out) if out is not None else cache_root() / "models" / name
    pth_path = cache_root() / "downloads" / f"{name}.pth"
    check_model_output(dest, overwrite=overwrite, inputs=[pth_path])
    pth = download_file(f"{base_url.rstrip('/')}/models-pytorch/{name}.pth", pth_path, sha256)
    if out is None and (dest / "model.safetensors").exists():
        return dest
    return convert(pth, dest, direction=DIRECTIONS[name], overwrite=overwrite)


def download_dataset(
    name: str,
    out: str | os.PathLike[str] | None = None,
    base_url: str = BASE_URL,
    sha256: str | None = None,
) -> Path:
    """Fetch and safely extract a published dataset; returns the folder holding train/ etc."""
    if name == "cityscapes":
        raise BadInputError(CITYSCAPES_HELP)
    if name not in DATASETS:
        raise UsageError(f"unknown Pix2Pix dataset {name!r}; choose from {', '.join(DATASETS)}")
    archive = download_file(
        f"{base_url.rstrip('/')}/datasets/{name}.tar.gz",
        cache_root() / "downloads" / f"{name}.tar.gz",
        sha256,
        kind="dataset",
    )
    dest = Path(out) if out is not None else cache_root() / "datasets" / name
    if not dest.exists():
        safe_extract(archive, dest)
    inner = dest / name
    return inner if inner.is_dir() else dest
