"""Unlabelled image datasets for unconditional GANs: a folder or .zip of images, or a
torchvision set.

Items are deterministic (decode, centre-crop to a square, resize); random flips and noise belong
to the recipe's ``train_step``, so that the engine's exact resume holds. torchvision datasets are
read from a folder the user downloaded beforehand and are never downloaded here.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from gankit.core.errors import BadInputError
from gankit.core.images import IMAGE_EXTENSIONS, MAX_PIXELS, pil_to_tensor, read_image

MAX_MEMBER_BYTES = 512 << 20
"""A .zip member larger than this is refused before it is read (no image is that large)."""

TORCHVISION_SETS = {"cifar10": "CIFAR10", "celeba": "CelebA"}
"""Names accepted as ``NAME:ROOT`` in a data spec -> their torchvision classes (download=False)."""


def fit_square(img: Image.Image, resolution: int) -> Image.Image:
    """Centre-crop to a square and resize to ``resolution`` (Lanczos)."""
    if img.size == (resolution, resolution):
        return img
    return ImageOps.fit(img, (resolution, resolution), Image.Resampling.LANCZOS)


def image_sources(data: Path) -> list[tuple[str, Any]]:
    """``(name, source)`` for every image in a folder (recursively, sorted by path) or a .zip
    (sorted by member name): the source is the file's path, or the member's name."""
    if data.is_dir():
        files = sorted(
            p for p in data.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
        )
        return [(str(p.relative_to(data)), p) for p in files]
    if data.is_file() and zipfile.is_zipfile(data):
        with zipfile.ZipFile(data) as zf:
            names = sorted(
                n
                for n in zf.namelist()
                if Path(n).suffix.lower() in IMAGE_EXTENSIONS and not n.endswith("/")
            )
        return [(n, n) for n in names]
    raise BadInputError(f"{data}: not a folder or .zip of images")


def _read_member(data: Path, zf: zipfile.ZipFile, name: str) -> Image.Image:
    info = zf.getinfo(name)
    if info.file_size > MAX_MEMBER_BYTES:
        raise BadInputError(f"{data}:{name}: member too large ({info.file_size} bytes)")
    try:
        with Image.open(io.BytesIO(zf.read(name))) as im:
            if im.size[0] * im.size[1] > MAX_PIXELS:
                raise BadInputError(f"{data}:{name}: image too large")
            return im.convert("RGB")
    except (OSError, SyntaxError, ValueError) as err:
        raise BadInputError(f"{data}:{name}: not a readable image ({err})") from None


def _fingerprint(data: Path, names: list[str], resolution: int) -> str:
    h = hashlib.sha256(f"{data.resolve()}|{resolution}".encode())
    st = data.stat()
    h.update(f"{st.st_size}|{st.st_mtime_ns}".encode())
    if data.is_dir():
        for n in names:
            s = (data / n).stat()
            h.update(f"{n}|{s.st_size}|{s.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


class ImageFolderDataset(torch.utils.data.Dataset):
    """Every image in a folder (recursively) or a .zip as a [-1, 1] CHW tensor at ``resolution``
    (centre-cropped to a square, Lanczos-resized).

    ``upscale=False`` refuses an image smaller than ``resolution`` (up-scaling would blur the
    data; StyleGAN trains so). ``cache_dir``: decode every image once into one uint8 tensor,
    cached there under a key of the files' names, sizes and times, as NVlabs' ``dataset_tool.py``
    prepares data ahead of training; without it, items are decoded when read.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        resolution: int,
        *,
        upscale: bool = True,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.root = Path(root)
        if not str(root) or not self.root.exists():
            raise BadInputError(f"{root or '(none)'}: no such data folder or .zip; pass --data")
        self.sources = image_sources(self.root)
        if not self.sources:
            kind = "folder" if self.root.is_dir() else ".zip"
            raise BadInputError(
                f"{self.root}: {kind} has no images ({', '.join(IMAGE_EXTENSIONS)})"
            )
        self.resolution, self.upscale = resolution, upscale
        self.images: torch.Tensor | None = None
        self._zip: tuple[int, zipfile.ZipFile] | None = None  # (pid, handle): one per process
        if cache_dir is not None:
            self.images = self._cached(Path(cache_dir))

    def _cached(self, cache_dir: Path) -> torch.Tensor:
        from safetensors.torch import load_file, save_file

        from gankit.core.atomic import atomic_path

        key = _fingerprint(self.root, [n for n, _ in self.sources], self.resolution)
        cache = cache_dir / f"{key}.safetensors"
        if cache.exists():
            return load_file(str(cache))["images"]
        try:
            images = torch.stack(
                [
                    torch.from_numpy(np.array(self._image(i))).permute(2, 0, 1).contiguous()
                    for i in range(len(self.sources))
                ]
            )
        finally:
            if self._zip is not None:
                self._zip[1].close()
                self._zip = None
        with atomic_path(cache) as tmp:
            save_file({"images": images}, str(tmp))
        return images

    def _image(self, i: int) -> Image.Image:
        name, source = self.sources[i]
        if self.root.is_dir():
            img = read_image(source)
        else:
            if self._zip is None or self._zip[0] != os.getpid():
                self._zip = (os.getpid(), zipfile.ZipFile(self.root))
            img = _read_member(self.root, self._zip[1], source)
        if not self.upscale and min(img.size) < self.resolution:
            raise BadInputError(
                f"{self.root}:{name} is {img.size[0]}x{img.size[1]}, smaller than the training "
                f"resolution {self.resolution}; up-scaling would blur the data: remove it or "
                "train at a lower resolution"
            )
        return fit_square(img, self.resolution)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_zip": None}  # worker processes open their own handle

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int) -> torch.Tensor:
        if self.images is not None:
            return self.images[i].float() / 127.5 - 1.0
        return pil_to_tensor(self._image(i))


class TorchvisionImages(torch.utils.data.Dataset):
    """The images (labels dropped) of a torchvision dataset already present under ``root``."""

    def __init__(self, name: str, root: str, resolution: int) -> None:
        import torchvision.datasets as tvd

        cls_name = TORCHVISION_SETS[name]
        split = {"train": True} if name == "cifar10" else {"split": "train"}
        try:
            self.base = getattr(tvd, cls_name)(root, download=False, **split)
        except (RuntimeError, OSError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise BadInputError(
                f"{name} not found under {root!r} ({first}); download it once with "
                f"torchvision.datasets.{cls_name}(root, download=True) or pass an image folder"
            ) from None
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, i: int) -> torch.Tensor:
        img, _ = self.base[i]
        return pil_to_tensor(fit_square(img.convert("RGB"), self.resolution))


def open_image_dataset(spec: str, resolution: int) -> torch.utils.data.Dataset:
    """``spec``: an image folder, or ``cifar10:ROOT`` / ``celeba:ROOT`` (torchvision copies)."""
    if not spec:
        raise BadInputError("no training data given; pass --data FOLDER (or cifar10:ROOT)")
    name, sep, root = spec.partition(":")
    if sep and name.lower() in TORCHVISION_SETS and not Path(spec).exists():
        return TorchvisionImages(name.lower(), root, resolution)
    return ImageFolderDataset(spec, resolution)
