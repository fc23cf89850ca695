"""Export-once caching behind the families' ``--backend onnx``.

A family's app asks for "this model, as ONNX": a model folder, URL or hub id is exported on
first use into ``<gankit cache>/onnx/<hash>.onnx``, keyed by the hash of its ``config.json`` +
``model.safetensors``, the PyTorch version and the export settings, so a retrained or edited
model gets a fresh file and a second run starts at once. An in-memory module is exported into a
temporary folder that lives as long as the process. The files are written atomically by
:func:`gankit.runtime.export.export_onnx`, so a crashed export never leaves a half file behind.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.core.errors import CheckpointError, UsageError

CACHE_VERSION = "1"
"""Part of every cache key: bump when the way models are exported changes."""
BACKENDS = ("torch", "onnx")
"""What runs a model folder in the families' apps: PyTorch, or onnxruntime on its cached export."""

_PROCESS_DIR: Path | None = None
_MODULE_EXPORTS = itertools.count()


def check_backend(backend: str) -> None:
    """A one-line :class:`UsageError` for a backend outside :data:`BACKENDS`."""
    if backend not in BACKENDS:
        raise UsageError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")


def add_backend_argument(parser: Any) -> None:
    """``--backend torch|onnx`` for a family command that runs a model folder."""
    parser.add_argument(
        "--backend",
        default="torch",
        choices=BACKENDS,
        help="onnx: run with onnxruntime (the model is exported once and cached)",
    )


def onnx_device(device: str) -> str:
    """onnxruntime's device name (``cpu``, ``cuda``, ``auto``) for a ``--device`` value."""
    name = device.split(":", 1)[0]
    if name in ("auto", "cpu", "cuda"):
        return name
    raise UsageError(f"the onnx backend runs on cpu or cuda, not {device!r}")


def model_files(source: str | os.PathLike[str]) -> Path:
    """The local folder holding ``config.json`` and ``model.safetensors`` for ``source``
    (a run folder's ``model/`` subfolder when given the run)."""
    from gankit.core.checkpoint import CONFIG_NAME, resolve_model_path

    folder = resolve_model_path(source)
    if not (folder / CONFIG_NAME).exists() and (folder / "model" / CONFIG_NAME).exists():
        folder = folder / "model"
    return folder


def export_key(folder: Path, settings: dict[str, Any]) -> str | None:
    """Cache key of a model folder: its config and weights, PyTorch's version, ``settings``
    (None when a file cannot be read; loading the folder then says which one)."""
    from gankit.core.checkpoint import CONFIG_NAME, WEIGHTS_NAME

    digest = hashlib.sha256()
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        try:
            with open(folder / name, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
        except OSError:
            return None
    extra = ",".join(f"{k}={settings[k]}" for k in sorted(settings))
    digest.update(f"|{torch.__version__}|{CACHE_VERSION}|{extra}".encode())
    return digest.hexdigest()[:32]


def _process_dir() -> Path:
    """A temporary folder for exports of in-memory modules, removed when the process ends."""
    global _PROCESS_DIR
    if _PROCESS_DIR is None:
        _PROCESS_DIR = Path(tempfile.mkdtemp(prefix="gankit-onnx-"))
        atexit.register(shutil.rmtree, _PROCESS_DIR, True)
    return _PROCESS_DIR


def cached_export(
    model: str | os.PathLike[str] | nn.Module,
    load: Callable[[Any], nn.Module],
    variant: str = "",
    **settings: Any,
) -> Path:
    """The ONNX export of ``model`` with ``export_onnx(**settings)``, made on first use.

    ``load`` turns ``model`` (or its resolved folder) into the family's network and refuses
    anything else; it runs before every fresh export so a wrong model fails with the family's
    message, not the exporter's. ``variant`` names a different module ``load`` makes of the
    same folder (e.g. Pix2Pix's test-time network); it is part of the cache key.
    """
    from gankit.core.checkpoint import CONFIG_NAME, WEIGHTS_NAME, cache_dir, inspect_folder
    from gankit.runtime.export import export_onnx

    if isinstance(model, nn.Module):
        module = load(model)
        dest = _process_dir() / f"module-{next(_MODULE_EXPORTS)}.onnx"
    else:
        folder = model_files(model)
        inspect_folder(folder)  # a FIFO or /dev/zero link must not reach the hashing below
        key = export_key(folder, {**settings, "variant": variant} if variant else settings)
        if key is None:
            load(folder)  # says which file is missing
            raise CheckpointError(f"{folder}: cannot read its {CONFIG_NAME} / {WEIGHTS_NAME}")
        dest = cache_dir() / "onnx" / f"{key}.onnx"
        if dest.is_file():  # written atomically, only after the checks below passed
            return dest
        module = load(folder)
    dest.parent.mkdir(parents=True, exist_ok=True)
    return export_onnx(module, dest, **settings)


def cached_model(
    model: str | os.PathLike[str] | nn.Module,
    load: Callable[[Any], nn.Module],
    device: str,
    variant: str = "",
    **settings: Any,
) -> Any:
    """:func:`cached_export` opened in onnxruntime on ``device`` (an ``OnnxModel``); the device
    is checked first, so a bad ``--device`` fails before any export."""
    from gankit.runtime.onnx_runtime import OnnxModel

    ort_device = onnx_device(device)
    return OnnxModel(cached_export(model, load, variant, **settings), ort_device)
