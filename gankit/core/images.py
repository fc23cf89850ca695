"""Image reading and writing with the failure modes users hit turned into clear errors.

Reading applies EXIF orientation, converts grayscale/palette/RGBA/CMYK/16-bit images to 8-bit RGB
and refuses decompression bombs; writing is atomic. Tensors are NCHW/CHW floats in [-1, 1].
"""

from __future__ import annotations

import glob
import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gankit.core.atomic import atomic_path
from gankit.core.errors import BadInputError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
MAX_PIXELS = 12000 * 12000
"""Images with more pixels than this are refused as likely decompression bombs."""


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        img = Image.fromarray(np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB")


@contextmanager
def _checked_open(path: str | os.PathLike[str], max_pixels: int) -> Iterator[Image.Image]:
    """``Image.open`` after the file checks and the pixel limit; any decoding failure inside the
    ``with`` block becomes a one-line :class:`BadInputError` too."""
    path = Path(path)
    if not path.exists():
        raise BadInputError(f"{path}: no such file")
    if path.is_dir():
        raise BadInputError(f"{path}: is a folder, expected an image file")
    if path.stat().st_size == 0:
        raise BadInputError(f"{path}: file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(path)
        with img:
            w, h = img.size
            if w * h > max_pixels:
                raise BadInputError(
                    f"{path}: {w}x{h} pixels exceeds the limit of {max_pixels} "
                    "(possible decompression bomb)"
                )
            yield img
    except BadInputError:
        raise
    except Image.DecompressionBombError:
        raise BadInputError(f"{path}: image is too large (possible decompression bomb)") from None
    except MemoryError:
        raise BadInputError(f"{path}: image is too large to decode in memory") from None
    except UnidentifiedImageError:
        raise BadInputError(f"{path}: not a readable image file") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise BadInputError(f"{path}: corrupt or truncated image ({err})") from None


def read_image(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image as upright 8-bit RGB, or raise :class:`BadInputError` saying why not."""
    with _checked_open(path, max_pixels) as img:
        img = ImageOps.exif_transpose(img)
        img.load()
        return _to_rgb(img)


def image_size(path: str | os.PathLike[str], max_pixels: int = MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` from the header only, with :func:`read_image`'s checks and errors."""
    with _checked_open(path, max_pixels) as img:
        return img.size


def pil_to_tensor(img: Image.Image):
    """PIL RGB image -> float tensor CHW in [-1, 1]."""
    import torch

    arr = np.asarray(img, dtype=np.float32) / 127.5 - 1.0
    return torch.from_numpy(arr.transpose(2, 0, 1).copy())


def tensor_to_pil(t) -> Image.Image:
    """Float tensor CHW (or 1CHW) in [-1, 1] -> PIL RGB (or L for one channel)."""
    if t.dim() == 4:
        if t.shape[0] != 1:
            raise ValueError("tensor_to_pil takes one image")
        t = t[0]
    arr = ((t.detach().float().cpu().clamp(-1, 1) + 1.0) * 127.5).round().byte().numpy()
    arr = arr.transpose(1, 2, 0)
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


def load_image_tensor(path: str | os.PathLike[str]):
    return pil_to_tensor(read_image(path))


def save_image(img, path: str | os.PathLike[str], **save_kwargs) -> Path:
    """Save a PIL image or a [-1, 1] tensor atomically; the format follows the extension."""
    if not isinstance(img, Image.Image):
        img = tensor_to_pil(img)
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise BadInputError(f"{path}: unknown image extension {path.suffix!r}")
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **save_kwargs)
    return path


def save_grid(images, path: str | os.PathLike[str], nrow: int = 8, padding: int = 2) -> Path:
    """Save a batch (NCHW in [-1, 1]) as one grid image."""
    from torchvision.utils import make_grid

    grid = make_grid(
        images.detach().float().cpu().clamp(-1, 1), nrow=nrow, padding=padding, pad_value=1.0
    )
    return save_image(grid, path)


def frames_uint8(frames) -> np.ndarray:
    """Frames (T x 3 x H x W in [-1, 1]) -> uint8 T x H x W x 3, the layout encoders take."""
    return (
        ((frames.detach().float().cpu().clamp(-1, 1) + 1) * 127.5)
        .round()
        .byte()
        .permute(0, 2, 3, 1)
        .numpy()
    )


def write_gif(frames: Sequence[np.ndarray], path: str | os.PathLike[str], fps: float = 10) -> Path:
    """uint8 HWC frames -> a looping GIF, written atomically."""
    images = [Image.fromarray(np.asarray(a)) for a in frames]
    with atomic_path(path) as tmp:
        images[0].save(
            tmp,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=max(1, round(1000 / fps)),
            loop=0,
        )
    return Path(path)


def save_gif(frames, path: str | os.PathLike[str], fps: float = 10) -> Path:
    """Frames (T x 3 x H x W in [-1, 1]) -> a looping GIF, written atomically (a SinGAN
    animation on the command line and in the web app)."""
    return write_gif(frames_uint8(frames), path, fps)


def pad_to_multiple(x, multiple: int):
    """Pad the bottom/right of NCHW ``x`` to multiples of ``multiple`` (reflect where it can,
    else replicate), the one way a network with a size multiple takes any image (AnimeGAN,
    Pix2Pix, the web app); returns the padded tensor and the original (height, width) for
    :func:`crop_back`."""
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def crop_back(y, size: tuple[int, int]):
    """The output of a :func:`pad_to_multiple` input cropped back to ``size`` (height, width)."""
    return y[..., : size[0], : size[1]]


def expand_inputs(
    inputs: Sequence[str | os.PathLike[str]], extensions: Iterable[str] = IMAGE_EXTENSIONS
) -> list[Path]:
    """Files, folders (their images, sorted) and glob patterns -> a list of files, in order."""
    exts = tuple(e.lower() for e in extensions)
    out: list[Path] = []
    for item in inputs:
        item_str = os.fspath(item)
        p = Path(item_str)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in exts)
            if not found:
                raise BadInputError(f"{p}: folder has no images ({', '.join(exts)})")
            out.extend(found)
        elif p.exists():
            out.append(p)
        elif any(ch in item_str for ch in "*?["):
            found = sorted(
                Path(f) for f in glob.glob(item_str, recursive=True) if Path(f).is_file()
            )
            if not found:
                raise BadInputError(f"{item_str}: pattern matches no files")
            out.extend(found)
        else:
            raise BadInputError(f"{p}: no such file or folder")
    return out
