"""Paired data: the aligned format (A|B side by side in one file) and the two-folder format.

Items are deterministic (decode, split, convert channels, resize to ``load_size``); the random
crop and flip of the paper's "random jitter" (appendix 6.2) happen in the recipe's ``train_step``
so that the engine can resume exactly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from gankit.core.atomic import check_not_input
from gankit.core.errors import BadInputError
from gankit.core.images import (
    IMAGE_EXTENSIONS,
    image_size,
    pil_to_tensor,
    read_image,
    save_image,
)


@dataclass(frozen=True)
class Pair:
    """One training pair: an aligned file (``b is None``) or two files of the same name."""

    a: Path
    b: Path | None = None

    @property
    def name(self) -> str:
        return self.a.stem


def _images(folder: Path) -> list[Path]:
    return sorted(
        f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
    )


def _two_folders(root: Path, phase: str) -> tuple[Path, Path] | None:
    """``root/A/phase`` + ``root/B/phase``, or ``root/A`` + ``root/B``, when present."""
    for a, b in ((root / "A" / phase, root / "B" / phase), (root / "A", root / "B")):
        if a.is_dir() and b.is_dir() and _images(a):
            return a, b
    return None


def match_names(a_dir: Path, b_dir: Path) -> tuple[list[Pair], list[str], list[str]]:
    """Pairs of files with the same stem, and the names found only in A / only in B."""
    a_files = {f.stem: f for f in _images(a_dir)}
    b_files = {f.stem: f for f in _images(b_dir)}
    pairs = [Pair(a_files[n], b_files[n]) for n in sorted(a_files.keys() & b_files.keys())]
    return pairs, sorted(a_files.keys() - b_files.keys()), sorted(b_files.keys() - a_files.keys())


def find_pairs(root: str | os.PathLike[str], phase: str = "train") -> list[Pair]:
    """Every pair under ``root`` (its ``phase`` subfolder if it has one), in name order.

    Layouts: ``root/phase/*.jpg`` or ``root/*.jpg`` (aligned), ``root/A/phase`` + ``root/B/phase``
    or ``root/A`` + ``root/B`` (two folders, files matched by name).
    """
    root = Path(root)
    if not root.exists():
        raise BadInputError(f"{root}: no such data folder")
    if not root.is_dir():
        raise BadInputError(f"{root}: expected a folder of paired images")
    folders = _two_folders(root, phase)
    if folders is not None:
        pairs, only_a, only_b = match_names(*folders)
        if only_a or only_b:
            raise BadInputError(
                f"{folders[0]} and {folders[1]} do not match: "
                + "; ".join(
                    f"{len(n)} only in {w} (e.g. {n[0]!r})"
                    for n, w in ((only_a, "A"), (only_b, "B"))
                    if n
                )
                + " (pair files by identical names, or run `gankit pix2pix prepare`)"
            )
        return pairs
    folder = root / phase if (root / phase).is_dir() else root
    files = _images(folder)
    if not files:
        raise BadInputError(
            f"{folder}: no images; expected aligned A|B files (in {root}/{phase}/ or {root}/) or "
            f"the two folders {root}/A/ and {root}/B/"
        )
    return [Pair(f) for f in files]


def check_pair(pair: Pair) -> tuple[int, int]:
    """The (width, height) of each half; a BadInputError if the halves cannot match."""
    if pair.b is None:
        w, h = image_size(pair.a)
        if w % 2:
            raise BadInputError(
                f"{pair.a}: width {w} is odd, so it is not an aligned A|B pair of two equal halves"
            )
        return w // 2, h
    size_a, size_b = image_size(pair.a), image_size(pair.b)
    if size_a != size_b:
        raise BadInputError(
            f"{pair.a} is {size_a[0]}x{size_a[1]} but {pair.b} is "
            f"{size_b[0]}x{size_b[1]}; A and B must be the same size"
        )
    return size_a


def load_pair(pair: Pair) -> tuple[Image.Image, Image.Image]:
    """The A and B images of a pair (RGB)."""
    if pair.b is None:
        ab = read_image(pair.a)
        w, h = ab.size
        return ab.crop((0, 0, w // 2, h)), ab.crop((w // 2, 0, w, h))
    return read_image(pair.a), read_image(pair.b)


def to_tensor(img: Image.Image, channels: int) -> torch.Tensor:
    """CHW in [-1, 1] with 1 (luminance, ITU-R 601 as PIL's "L") or 3 channels."""
    if channels == 1:
        return pil_to_tensor(img.convert("L").convert("RGB"))[:1]
    return pil_to_tensor(img)


class PairedDataset(torch.utils.data.Dataset):
    """(input, target) tensors per pair, resized to ``load_size`` = (height, width) if given.

    ``direction='BtoA'`` swaps the roles; ``input_nc``/``output_nc`` 1 makes that side grayscale.
    Every file is checked at construction (readable, halves of equal size; equal sizes across the
    set when no resize makes them so and ``same_size`` is asked), so bad data fails before
    training starts, naming the file.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        phase: str = "train",
        direction: str = "AtoB",
        input_nc: int = 3,
        output_nc: int = 3,
        load_size: tuple[int, int] | None = None,
        same_size: bool = False,
    ) -> None:
        self.pairs = find_pairs(root, phase)
        self.direction, self.input_nc, self.output_nc = direction, input_nc, output_nc
        self.load_size = load_size
        sizes = {p: check_pair(p) for p in self.pairs}
        if same_size and load_size is None and len(set(sizes.values())) > 1:
            (s0, p0), (s1, p1) = sorted({s: p for p, s in sizes.items()}.items())[:2]
            raise BadInputError(
                f"images differ in size ({s1[0]}x{s1[1]} for {p1.a.name}, {s0[0]}x{s0[1]} for "
                f"{p0.a.name}); batches need one size: resize (preprocess resize_and_crop) or "
                "use batch_size 1"
            )
        self.sizes = [sizes[p] for p in self.pairs]

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        a, b = load_pair(self.pairs[i])
        if self.direction == "BtoA":
            a, b = b, a
        if self.load_size is not None:
            h, w = self.load_size
            a = a.resize((w, h), Image.Resampling.BICUBIC)
            b = b.resize((w, h), Image.Resampling.BICUBIC)
        return to_tensor(a, self.input_nc), to_tensor(b, self.output_nc)


@dataclass
class PrepareReport:
    written: list[Path]
    only_a: list[str]
    only_b: list[str]
    size_mismatch: list[str]


def prepare(
    a_dir: str | os.PathLike[str],
    b_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    overwrite: bool = False,
) -> PrepareReport:
    """Combine ``A/name.*`` and ``B/name.*`` into aligned ``out/name.png`` files (A left).

    Subfolders present in both (``train``, ``val``, ``test``...) are combined into the same
    subfolders of ``out``. Unmatched names and pairs of unequal size are reported, not written.
    An output file that is one of the A or B images is refused unless ``overwrite``.
    """
    a_dir, b_dir, out_dir = Path(a_dir), Path(b_dir), Path(out_dir)
    for d in (a_dir, b_dir):
        if not d.is_dir():
            raise BadInputError(f"{d}: no such folder")
    splits = sorted(p.name for p in a_dir.iterdir() if p.is_dir() and (b_dir / p.name).is_dir())
    jobs = [(a_dir / s, b_dir / s, out_dir / s) for s in splits] or [(a_dir, b_dir, out_dir)]
    report = PrepareReport([], [], [], [])
    matched = []
    for a, b, out in jobs:
        pairs, only_a, only_b = match_names(a, b)
        report.only_a += [str(a / n) for n in only_a]
        report.only_b += [str(b / n) for n in only_b]
        matched += [(pair, out / f"{pair.name}.png") for pair in pairs]
    check_not_input(
        [dest for _, dest in matched],
        [f for pair, _ in matched for f in (pair.a, pair.b)],
        overwrite=overwrite,
    )
    for pair, dest in matched:
        img_a, img_b = read_image(pair.a), read_image(pair.b)
        if img_a.size != img_b.size:
            report.size_mismatch.append(
                f"{pair.name}: A {img_a.size[0]}x{img_a.size[1]}, B {img_b.size[0]}x{img_b.size[1]}"
            )
            continue
        ab = Image.new("RGB", (img_a.width * 2, img_a.height))
        ab.paste(img_a, (0, 0))
        ab.paste(img_b, (img_a.width, 0))
        report.written.append(save_image(ab, dest))
    if not report.written:
        raise BadInputError(
            f"no pair could be combined from {a_dir} and {b_dir} (names must "
            "match and sizes be equal)"
        )
    return report
