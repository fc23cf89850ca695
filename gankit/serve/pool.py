"""The models behind ``gankit serve``: described without loading, loaded lazily, run safely.

Each source (model folder, URL, Hugging Face repo id, or ``.onnx`` file) is described from its
``config.json`` and the registry alone; its weights load on the first request and stay cached
(least recently used ones are dropped beyond ``max_loaded``). Every check on user input raises a
:class:`~gankit.core.errors.BadInputError` with a message the web page shows as is.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gankit.core.checkpoint import DEMO_OUTPUT
from gankit.core.errors import (
    BadInputError,
    ConfigError,
    GankitError,
    UsageError,
)
from gankit.core.images import (
    IMAGE_EXTENSIONS,
    crop_back,
    pad_to_multiple,
    pil_to_tensor,
    read_image,
    tensor_to_pil,
)
from gankit.core.output_check import check_generated
from gankit.core.seed import model_latents
from gankit.runtime.protocol import ModelInfo, describe, latent_kwargs

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif")
GONE = "this upload was used by an earlier run and deleted; upload the file again"
"""What a request hears when it names an upload the server has deleted (each upload serves the
runs it was uploaded for; see :class:`gankit.serve.app.TempFolder`)."""
CACHE_DEPTH = 3
"""How deep model folders are looked for in the download cache (``<family>/models/<name>``)."""


@dataclass(frozen=True)
class ServedModel:
    """One model the app offers: where it comes from and what kind of tab it needs."""

    name: str
    source: str
    family: str
    architecture: str
    info: ModelInfo
    onnx: bool = False


def inspect_source(source: str, name: str | None = None) -> ServedModel:
    """Describe ``source`` without loading its weights (the network is built on the meta device).

    The weights file's header is checked against that network, so that a broken model folder
    stops ``gankit serve`` at start-up instead of failing on the first request.
    """
    from gankit.core import registry
    from gankit.core.checkpoint import inspect_folder, resolve_model_path
    from gankit.runtime.onnx_runtime import is_onnx_path

    if is_onnx_path(source):
        return _inspect_onnx(source, name or Path(source).stem)
    folder = resolve_model_path(source)
    cfg, shell = inspect_folder(folder)
    arch = registry.get(cfg["architecture"])
    info = describe(shell, arch.role)
    label = name or (folder.parent.name if folder.name == "model" else folder.name)
    return ServedModel(label, str(source), arch.family, arch.name, info)


def _inspect_onnx(source: str, name: str) -> ServedModel:
    """An ``.onnx`` file: a gankit image-to-image export, or a file one family's registered
    contract runs (AnimeGANv3's), found through the registry; the contract is checked here."""
    from gankit.core import registry
    from gankit.runtime.onnx_runtime import META_PREFIX, load_session

    meta = load_session(source).get_modelmeta().custom_metadata_map
    if META_PREFIX + "kind" in meta:
        if meta[META_PREFIX + "kind"] != "image2image":
            raise ConfigError(f"{source}: only image-to-image ONNX files can be served")
        cfg = json.loads(meta.get(META_PREFIX + "config") or "{}")
        return ServedModel(
            name,
            str(source),
            cfg.get("family", "gankit"),
            cfg.get("architecture", "onnx"),
            ModelInfo("image2image"),
            onnx=True,
        )
    refusals = []
    for family in registry.onnx_contract_families():
        try:
            registry.onnx_contract(family)(source, "cpu")
        except BadInputError as err:
            refusals.append(str(err))
            continue
        return ServedModel(name, str(source), family, "onnx", ModelInfo("image2image"), onnx=True)
    raise BadInputError(
        "; ".join(refusals)
        or f"{source}: no gankit metadata, and no family registers a contract for other ONNX files"
    )


def parse_model_args(items: list[str]) -> list[ServedModel]:
    """``--models`` entries, each ``SOURCE`` or ``NAME=SOURCE``; names must be unique."""
    out: list[ServedModel] = []
    for item in items:
        name, sep, source = item.partition("=")
        if not sep or os.path.exists(item):
            name, source = None, item
        served = inspect_source(source, name)
        if served.info.kind not in ("image2image", "latent", "sampler"):
            raise UsageError(
                f"{source}: a {served.info.kind} model can be exported but has no web page"
            )
        if any(s.name == served.name for s in out):
            raise UsageError(f"two models are named {served.name!r}; use NAME=SOURCE")
        out.append(served)
    return out


@dataclass(frozen=True)
class FoundModel:
    """A model :func:`find_models` found, and where (for the line ``gankit serve`` prints)."""

    model: ServedModel
    where: str


def _cache_model_folders(root: Path) -> list[Path]:
    """Folders holding ``config.json`` + ``model.safetensors`` under ``root``, at most
    :data:`CACHE_DEPTH` deep, not looking inside a model folder or a hidden one."""
    from gankit.core.checkpoint import CONFIG_NAME, WEIGHTS_NAME

    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if CONFIG_NAME in files and WEIGHTS_NAME in files:
            found.append(here)
            dirs.clear()
            continue
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")) if depth < CACHE_DEPTH else []
    return sorted(found)


def find_models(
    demo_output: Path = DEMO_OUTPUT, cache: Path | None = None
) -> tuple[list[FoundModel], list[str]]:
    """The models ``gankit serve`` offers when given no ``--models``: the demo's run (named
    ``demo``) and every model folder in the download cache (converted downloads, named after
    their folder, prefixed with the family when two share a name).

    Returns the models and one line per folder that was skipped (unreadable, or of a kind
    without a web page), so that one broken download does not stop the others being served.
    """
    from gankit.core.checkpoint import cache_dir

    cache = cache_dir() if cache is None else cache
    candidates: list[tuple[str | None, Path, str]] = []
    run = demo_output / "run"
    if (run / "model" / "config.json").exists():
        candidates.append(("demo", run, "made by `make demo`"))
    if cache.is_dir():
        candidates += [(None, p, "the download cache") for p in _cache_model_folders(cache)]
    found: list[FoundModel] = []
    skipped: list[str] = []
    for name, folder, where in candidates:
        try:
            served = inspect_source(str(folder), name)
        except GankitError as err:
            skipped.append(f"skipped {folder}: {err}")
            continue
        if served.info.kind not in ("image2image", "latent", "sampler"):
            skipped.append(f"skipped {folder}: a {served.info.kind} model has no web page")
            continue
        taken = {f.model.name for f in found}
        label = served.name if served.name not in taken else f"{served.family}-{served.name}"
        number = 2
        while label in taken:
            label, number = f"{served.family}-{served.name}-{number}", number + 1
        served = dataclasses.replace(served, name=label)
        found.append(FoundModel(served, f"{folder} ({where})"))
    return found, skipped


def _load_onnx(served: ServedModel, device: str) -> Any:
    """The stylizer of an ``.onnx`` model: :class:`ExportStylizer` for a gankit export, else the
    contract of the family :func:`_inspect_onnx` found."""
    from gankit.core import registry
    from gankit.runtime.onnx_runtime import ExportStylizer, OnnxModel, has_gankit_metadata

    if has_gankit_metadata(served.source, device):
        return ExportStylizer(OnnxModel(served.source, device))
    return registry.onnx_contract(served.family)(served.source, device)


class ModelPool:
    """Lazily loaded, cached models, and the three things the app does with them."""

    def __init__(
        self,
        models: list[ServedModel],
        device: str = "cpu",
        max_loaded: int = 4,
        max_side: int = 1024,
        max_upload_mb: float = 20.0,
        max_frames: int = 300,
    ):
        self.models = {m.name: m for m in models}
        self.device = device
        self.max_loaded = max_loaded
        self.max_side = max_side
        self.max_upload_bytes = int(max_upload_mb * 1024 * 1024)
        self.max_frames = max_frames
        self._loaded: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0
        """How many times weights were loaded (tests check the cache with it)."""

    def names(self, family: str | None = None, *kinds: str) -> list[str]:
        """Model names of ``family`` (all if None) whose kind is one of ``kinds`` (any if none)."""
        return [
            m.name
            for m in self.models.values()
            if (family is None or m.family == family) and (not kinds or m.info.kind in kinds)
        ]

    def served(self, name: str) -> ServedModel:
        if name not in self.models:
            raise BadInputError(f"no model named {name!r}; choose one of {', '.join(self.models)}")
        return self.models[name]

    def get(self, name: str) -> Any:
        """The loaded model (loading and caching it on first use)."""
        served = self.served(name)
        with self._lock:
            if name in self._loaded:
                self._loaded.move_to_end(name)
                return self._loaded[name]
            if served.onnx:
                model = _load_onnx(served, self.device)
            else:
                from gankit.core.checkpoint import from_pretrained
                from gankit.core.device import resolve_device

                model = from_pretrained(served.source, device=resolve_device(self.device))
                if served.info.kind == "image2image":  # the memory layout the CLI runs in
                    model = model.to(memory_format=torch.channels_last)
            self.loads += 1
            self._loaded[name] = model
            while len(self._loaded) > self.max_loaded:
                self._loaded.popitem(last=False)
            return model

    # -- checks on uploads ------------------------------------------------------------------
    def check_upload(self, path: str | None, extensions: tuple[str, ...], what: str) -> Path:
        if not path:
            raise BadInputError(f"upload {what} first")
        p = Path(path)
        if p.suffix.lower() not in extensions:
            raise BadInputError(f"{p.name}: not an accepted {what} type ({', '.join(extensions)})")
        if not p.exists():
            raise BadInputError(f"{p.name}: {GONE}")
        size = p.stat().st_size
        if size == 0:
            raise BadInputError(f"{p.name}: the uploaded file is empty")
        if size > self.max_upload_bytes:
            raise BadInputError(
                f"{p.name}: {size / 2**20:.1f} MB is over the "
                f"{self.max_upload_bytes / 2**20:.0f} MB upload limit"
            )
        return p

    def _fit(self, img: Image.Image) -> Image.Image:
        """Shrink to ``max_side`` (the web app's limit on work per request); the network's size
        multiple is met afterwards by padding, as on the command line."""
        w, h = img.size
        scale = min(1.0, self.max_side / max(w, h))
        if scale < 1.0:
            img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)
        return img

    # -- what the tabs do -------------------------------------------------------------------
    @torch.no_grad()
    def image_to_image(self, name: str, img: Image.Image) -> Image.Image:
        served = self.served(name)
        if served.info.kind != "image2image":
            raise BadInputError(f"{name} is a {served.info.kind} model, not image-to-image")
        model = self.get(name)
        img = self._fit(img.convert("RGB"))
        if served.onnx:
            return model.stylize(img)
        device = next(model.parameters()).device
        x = pil_to_tensor(img)[None].to(device)
        padded, size = pad_to_multiple(x, served.info.size_multiple)
        padded = padded.contiguous(memory_format=torch.channels_last)
        try:
            test_forward = getattr(model, "test_forward", None)
            y = (
                model(padded)
                if test_forward is None
                else test_forward(padded, torch.Generator().manual_seed(0))
            )
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
            raise BadInputError(
                f"{name} cannot process a {img.size[0]}x{img.size[1]} image "
                f"({first}); try another size"
            ) from None
        return tensor_to_pil(check_generated(crop_back(y, size), name, x)[0].clamp(-1, 1))

    def image_file(self, name: str, path: str | None) -> tuple[Image.Image, Image.Image]:
        """Uploaded image path -> (input as used, output)."""
        p = self.check_upload(path, IMAGE_EXTENSIONS, "an image")
        img = read_image(p)
        out = self.image_to_image(name, img)
        return img.resize(out.size) if img.size != out.size else img, out

    @torch.no_grad()
    def generate(
        self, name: str, seed: int, count: int = 1, truncation: float = 1.0
    ) -> Image.Image:
        """``count`` images from ``seed``: for a latent generator the latents of seeds
        ``seed .. seed + count - 1`` (the model's own seed convention, as in the CLI:
        :func:`gankit.core.seed.model_latents`), truncated when the model supports
        it; for a sampler, the seed of its noise generator."""
        served = self.served(name)
        if served.info.kind not in ("latent", "sampler"):
            raise BadInputError(
                f"{name} is a {served.info.kind} model, not a generator of random images"
            )
        if not 1 <= count <= 16:
            raise BadInputError("number of images must be between 1 and 16")
        if not 0.0 <= truncation <= 1.0:
            raise BadInputError("truncation must be between 0 and 1")
        model = self.get(name)
        device = next(model.parameters()).device
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            if served.info.kind == "sampler":
                images = model(n=count, generator=torch.Generator(device).manual_seed(int(seed)))
            else:
                z = model_latents(model, range(int(seed), int(seed) + count), device)
                images = model(z, **latent_kwargs(model, truncation))
        from torchvision.utils import make_grid

        images = check_generated(images.float().cpu(), name)
        grid = make_grid(images.clamp(-1, 1), nrow=min(count, 4), padding=2, pad_value=1.0)
        return tensor_to_pil(grid)

    @torch.no_grad()
    def mix(
        self, name: str, seed_a: int, seed_b: int, crossover: int, truncation: float = 1.0
    ) -> Image.Image:
        """Three images side by side: ``seed_a``, ``seed_b`` and the mix that takes the first
        ``crossover`` style layers (coarse: pose, shape) from A and the rest from B."""
        from gankit.runtime.protocol import style_mix

        served = self.served(name)
        layers = served.info.mixing
        if not layers:
            raise BadInputError(f"{name} does not support style mixing")
        if not 1 <= crossover < layers:
            raise BadInputError(f"crossover must be between 1 and {layers - 1}")
        if not 0.0 <= truncation <= 1.0:
            raise BadInputError("truncation must be between 0 and 1")
        model = self.get(name)
        device = next(model.parameters()).device
        z_a = model_latents(model, [int(seed_a)], device)
        z_b = model_latents(model, [int(seed_b)], device)
        images = torch.cat(
            [
                style_mix(model, z_a, z_a, layers - 1, truncation),
                style_mix(model, z_b, z_b, layers - 1, truncation),
                style_mix(model, z_a, z_b, int(crossover), truncation),
            ]
        )
        from torchvision.utils import make_grid

        images = check_generated(images.float().cpu(), name)
        return tensor_to_pil(make_grid(images.clamp(-1, 1), nrow=3, padding=2, pad_value=1.0))

    def animate(self, name: str, seed: int, frames: int, out_dir: Path, fps: float = 10) -> Path:
        """A looping GIF of ``frames`` frames from a sampler's ``animate`` (SinGAN: a seeded
        random walk around the training image, paper sec. 4), written into ``out_dir``."""
        import tempfile

        from gankit.core.images import save_gif

        served = self.served(name)
        if not served.info.animate:
            raise BadInputError(f"{name} is a {served.info.kind} model that cannot animate")
        if not 2 <= frames <= self.max_frames:
            raise BadInputError(f"number of frames must be between 2 and {self.max_frames}")
        model = self.get(name)
        device = next(model.parameters()).device
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            video = model.animate(int(frames), torch.Generator(device).manual_seed(int(seed)))
        video = check_generated(video, name)
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="animation-", suffix=".gif", dir=out_dir)
        os.close(fd)
        return save_gif(video, tmp, fps)

    def video_file(self, name: str, path: str | None, out_dir: Path) -> Path:
        """Stylise every frame of an uploaded video (up to ``max_frames``) into an H.264 MP4
        with the audio kept, through the pipeline the command line uses
        (:func:`gankit.core.video.transform_video`)."""
        import tempfile

        from gankit.core.video import transform_video

        p = self.check_upload(path, VIDEO_EXTENSIONS, "a video")
        out_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="video-", suffix=".mp4", dir=out_dir)
        os.close(fd)

        def transform(frames: list[np.ndarray]) -> list[np.ndarray]:
            return [np.asarray(self.image_to_image(name, Image.fromarray(f))) for f in frames]

        try:
            return transform_video(p, tmp, transform, batch=1, max_frames=self.max_frames)
        except BaseException:  # bad frames, or a broken model's output: no half-written file
            Path(tmp).unlink(missing_ok=True)
            raise
