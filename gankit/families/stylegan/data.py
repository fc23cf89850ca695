"""StyleGAN's training images: a folder or .zip, centre-cropped and resized once, then cached
(as NVlabs' ``dataset_tool.py`` prepares them ahead of training)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.core.errors import BadInputError
from gankit.core.images import IMAGE_EXTENSIONS, MAX_PIXELS


def _sources(data: Path) -> list[tuple[str, Any]]:
    """``(name, opener)`` for every image in a folder (recursive) or a .zip, sorted by name."""
    if data.is_dir():
        files = sorted(p for p in data.rglob("*")
                       if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        return [(str(p.relative_to(data)), p) for p in files]
    if data.is_file() and zipfile.is_zipfile(data):
        with zipfile.ZipFile(data) as zf:
            names = sorted(n for n in zf.namelist()
                           if Path(n).suffix.lower() in IMAGE_EXTENSIONS and not n.endswith("/"))
        return [(n, n) for n in names]
    raise BadInputError(f"{data}: not a folder or .zip of images")


def _fingerprint(data: Path, names: list[str], resolution: int) -> str:
    h = hashlib.sha256(f"{data.resolve()}|{resolution}".encode())
    st = data.stat()
    h.update(f"{st.st_size}|{st.st_mtime_ns}".encode())
    if data.is_dir():
        for n in names:
            s = (data / n).stat()
            h.update(f"{n}|{s.st_size}|{s.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def _decode(data: Path, source: Any, name: str, resolution: int, zf: zipfile.ZipFile | None):
    from PIL import Image

    from gankit.core.image_dataset import fit_square
    from gankit.core.images import read_image

    if zf is None:
        img = read_image(source)
    else:
        info = zf.getinfo(source)
        if info.file_size > 512 << 20:
            raise BadInputError(f"{data}:{name}: member too large ({info.file_size} bytes)")
        try:
            with Image.open(io.BytesIO(zf.read(source))) as im:
                if im.size[0] * im.size[1] > MAX_PIXELS:
                    raise BadInputError(f"{data}:{name}: image too large")
                img = im.convert("RGB")
        except (OSError, SyntaxError, ValueError) as err:
            raise BadInputError(f"{data}:{name}: not a readable image ({err})") from None
    if min(img.size) < resolution:
        raise BadInputError(
            f"{data}:{name} is {img.size[0]}x{img.size[1]}, smaller than the training resolution "
            f"{resolution}; up-scaling would blur the data: remove it or train at a lower "
            "resolution")
    return fit_square(img, resolution)


class ImageDataset(torch.utils.data.Dataset):
    """Images centre-cropped and resized once to ``resolution``, cached as one uint8 tensor.

    NVlabs' ``dataset_tool.py`` does the same ahead of training; here the cache (keyed by the
    files' names, sizes and times) lives under ``$GANKIT_CACHE/stylegan-data``.
    """

    def __init__(self, data: str | os.PathLike[str], resolution: int,
                 cache_dir: str | os.PathLike[str] | None = None) -> None:
        from safetensors.torch import load_file, save_file

        from gankit.core.atomic import atomic_path
        from gankit.core.checkpoint import cache_dir as gankit_cache_dir

        path = Path(data)
        if not str(data) or not path.exists():
            raise BadInputError(f"{data or '(none)'}: no such data folder or zip; pass --data")
        sources = _sources(path)
        if not sources:
            raise BadInputError(f"{path}: no images ({', '.join(IMAGE_EXTENSIONS)})")
        root = Path(cache_dir) if cache_dir else gankit_cache_dir() / "stylegan-data"
        cache = root / f"{_fingerprint(path, [n for n, _ in sources], resolution)}.safetensors"
        if cache.exists():
            self.images = load_file(str(cache))["images"]
            return
        zf = zipfile.ZipFile(path) if not path.is_dir() else None
        try:
            arrays = [torch.from_numpy(np.array(_decode(path, src, name, resolution, zf)))
                      .permute(2, 0, 1).contiguous() for name, src in sources]
        finally:
            if zf is not None:
                zf.close()
        self.images = torch.stack(arrays)
        with atomic_path(cache) as tmp:
            save_file({"images": self.images}, str(tmp))

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i].float() / 127.5 - 1.0
