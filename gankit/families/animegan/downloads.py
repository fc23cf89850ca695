"""Published AnimeGAN weights and the original training data, fetched into gankit's cache.

Weights are downloaded once (progress bar, atomic rename), verified, converted to a gankit model
folder and reused. Where the publisher gives no checksum, the SHA-256 of the first download is
recorded beside it and every later use is checked against it (trust on first use); pinned
checksums in :data:`WEIGHTS` take precedence. ``mirror`` replaces the publisher's host with a
folder URL holding the same file names (an internal mirror, or a loopback server in tests).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gankit.core.checkpoint import cache_dir, check_model_output
from gankit.core.download import download_file
from gankit.core.errors import BadInputError, UsageError

_PORT = "https://github.com/bryandlee/animegan2-pytorch/raw/main/weights"
_PTRAN = "https://github.com/ptran1203/pytorch-animeGAN/releases/download"


@dataclass(frozen=True)
class Published:
    url: str
    source: str
    align_corners: bool | None = None
    sha256: str | None = None


WEIGHTS: dict[str, Published] = {
    # bryandlee/animegan2-pytorch hubconf.py; face_paint_512_v1 was trained with the port's
    # align_corners=True upsampling (its README), the others with align_corners=False.
    "face_paint_512_v1": Published(f"{_PORT}/face_paint_512_v1.pt", "animegan2-pytorch", True),
    "face_paint_512_v2": Published(f"{_PORT}/face_paint_512_v2.pt", "animegan2-pytorch"),
    "celeba_distill": Published(f"{_PORT}/celeba_distill.pt", "animegan2-pytorch"),
    "paprika": Published(f"{_PORT}/paprika.pt", "animegan2-pytorch"),
    # ptran1203/pytorch-animeGAN utils/common.py RELEASED_WEIGHTS
    "ptran_hayao_v1": Published(f"{_PTRAN}/v1.0/generator_hayao.pth", "pytorch-animeGAN"),
    "ptran_shinkai_v1": Published(f"{_PTRAN}/v1.0/generator_shinkai.pth", "pytorch-animeGAN"),
    "ptran_hayao_v2": Published(f"{_PTRAN}/v1.2/GeneratorV2_gldv2_Hayao.pt", "pytorch-animeGAN"),
    "ptran_shinkai_v2": Published(
        f"{_PTRAN}/v1.2/GeneratorV2_gldv2_Shinkai.pt", "pytorch-animeGAN"
    ),
    "ptran_arcane_v2": Published(
        f"{_PTRAN}/v1.2/GeneratorV2_ffhq_Arcane_210624_e350.pt", "pytorch-animeGAN"
    ),
}

DATASET = Published(
    "https://github.com/TachibanaYoshino/AnimeGAN/releases/download/dataset-1/dataset.zip",
    "TachibanaYoshino/AnimeGAN",
)
"""The original release: train_photo/, Hayao|Shinkai|Paprika/{style,smooth}/, val/, test/."""


def _url(entry: Published, mirror: str | None) -> str:
    if mirror is None:
        return entry.url
    return f"{mirror.rstrip('/')}/{entry.url.rsplit('/', 1)[1]}"


def fetch(
    entry: Published,
    dest: Path,
    mirror: str | None = None,
    progress: bool = True,
    kind: str = "weights",
) -> Path:
    """Download ``entry`` to ``dest`` once; verify it against the pinned or recorded SHA-256."""
    return download_file(
        _url(entry, mirror), dest, sha256=entry.sha256, progress=progress, kind=kind
    )


def list_weights() -> list[tuple[str, str, str]]:
    """(name, source project, URL) of every published generator gankit can fetch."""
    return [(name, e.source, e.url) for name, e in WEIGHTS.items()]


def download(
    name: str,
    out: str | os.PathLike[str] | None = None,
    mirror: str | None = None,
    progress: bool = True,
    *,
    overwrite: bool = False,
) -> Path:
    """Fetch and convert published weights ``name``; returns the gankit model folder.

    ``out`` is checked before the download: see :func:`~gankit.core.checkpoint.save_pretrained`.
    """
    from gankit.families.animegan.convert import convert

    if name not in WEIGHTS:
        raise UsageError(
            f"unknown weights {name!r}; choose from {', '.join(WEIGHTS)} "
            "(see `gankit animegan download --list`)"
        )
    entry = WEIGHTS[name]
    root = cache_dir() / "animegan"
    folder = Path(out) if out is not None else root / "models" / name
    raw_path = root / "raw" / entry.url.rsplit("/", 1)[1]
    check_model_output(folder, overwrite=overwrite, inputs=[raw_path])
    raw = fetch(entry, raw_path, mirror, progress)
    if (folder / "model.safetensors").exists() and out is None:
        return folder
    return convert(raw, folder, align_corners=entry.align_corners, overwrite=overwrite)


def download_dataset(mirror: str | None = None, progress: bool = True) -> Path:
    """Fetch and safely extract the original AnimeGAN dataset; returns its folder."""
    from gankit.core.archive import safe_extract

    root = cache_dir() / "animegan" / "datasets"
    archive = fetch(DATASET, root / "dataset-1.zip", mirror, progress, kind="dataset")
    dest = root / "dataset-1"
    if not dest.exists():
        safe_extract(archive, dest)
    inner = dest / "dataset"
    found = inner if inner.is_dir() else dest
    if not (found / "train_photo").is_dir():
        raise BadInputError(f"{archive}: the archive lacks train_photo/; delete it and retry")
    return found
