"""What users do with an AnimeGAN generator: stylize photos (any size, tiled when large),
stylize videos, import community checkpoints and download published weights.

Inference is the paper's single generator pass (AnimeGAN sec. 3.1); what this module adds is
engineering: padding to the network's stride, batching, reduced precision, and tiling whose
tiles share the whole image's normalisation statistics so that tiles do not drift in colour.

Two backends run the generator: PyTorch (``backend="torch"``) and onnxruntime
(``backend="onnx"``, through :mod:`gankit.runtime.onnx_runtime`, and for AnimeGANv3 files
:mod:`gankit.families.animegan.onnx_contract`). A gankit model folder is exported
to ONNX once, cached in gankit's cache folder under the hash of its config and weights; an
``.onnx`` file is run directly: a ``gankit export onnx`` file like the folder it came from, any
other file (TachibanaYoshino's AnimeGANv3 releases) with the AnimeGANv3 contract.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gankit.core.atomic import check_not_input
from gankit.core.checkpoint import from_pretrained
from gankit.core.device import cpu_has_native_bf16, precision_dtype, run_device
from gankit.core.errors import BadInputError, CheckpointError, UsageError
from gankit.core.images import (
    IMAGE_EXTENSIONS,
    crop_back,
    expand_inputs,
    pad_to_multiple,
    read_image,
    save_image,
)
from gankit.core.output_check import check_generated
from gankit.families.animegan.convert import convert
from gankit.families.animegan.downloads import download, download_dataset
from gankit.families.animegan.layers import frozen_norm_stats
from gankit.families.animegan.networks import STRIDE
from gankit.families.animegan.prepare import prepare

__all__ = [
    "BACKENDS",
    "OnnxRunner",
    "Runner",
    "convert",
    "download",
    "download_dataset",
    "load_model",
    "make_runner",
    "prepare",
    "stylize",
    "stylize_image",
    "stylize_tiled",
    "train",
    "video",
]

AUTO_TILE_PIXELS = 768 * 768
"""Images above this many pixels are tiled unless a tile size is given (keeps RSS < 2 GB: a
whole-image v2 pass peaks near 2.5 kB per pixel in fp32)."""
STATS_PIXELS = 768 * 768
"""Normalisation statistics for tiling come from the whole image resized to at most this."""
MAX_INPUT_PIXELS = 64_000_000
BACKENDS = ("auto", "torch", "onnx")
"""``auto``: onnxruntime for ``.onnx`` files, PyTorch for everything else."""
GENERATORS = ("animegan_v1_generator", "animegan_v2_generator", "animegan_v1_ptran_generator")
GENERATOR_NAME = "the AnimeGAN generator"
"""How errors about a generator's output name it."""
ONNX_TRACE_SIZE = 64
"""Size the cached export is traced at; its height and width are dynamic, so any size runs."""


