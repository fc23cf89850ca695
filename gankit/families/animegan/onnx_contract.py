"""AnimeGANv3's ONNX contract: TachibanaYoshino's published ``.onnx`` files run as they are.

The files (AnimeGANv3 repository, ``deploy/test_by_onnx.py``) take one NHWC float input in
[-1, 1], RGB, each side rounded *down* to a multiple of 8 (16 for the "tiny" models) with 256 as
the minimum, and give NHWC in [-1, 1], resized back to the photo's size.
:class:`ThirdPartyStylizer` implements that; it also takes the NCHW 3-channel layout of the
community AnimeGANv2 conversions. ``gankit animegan stylize --model X.onnx`` runs a file through
:func:`load_stylizer` (a gankit export goes to :class:`~gankit.runtime.onnx_runtime.ExportStylizer`
instead); :func:`stylize_onnx` is the one-call form. The web app reaches this contract through
:func:`gankit.core.registry.onnx_contract`, without importing the family.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from gankit.core.errors import BadInputError, ConfigError
from gankit.core.output_check import check_generated
from gankit.core.registry import register_onnx_contract
from gankit.runtime.onnx_runtime import (
    ExportStylizer,
    OnnxModel,
    dims,
    has_gankit_metadata,
    load_session,
    np_dtype,
)

MIN_SIDE = 256
"""AnimeGANv3's ``to_8s``: sides under 256 are raised to 256."""


@register_onnx_contract("animegan")
class ThirdPartyStylizer:
    """A photo-to-anime ONNX file with the AnimeGANv3 contract (see the module docstring)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        device: str = "cpu",
        multiple: int | None = None,
        threads: int = 0,
    ):
        self.path = Path(path)
        self.session = load_session(self.path, device, threads)
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        where = f"{self.path}: does not fit the AnimeGANv3 ONNX contract"
        if len(ins) != 1 or not outs:
            raise BadInputError(f"{where} (needs one image input, has {len(ins)} inputs)")
        inp, out = ins[0], outs[0]
        self.dtype = np_dtype(inp.type)
        if self.dtype is None:
            raise BadInputError(f"{where} (input {inp.name!r} is {inp.type}, expected float)")
        shape = dims(list(inp.shape))
        if len(shape) != 4:
            raise BadInputError(f"{where} (input {inp.name!r} has rank {len(shape)}, expected 4)")
        if shape[3] == 3:
            self.layout = "NHWC"
            self.fixed = (shape[1], shape[2])
        elif shape[1] == 3:
            self.layout = "NCHW"
            self.fixed = (shape[2], shape[3])
        else:
            raise BadInputError(
                f"{where} (input {inp.name!r} shape {list(inp.shape)} has no 3-channel axis)"
            )
        out_shape = dims(list(out.shape))
        if len(out_shape) != 4:
            raise BadInputError(f"{where} (output {out.name!r} has rank {len(out_shape)})")
        self.input_name, self.output_name = inp.name, out.name
        if multiple is None:
            multiple = 16 if "tiny" in self.path.name.lower() else 8
        if multiple <= 0:
            raise ConfigError(f"size multiple must be positive, got {multiple}")
        self.multiple = multiple

    def model_size(self, width: int, height: int) -> tuple[int, int]:
        """(W, H) the network runs at: the file's fixed size, else AnimeGANv3's ``to_8s``."""
        fh, fw = self.fixed

        def side(x: int, fixed: int | None) -> int:
            if fixed is not None:
                return fixed
            return MIN_SIDE if x < MIN_SIDE else x - x % self.multiple

        return side(width, fw), side(height, fh)

    def stylize(self, image: Image.Image) -> Image.Image:
        """RGB photo -> stylised RGB image of the same size."""
        rgb = image.convert("RGB")
        size = self.model_size(*rgb.size)
        arr = np.asarray(rgb.resize(size, Image.BILINEAR), dtype=np.float32) / 127.5 - 1.0
        x = arr[None] if self.layout == "NHWC" else arr.transpose(2, 0, 1)[None]
        try:
            y = self.session.run([self.output_name], {self.input_name: x.astype(self.dtype)})[0]
        except Exception as err:  # noqa: BLE001
            first = str(err).strip().splitlines()[0]
            raise BadInputError(
                f"{self.path}: onnxruntime refused a {size[0]}x{size[1]} image ({first})"
            ) from None
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 4 or 3 not in (y.shape[1], y.shape[3]):
            raise BadInputError(f"{self.path}: output shape {list(y.shape)} is not an RGB image")
        check_generated(y, self.path.name, x)
        y = y[0] if y.shape[3] == 3 else y[0].transpose(1, 2, 0)
        pixels = np.clip((y + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(pixels).resize(rgb.size, Image.BILINEAR)


def stylize_onnx(
    image: Image.Image | str | os.PathLike[str],
    model: str | os.PathLike[str],
    device: str = "cpu",
    multiple: int | None = None,
) -> Image.Image:
    """Stylise one photo with an ONNX file: a gankit image-to-image export or an AnimeGANv3 file.

    ``image`` is a PIL image or an image path; the result has the photo's size. For repeated
    calls build :class:`OnnxModel` / :class:`ThirdPartyStylizer` once instead.
    """
    from gankit.core.images import read_image

    img = image if isinstance(image, Image.Image) else read_image(image)
    runner = load_stylizer(model, device, multiple)
    return runner.stylize(img)


def load_stylizer(
    model: str | os.PathLike[str], device: str = "cpu", multiple: int | None = None
) -> ThirdPartyStylizer | ExportStylizer:
    """The right runner for an ONNX file: gankit metadata -> NCHW export, else AnimeGANv3."""
    if has_gankit_metadata(model, device):
        return ExportStylizer(OnnxModel(model, device))
    return ThirdPartyStylizer(model, device, multiple)
