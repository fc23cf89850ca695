"""onnxruntime inference for gankit's own ONNX exports.

A gankit export (``gankit_*`` metadata, see :mod:`gankit.runtime.export`) takes NCHW float in
[-1, 1] under the names the exporter wrote; :class:`OnnxModel` runs it like the PyTorch module and
:class:`ExportStylizer` runs an image-to-image one on PIL images. ONNX files gankit did not write
follow their family's contract (AnimeGANv3's lives in the AnimeGAN family), which the web app
reaches through :func:`gankit.core.registry.onnx_contract`.
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


def np_dtype(onnx_type: str) -> Any:
    """The numpy dtype of an ONNX float tensor type (None for any other type)."""
    return {"tensor(float)": np.float32, "tensor(float16)": np.float16}.get(onnx_type)


class OnnxModel:
    """A gankit-exported ONNX generator run by onnxruntime, called like the PyTorch module."""

    def __init__(self, path: str | os.PathLike[str], device: str = "cpu", threads: int = 0):
        self.path = Path(path)
        self.session = load_session(self.path, device, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata = {
            k[len(META_PREFIX) :]: v for k, v in meta.items() if k.startswith(META_PREFIX)
        }
        if "kind" not in self.metadata:
            raise BadInputError(
                f"{self.path}: not a gankit ONNX export (no gankit metadata); third-party "
                "ONNX files follow their family's contract (AnimeGANv3: gankit animegan stylize)"
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
            dtype = np_dtype(spec.type) or arr.dtype
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


def dims(shape: list[Any]) -> list[int | None]:
    """An ONNX shape with its free (named or unset) axes as None."""
    return [d if isinstance(d, int) and d > 0 else None for d in shape]


class ExportStylizer:
    """Adapts an image-to-image :class:`OnnxModel` to ``stylize(PIL) -> PIL``."""

    def __init__(self, model: OnnxModel):
        if model.kind != "image2image":
            raise BadInputError(f"{model.path}: a {model.kind} model, not an image-to-image one")
        self.model = model
        self.multiple = int(model.metadata.get("size_multiple", "1"))
        fixed = dims(list(model.inputs[0].shape))
        self.fixed = (fixed[2], fixed[3]) if len(fixed) == 4 else (None, None)

    def stylize(self, image: Image.Image) -> Image.Image:
        """RGB image -> output of the same size: free axes padded to the size multiple and
        cropped back (as the PyTorch apps do), fixed ones resized to and back."""
        import torch

        from gankit.core.images import crop_back, pad_to_multiple

        rgb = image.convert("RGB")
        fh, fw = self.fixed
        size = (fw or rgb.size[0], fh or rgb.size[1])
        resized = rgb.resize(size, Image.BILINEAR) if size != rgb.size else rgb
        x = np.asarray(resized, dtype=np.float32) / 127.5 - 1.0
        padded, crop = pad_to_multiple(torch.from_numpy(x.transpose(2, 0, 1))[None], self.multiple)
        y = crop_back(self.model.run(padded.numpy())[0], crop).astype(np.float32)
        check_generated(y, self.model.path.name, x)
        pixels = np.clip((y.transpose(1, 2, 0) + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
        out = Image.fromarray(pixels)
        return out.resize(rgb.size, Image.BILINEAR) if out.size != rgb.size else out


def has_gankit_metadata(path: str | os.PathLike[str], device: str = "cpu") -> bool:
    """True when ``path`` is a gankit export (else a third-party file with its own contract)."""
    meta = load_session(path, device).get_modelmeta().custom_metadata_map
    return META_PREFIX + "kind" in meta