@dataclass
class Runner:
    """A generator placed on a device with a precision: call it on [-1, 1] NCHW batches."""

    model: torch.nn.Module
    device: torch.device
    precision: str = "fp32"

    def __post_init__(self) -> None:
        dtype = precision_dtype(self.precision)
        if self.precision == "fp16" and self.device.type == "cpu":
            raise UsageError("fp16 is for GPUs; on the CPU use --precision bf16 or fp32")
        if self.precision == "bf16" and self.device.type == "cpu":
            if not cpu_has_native_bf16():
                warnings.warn(
                    "this CPU has no native bf16 (AVX-512 BF16 / AMX); bf16 will be "
                    "slow, prefer fp32",
                    stacklevel=2,
                )
        # Reduced precision casts the whole network (not autocast): on CPUs with native bf16
        # the casts autocast inserts around every norm cost more than the convs save.
        self.dtype = dtype or torch.float32
        self.model = (
            self.model.eval()
            .requires_grad_(False)
            .to(self.device, self.dtype, memory_format=torch.channels_last)
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Stylize a batch of any size: pads to a multiple of 4, returns the input size in fp32."""
        padded, size = pad_to_multiple(x, STRIDE)
        padded = padded.to(self.device, self.dtype, memory_format=torch.channels_last)
        with torch.inference_mode():
            y = self.model(padded)
        return check_generated(crop_back(y, size).float(), GENERATOR_NAME, x)


def load_model(model: str | os.PathLike[str] | torch.nn.Module) -> torch.nn.Module:
    """A generator from a gankit folder, URL or hub id (an ``nn.Module`` passes through)."""
    if isinstance(model, torch.nn.Module):
        return model
    loaded = from_pretrained(model)
    if getattr(loaded, "arch_name", "") not in GENERATORS:
        raise CheckpointError(f"{model}: holds {loaded.arch_name!r}, not an AnimeGAN generator")
    return loaded


# --- onnxruntime backend ----------------------------------------------------------------------


class OnnxRunner:
    """A gankit AnimeGAN export run by onnxruntime, called like :class:`Runner`.

    The export must have dynamic height and width (the cached exports and
    ``gankit export onnx --dynamic`` do); inputs are padded to a multiple of 4 as in
    :class:`Runner`, so both backends see the same pixels.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.path = Path(model.path)
        self.device = torch.device("cpu")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Stylize a batch of any size: [-1, 1] NCHW in, fp32 NCHW of the input size out."""
        padded, size = pad_to_multiple(x.float(), STRIDE)
        return check_generated(crop_back(self.model(padded), size), GENERATOR_NAME, x)


def _onnx_file_runner(path: Path, device: str) -> Any:
    """A runner for an ``.onnx`` file: :class:`OnnxRunner` for a dynamic gankit AnimeGAN export,
    else the PIL-level stylizer of :mod:`gankit.families.animegan.onnx_contract` (fixed-size
    gankit exports, AnimeGANv3 files)."""
    from gankit.families.animegan.onnx_contract import load_stylizer
    from gankit.runtime.onnx_runtime import META_PREFIX, OnnxModel, load_session

    meta = load_session(path, device).get_modelmeta().custom_metadata_map
    if META_PREFIX + "kind" not in meta:
        return load_stylizer(path, device)  # third-party: contract checked there
    onnx_model = OnnxModel(path, device)
    arch = onnx_model.config.get("architecture")
    if arch not in GENERATORS:
        raise CheckpointError(f"{path}: a gankit export of {arch!r}, not an AnimeGAN generator")
    dims = list(onnx_model.inputs[0].shape)
    if len(dims) == 4 and not any(isinstance(d, int) for d in dims[2:]):
        return OnnxRunner(onnx_model)
    return load_stylizer(path, device)


def make_runner(
    model: str | os.PathLike[str] | torch.nn.Module,
    *,
    device: str | None = None,
    precision: str = "fp32",
    backend: str = "auto",
) -> Any:
    """The object that stylizes with ``model`` on ``backend``.

    A :class:`Runner` (PyTorch) or :class:`OnnxRunner` (tensor in, tensor out), or for ONNX files
    that fix their own sizes an object with ``stylize(PIL image) -> PIL image``.
    """
    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    from gankit.runtime.onnx_runtime import is_onnx_path

    onnx_file = is_onnx_path(model)
    if onnx_file and backend == "torch":
        raise UsageError(f"{model}: an ONNX file runs on the onnx backend, not torch")
    if backend == "torch" or (backend == "auto" and not onnx_file):
        return Runner(load_model(model), run_device(model, device), precision)
    if precision != "fp32":
        raise UsageError(f"the onnx backend runs fp32 only, got --precision {precision}")
    from gankit.runtime.onnx_cache import cached_model, onnx_device

    if onnx_file:
        return _onnx_file_runner(Path(os.fspath(model)), onnx_device(device or "auto"))
    return OnnxRunner(
        cached_model(
            model,
            load_model,
            device or "auto",
            dynamic=True,
            height=ONNX_TRACE_SIZE,
            width=ONNX_TRACE_SIZE,
        )
    )


def _check_backend_tiling(runner: Any, tile: int | None) -> None:
    if tile is not None and not isinstance(runner, Runner):
        raise UsageError(
            "--tile needs the torch backend (tiles share the whole image's norm "
            "statistics, which an ONNX graph cannot take); drop --tile"
        )


# --- tiling -----------------------------------------------------------------------------------


def _starts(length: int, tile: int, overlap: int) -> list[int]:
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step)) + [length - tile]
    return sorted(set(starts))


def _ramp(length: int, overlap: int, ramp_start: bool, ramp_end: bool) -> torch.Tensor:
    """1-D blending weights: 0 -> 1 over ``overlap`` px at the sides that meet another tile."""
    w = torch.ones(length)
    if overlap > 0:
        r = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
        if ramp_start:
            w[:overlap] = torch.minimum(w[:overlap], r)
        if ramp_end:
            w[-overlap:] = torch.minimum(w[-overlap:], r.flip(0))
    return w


def _to_tensor(arr: np.ndarray) -> torch.Tensor:
    """uint8 HWC -> float 1CHW in [-1, 1]."""
    return torch.tensor(arr).permute(2, 0, 1).float().div_(127.5).sub_(1.0).unsqueeze(0)


def stylize_tiled(
    runner: Runner, image: Image.Image, tile: int, overlap: int, batch: int = 1
) -> torch.Tensor:
    """Stylize ``image`` tile by tile with the whole image's norm statistics; CHW in [-1, 1].

    Statistics are recorded on one pass over the image (downscaled to ``STATS_PIXELS`` if larger),
    then every tile is normalised with them. Tiles overlap by ``overlap`` px and are blended with
    linear ramps, so tile borders (where padding replaces real context) get almost no weight.
    """
    tile = max(STRIDE * 4, tile - tile % STRIDE)
    overlap = min(overlap - overlap % STRIDE, tile // 2)
    w, h = image.size
    scale = min(1.0, math.sqrt(STATS_PIXELS / (w * h)))
    small = (
        image
        if scale == 1.0
        else image.resize(
            (max(STRIDE, round(w * scale)), max(STRIDE, round(h * scale))), Image.Resampling.BICUBIC
        )
    )
    store: dict = {}
    with frozen_norm_stats(runner.model, "record", store):
        runner(_to_tensor(np.asarray(small)))
    arr = np.asarray(image)
    out = torch.zeros(3, h, w)
    weight = torch.zeros(1, h, w)
    boxes = [(y, x) for y in _starts(h, tile, overlap) for x in _starts(w, tile, overlap)]
    with frozen_norm_stats(runner.model, "use", store):
        for i in range(0, len(boxes), batch):
            group = boxes[i : i + batch]
            th, tw = min(tile, h), min(tile, w)
            x = torch.cat([_to_tensor(arr[y : y + th, x0 : x0 + tw]) for y, x0 in group])
            y_out = runner(x).cpu()
            for (y, x0), t in zip(group, y_out, strict=True):
                wy = _ramp(th, overlap, y > 0, y + th < h)
                wx = _ramp(tw, overlap, x0 > 0, x0 + tw < w)
                m = (wy[:, None] * wx[None, :])[None]
                out[:, y : y + th, x0 : x0 + tw] += t * m
                weight[:, y : y + th, x0 : x0 + tw] += m
    return out.div_(weight).clamp_(-1, 1)


def stylize_image(
    runner: Runner, image: Image.Image, tile: int | None = None, overlap: int = 64, batch: int = 1
) -> torch.Tensor:
    """One PIL image -> stylized CHW tensor in [-1, 1]; tiled when asked or above the budget."""
    w, h = image.size
    if not isinstance(runner, Runner):  # onnxruntime: whole image, no shared-statistics tiling
        return runner(_to_tensor(np.asarray(image)))[0].cpu()
    if tile is None and w * h > AUTO_TILE_PIXELS:
        tile = 512
    if tile is not None and (w > tile or h > tile):
        return stylize_tiled(runner, image, tile, overlap, batch)
    return runner(_to_tensor(np.asarray(image)))[0].cpu()


# --- files ------------------------------------------------------------------------------------


def _output_paths(files: Sequence[Path], output: Path) -> list[Path]:
    if output.suffix.lower() in IMAGE_EXTENSIONS and not output.is_dir():
        if len(files) != 1:
            raise UsageError(f"{output}: {len(files)} inputs need an output folder, not a file")
        return [output]
    if output.exists() and not output.is_dir():
        raise UsageError(f"{output}: exists and is not a folder")
    paths = [output / f.name for f in files]
    seen: set[Path] = set()
    for p in paths:
        if p in seen:
            raise UsageError(f"two inputs are named {p.name}; stylize them into separate folders")
        seen.add(p)
    return paths


def _batches(files: Sequence[Path], batch: int) -> Iterator[list[tuple[Path, Image.Image]]]:
    """Consecutive images of the same size, up to ``batch`` at a time, read lazily."""
    group: list[tuple[Path, Image.Image]] = []
    for f in files:
        img = read_image(f, max_pixels=MAX_INPUT_PIXELS)
        if group and (len(group) == batch or group[0][1].size != img.size):
            yield group
            group = []
        group.append((f, img))
    if group:
        yield group


def _save_styled(img: Any, dest: Path) -> Path:
    """Write one stylized image atomically; JPEGs at quality 95 rather than Pillow's 75."""
    kwargs = {"quality": 95} if dest.suffix.lower() in (".jpg", ".jpeg") else {}
    return save_image(img, dest, **kwargs)


def stylize(
    inputs: Sequence[str | os.PathLike[str]] | str | os.PathLike[str],
    model: str | os.PathLike[str] | torch.nn.Module,
    output: str | os.PathLike[str],
    *,
    device: str | None = None,
    precision: str = "fp32",
    batch: int = 1,
    tile: int | None = None,
    overlap: int = 64,
    backend: str = "auto",
    overwrite: bool = False,
) -> list[Path]:
    """Stylize image files, folders or globs into ``output`` (a file for one input, else a folder).

    Outputs keep each input's size and name; every file is written atomically. ``model`` is a
    gankit folder, URL, hub id, module or ``.onnx`` file; ``backend`` is ``torch``, ``onnx``
    (a gankit model is exported once and cached) or ``auto`` (onnx for ``.onnx`` files only).
    An output that is one of the inputs is refused unless ``overwrite``.
    """
    if isinstance(inputs, str | os.PathLike):
        inputs = [inputs]
    if batch < 1:
        raise UsageError(f"--batch must be >= 1, got {batch}")
    if tile is not None and tile < 4 * STRIDE:
        raise UsageError(f"--tile must be >= {4 * STRIDE} px, got {tile}")
    if overlap < 0:
        raise UsageError(f"--overlap must be >= 0, got {overlap}")
    files = expand_inputs(inputs)
    if not files:
        raise BadInputError("no input images")
    outs = dict(zip(files, _output_paths(files, Path(output)), strict=True))
    check_not_input(outs.values(), files, overwrite=overwrite)
    runner = make_runner(model, device=device, precision=precision, backend=backend)
    _check_backend_tiling(runner, tile)
    written = []
    if hasattr(runner, "stylize"):  # an ONNX file with its own size rules (e.g. AnimeGANv3)
        for f in files:
            img = runner.stylize(read_image(f, max_pixels=MAX_INPUT_PIXELS))
            written.append(_save_styled(img, outs[f]))
        return written
    for group in _batches(files, batch):
        w, h = group[0][1].size
        tiled = tile is not None and (w > tile or h > tile) or w * h > AUTO_TILE_PIXELS
        if len(group) > 1 and not tiled:
            x = torch.cat([_to_tensor(np.asarray(img)) for _, img in group])
            results = list(runner(x).cpu())
        else:
            results = [stylize_image(runner, img, tile, overlap, batch) for _, img in group]
        for (f, _), y in zip(group, results, strict=True):
            written.append(_save_styled(y, outs[f]))
    return written


def video(
    src: str | os.PathLike[str],
    model: str | os.PathLike[str] | torch.nn.Module,
    output: str | os.PathLike[str],
    *,
    device: str | None = None,
    precision: str = "fp32",
    batch: int | None = None,
    tile: int | None = None,
    overlap: int = 64,
    start: float = 0.0,
    duration: float | None = None,
    pipeline: bool = True,
    progress: bool = False,
    backend: str = "auto",
    overwrite: bool = False,
) -> Path:
    """Stylize a video into an H.264 file with the audio kept (:mod:`gankit.core.video`).

    ``model`` and ``backend`` are as in :func:`stylize`. ``batch`` (frames per forward)
    defaults to 1 on the CPU, where larger batches measured slower per frame on the v2
    generator (cache-bound), and 4 on GPUs. ``output`` equal to ``src`` needs ``overwrite``.
    """
    from gankit.core.video import transform_video
    from gankit.families.animegan.video import frames_transform

    check_not_input([output], [src], overwrite=overwrite)

    runner = make_runner(model, device=device, precision=precision, backend=backend)
    _check_backend_tiling(runner, tile)
    if batch is None:
        batch = 1 if getattr(runner, "device", torch.device("cpu")).type == "cpu" else 4
    if hasattr(runner, "stylize"):
        stylizer = runner

        def transform(frames: list[np.ndarray]) -> list[np.ndarray]:
            return [np.asarray(stylizer.stylize(Image.fromarray(f))) for f in frames]
    else:
        transform = frames_transform(runner, tile, overlap)
    return transform_video(
        src,
        output,
        transform,
        batch=batch,
        start=start,
        duration=duration,
        pipeline=pipeline,
        progress=progress,
    )


def train(
    config: Any, run_dir: str | os.PathLike[str], feature_extractor: torch.nn.Module | None = None
) -> Path:
    """Train (or resume) in ``run_dir`` with an ``AnimeGANTrainConfig``; returns the model folder.

    The schedule is the paper's, in epochs: with ``trainer.max_steps`` 0 the engine runs
    ``epochs`` passes over the dataset, and with ``trainer.sample_every`` 0 it writes a sample
    grid of the fixed photos once per epoch.
    """
    from gankit.engine import Trainer
    from gankit.families.animegan.recipe import AnimeGANRecipe

    recipe = AnimeGANRecipe(config, feature_extractor)
    Trainer(recipe, run_dir, config.trainer).run()
    return Path(run_dir) / "model"
