"""Unlabelled image datasets for unconditional GANs: a folder of images, or a torchvision set.

Items are deterministic (decode, centre-crop to a square, resize); random flips and noise belong
to the recipe's ``train_step``, so that the engine's exact resume holds. torchvision datasets are
read from a folder the user downloaded beforehand and are never downloaded here.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image, ImageOps

from gankit.core.errors import BadInputError
from gankit.core.images import IMAGE_EXTENSIONS, pil_to_tensor, read_image

TORCHVISION_SETS = {"cifar10": "CIFAR10", "celeba": "CelebA"}
"""Names accepted as ``NAME:ROOT`` in a data spec -> their torchvision classes (download=False)."""


def fit_square(img: Image.Image, resolution: int) -> Image.Image:
    """Centre-crop to a square and resize to ``resolution`` (Lanczos)."""
    if img.size == (resolution, resolution):
        return img
    return ImageOps.fit(img, (resolution, resolution), Image.Resampling.LANCZOS)


class ImageFolderDataset(torch.utils.data.Dataset):
    """Every image under ``root`` (recursively, sorted by path) as a [-1, 1] CHW tensor."""

    def __init__(self, root: str | os.PathLike[str], resolution: int) -> None:
        root = Path(root)
        if not root.is_dir():
            raise BadInputError(f"{root}: no such data folder")
        self.files = sorted(p for p in root.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.files:
            raise BadInputError(f"{root}: folder has no images ({', '.join(IMAGE_EXTENSIONS)})")
        self.resolution = resolution

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        return pil_to_tensor(fit_square(read_image(self.files[i]), self.resolution))


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
