"""onnxruntime inference for gankit's own ONNX exports and third-party AnimeGANv3 files.

Two contracts are read from the file, never assumed:

* gankit exports (``gankit_*`` metadata, see :mod:`gankit.serve.export`): NCHW float in [-1, 1],
  the names the exporter wrote. :class:`OnnxModel` runs them like the PyTorch module.
* TachibanaYoshino's published AnimeGANv3 ``.onnx`` files (AnimeGANv3 repository,
  ``deploy/test_by_onnx.py``): one NHWC float input in [-1, 1], RGB, each side rounded *down*
  to a multiple of 8 (16 for the "tiny" models) with 256 as the minimum, output NHWC in
  [-1, 1] resized back to the photo's size. :class:`ThirdPartyStylizer` implements that; it also
  takes the NCHW 3-channel layout of the community AnimeGANv2 conversions.

The AnimeGAN family runs ``--model X.onnx`` through :func:`load_stylizer`;
:func:`stylize_onnx` is the one-call form.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gankit.core.errors import BadInputError, ConfigError
from gankit.core.output_check import check_generated

META_PREFIX = "gankit_"
MIN_SIDE = 256
"""AnimeGANv3's ``to_8s``: sides under 256 are raised to 256."""


def is_onnx_path(source: Any) -> bool:
    """True for a path-like naming an ``.onnx`` file (the test the apps use to pick a backend)."""
    return isinstance(source, str | os.PathLike) and os.fspath(source).lower().endswith(".onnx")


def providers(device: str = "cpu") -> list[str]:
    """onnxruntime execution providers for ``cpu`` / ``cuda`` / ``auto``."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device in ("cuda", "auto") and "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    if device == "cuda":
        raise ConfigError("onnxruntime here has no CUDA provider; install onnxruntime-gpu")
    return ["CPUExecutionProvider"]


def load_session(path: str | os.PathLike[str], device: str = "cpu", threads: int = 0) -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path``, or a :class:`BadInputError` saying why."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such ONNX file")
    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=providers(device))
    except Exception as err:  # noqa: BLE001 - onnxruntime raises bare RuntimeError subclasses
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise BadInputError(f"{path}: not a loadable ONNX model ({first})") from None


def _np_dtype(onnx_type: str) -> Any:
    return {"tensor(float)": np.float32, "tensor(float16)": np.float16}.get(onnx_type)


class OnnxModel:
    """A gankit-exported ONNX generator run by onnxruntime, called like the PyTorch module."""

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu", threads: int = 0):
        self.path = Path(path)
        self.session = load_session(self.path, device, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = {k[len(META_PREFIX):]: v for k, v in meta.items()
                         if k.startswith(META_PREFIX)}
        if "kind" not in self.metadata:
            raise BadInputError(
                f"{self.path}: not a gankit ONNX export (no gankit metadata); third-party "
                "AnimeGANv3 files go through stylize_onnx / ThirdPartyStylizer"
            )
        self.kind = self.metadata["kind"]
        self.inputs = self.session.get_inputs()
        self.output_names = [o.name for o in self.session.get_outputs()]

    @property
    def z_dim(self) -> int:
        """Latent size of a latent generator's export (0 for other kinds), as on the module."""
        return int(self.metadata.get("z_dim") or 0)

    @property
    def seed_convention(self) -> str:
        """How the exported generator's seeds become latents (:mod:`gankit.core.seed`)."""
        return self.metadata.get("seed_convention") or "torch"

    @property
    def config(self) -> dict[str, Any]:
        """The gankit ``config.json`` content the file was exported from."""
        return json.loads(self.metadata.get("config") or "{}")

    def run(self, *arrays: np.ndarray) -> np.ndarray:
        """Run on numpy arrays (cast to the file's input dtypes); returns the first output."""
        if len(arrays) != len(self.inputs):
            raise BadInputError(
                f"{self.path}: takes {len(self.inputs)} input(s) "
                f"({', '.join(i.name for i in self.inputs)}), got {len(arrays)}"
            )
        feed = {}
        for spec, arr in zip(self.inputs, arrays, strict=True):
            dtype = _np_dtype(spec.type) or arr.dtype
            feed[spec.name] = np.ascontiguousarray(arr, dtype=dtype)
        try:
            return self.session.run(self.output_names[:1], feed)[0]
        except Exception as err:  # noqa: BLE001 - shape errors come back as RuntimeError
            first = str(err).strip().splitlines()[0]
            raise BadInputError(f"{self.path}: onnxruntime refused the input ({first})") from None

    def run_tensors(self, *tensors: Any) -> Any:
        """Torch tensors in, a float32 torch tensor out (so apps can swap it for the module)."""
        import torch

        out = self.run(*(t.detach().cpu().float().numpy() for t in tensors))
        return torch.from_numpy(np.asarray(out, dtype=np.float32))

    __call__ = run_tensors


