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
from gankit.core.atomic import atomic_write_text
from gankit.core.checkpoint import cache_dir, check_model_output
from gankit.core.download import download_file, sha256_file
from gankit.core.errors import BadInputError, UsageError

BASE_URL = "https://efrosgans.eecs.berkeley.edu/pix2pix"
MODELS = {
    "facades_label2photo": "labels -> facade photos (facades, BtoA)",
    "sat2map": "aerial photo -> map (maps, AtoB)",
    "map2sat": "map -> aerial photo (maps, BtoA)",
    "edges2shoes": "edges -> shoes (edges2shoes, AtoB)",
    "edges2handbags": "edges -> handbags (edges2handbags, AtoB)",
    "day2night": "day -> night (night2day, BtoA)",
}
DATASETS = ("facades", "maps", "edges2shoes", "edges2handbags", "night2day", "cityscapes")
CITYSCAPES_HELP = (
    "cityscapes cannot be redistributed: register and download gtFine_trainvaltest.zip and "
    "leftImg8bit_trainvaltest.zip from the Cityscapes website (cityscapes-dataset.com), put each "
    "photo (A) and its colour label map gtFine/*_color.png (B) into A/train and B/train under "
    "one name, resize both to 256x256, then run `gankit pix2pix prepare A B -o cityscapes`")


def cache_root() -> Path:
    return cache_dir() / "pix2pix"


def _fetch(url: str, dest: Path, sha256: str | None) -> Path:
    sidecar = dest.with_name(dest.name + ".sha256")
    expected = sha256 or (sidecar.read_text().strip() if sidecar.exists() else None)
    download_file(url, dest, sha256=expected)
    if not sidecar.exists() or sha256:
        atomic_write_text(sidecar, sha256_file(dest) + "\n")
    return dest


def download(name: str, out: str | os.PathLike[str] | None = None, base_url: str = BASE_URL,
             sha256: str | None = None, *, overwrite: bool = False) -> Path:
    """Fetch a published generator (``latest_net_G.pth``) and convert it to a model folder
    (``out`` checked before the download, as in :func:`~gankit.core.checkpoint.save_pretrained`)."""
    from gankit.families.pix2pix.convert import convert

    if name not in MODELS:
        raise UsageError(f"unknown Pix2Pix model {name!r}; choose from {', '.join(MODELS)}")
    dest = Path(out) if out is not None else cache_root() / "models" / name
    pth_path = cache_root() / "downloads" / f"{name}.pth"
    check_model_output(dest, overwrite=overwrite, inputs=[pth_path])
    pth = _fetch(f"{base_url.rstrip('/')}/models-pytorch/{name}.pth", pth_path, sha256)
    if out is None and (dest / "model.safetensors").exists():
        return dest
    return convert(pth, dest, overwrite=overwrite)


def download_dataset(name: str, out: str | os.PathLike[str] | None = None,
                     base_url: str = BASE_URL, sha256: str | None = None) -> Path:
    """Fetch and safely extract a published dataset; returns the folder holding train/ etc."""
    if name == "cityscapes":
        raise BadInputError(CITYSCAPES_HELP)
    if name not in DATASETS:
        raise UsageError(f"unknown Pix2Pix dataset {name!r}; choose from {', '.join(DATASETS)}")
    archive = _fetch(f"{base_url.rstrip('/')}/datasets/{name}.tar.gz",
                     cache_root() / "downloads" / f"{name}.tar.gz", sha256)
    dest = Path(out) if out is not None else cache_root() / "datasets" / name
    if not dest.exists():
        safe_extract(archive, dest)
    inner = dest / name
    return inner if inner.is_dir() else dest