def _dims(shape: list[Any]) -> list[int | None]:
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


class ThirdPartyStylizer:
    """A photo-to-anime ONNX file with the AnimeGANv3 contract (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu",
                 multiple: int | None = None, threads: int = 0):
        self.path = Path(path)
        self.session = load_session(self.path, device, threads)
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        where = f"{self.path}: does not fit the AnimeGANv3 ONNX contract"
        if len(ins) != 1 or not outs:
            raise BadInputError(f"{where} (needs one image input, has {len(ins)} inputs)")
        inp, out = ins[0], outs[0]
        self.dtype = _np_dtype(inp.type)
        if self.dtype is None:
            raise BadInputError(f"{where} (input {inp.name!r} is {inp.type}, expected float)")
        shape = _dims(list(inp.shape))
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
                f"{where} (input {inp.name!r} shape {list(inp.shape)} has no 3-channel axis)")
        out_shape = _dims(list(out.shape))
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
            raise BadInputError(f"{self.path}: onnxruntime refused a {size[0]}x{size[1]} "
                                f"image ({first})") from None
        y = np.asarray(y, dtype=np.float32)
        if y.ndim != 4 or 3 not in (y.shape[1], y.shape[3]):
            raise BadInputError(f"{self.path}: output shape {list(y.shape)} is not an RGB image")
        check_generated(y, self.path.name, x)
        y = y[0] if y.shape[3] == 3 else y[0].transpose(1, 2, 0)
        pixels = np.clip((y + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(pixels).resize(rgb.size, Image.BILINEAR)


def stylize_onnx(image: Image.Image | str | os.PathLike[str], model: str | os.PathLike[str],
                 device: str = "cpu", multiple: int | None = None) -> Image.Image:
    """Stylise one photo with an ONNX file: a gankit image-to-image export or an AnimeGANv3 file.

    ``image`` is a PIL image or an image path; the result has the photo's size. For repeated
    calls build :class:`OnnxModel` / :class:`ThirdPartyStylizer` once instead.
    """
    from gankit.core.images import read_image

    img = image if isinstance(image, Image.Image) else read_image(image)
    runner = load_stylizer(model, device, multiple)
    return runner.stylize(img)


class _GankitStylizer:
    """Adapts an image-to-image :class:`OnnxModel` to ``stylize(PIL) -> PIL``."""

    def __init__(self, model: OnnxModel):
        if model.kind != "image2image":
            raise BadInputError(f"{model.path}: a {model.kind} model, not an image-to-image one")
        self.model = model
        self.multiple = int(model.metadata.get("size_multiple", "1"))
        fixed = _dims(list(model.inputs[0].shape))
        self.fixed = (fixed[2], fixed[3]) if len(fixed) == 4 else (None, None)

    def stylize(self, image: Image.Image) -> Image.Image:
        rgb = image.convert("RGB")
        w, h = rgb.size
        fh, fw = self.fixed
        m = self.multiple
        size = (fw or max(m, w - w % m), fh or max(m, h - h % m))
        x = np.asarray(rgb.resize(size, Image.BILINEAR) if size != rgb.size else rgb,
                       dtype=np.float32) / 127.5 - 1.0
        y = self.model.run(x.transpose(2, 0, 1)[None])[0].astype(np.float32)
        check_generated(y, self.model.path.name, x)
        pixels = np.clip((y.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        out = Image.fromarray(pixels)
        return out.resize(rgb.size, Image.BILINEAR) if out.size != rgb.size else out


def load_stylizer(model: str | os.PathLike[str], device: str = "cpu",
                  multiple: int | None = None) -> ThirdPartyStylizer | _GankitStylizer:
    """The right runner for an ONNX file: gankit metadata -> NCHW export, else AnimeGANv3."""
    session = load_session(model, device)
    meta = session.get_modelmeta().custom_metadata_map
    if META_PREFIX + "kind" in meta:
        return _GankitStylizer(OnnxModel(model, device))
    return ThirdPartyStylizer(model, device, multiple)
