"""gankit's one model format: a folder with ``config.json`` and ``model.safetensors``.

``save_pretrained`` writes the folder atomically; ``from_pretrained`` reads a local folder, an
http(s) or file URL of such a folder, or a Hugging Face Hub repo id, and checks every tensor's
name, shape and dtype against the network its config builds. Weights are never unpickled here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gankit.core.atomic import OVERWRITE_REMEDY, FolderKind, atomic_dir, check_output_dir
from gankit.core.errors import CheckpointError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def model_config_dict(model: Any) -> dict[str, Any]:
    from gankit import __version__
    from gankit.core import registry

    if not hasattr(model, "arch_name"):
        raise CheckpointError("model was not built through gankit's registry; cannot save it")
    arch = registry.get(model.arch_name)
    return {
        "gankit_version": __version__,
        "architecture": arch.name,
        "family": arch.family,
        "role": arch.role,
        "config": dataclasses.asdict(model.config),
    }


def is_model_folder(path: Path) -> bool:
    """Whether ``path`` is a folder :func:`save_pretrained` wrote: exactly ``config.json`` (naming
    a gankit architecture) and ``model.safetensors``, nothing else, so replacing it loses nothing
    but an earlier model. A Hugging Face folder of another library has the same two names and
    is told apart by its config."""
    try:
        if sorted(p.name for p in path.iterdir()) != sorted((CONFIG_NAME, WEIGHTS_NAME)):
            return False
        cfg = json.loads((path / CONFIG_NAME).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (isinstance(cfg, dict) and isinstance(cfg.get("architecture"), str)
            and (path / WEIGHTS_NAME).is_file())


MODEL_FOLDER = FolderKind(f"gankit model folder ({CONFIG_NAME} + {WEIGHTS_NAME} only)",
                          is_model_folder)


def check_model_output(path: str | os.PathLike[str], *, overwrite: bool = False,
                       inputs: Iterable[str | os.PathLike[str]] = (),
                       remedy: str = OVERWRITE_REMEDY) -> Path:
    """Refuse ``path`` as a model folder to write (see :func:`gankit.core.atomic.check_output_dir`)
    before a long conversion, download or training run, not after it."""
    return check_output_dir(path, MODEL_FOLDER, overwrite=overwrite, inputs=inputs,
                            remedy=remedy)


def save_pretrained(model: Any, path: str | os.PathLike[str], extra: dict | None = None, *,
                    overwrite: bool = False,
                    inputs: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write ``config.json`` + ``model.safetensors`` into ``path`` atomically.

    ``path`` may be new, an empty folder or an earlier gankit model folder; anything else only
    with ``overwrite``, and never a folder holding one of ``inputs`` (the converted file).
    """
    from safetensors.torch import save_file

    cfg = model_config_dict(model)
    if extra:
        cfg["extra"] = extra
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_dir(path, MODEL_FOLDER, overwrite=overwrite, inputs=inputs) as tmp:
        (tmp / CONFIG_NAME).write_text(json.dumps(cfg, indent=2) + "\n")
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
    return Path(path)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        cfg = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not a readable gankit config.json ({err})") from None
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: config.json must hold an object")
    missing = [k for k in ("architecture", "config") if k not in cfg]
    if missing or not isinstance(cfg.get("config"), dict):
        raise CheckpointError(
            f"{path}: config.json lacks {', '.join(missing) or 'a config object'}"
        )
    return cfg


def _check_state(model: Any, loaded: dict[str, Any], where: Path) -> None:
    """``loaded`` (name -> tensor, or anything with ``shape`` and ``dtype``) against ``model``."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(loaded))
    unexpected = sorted(set(loaded) - set(expected))
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensor(s) e.g. {missing[0]!r}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensor(s) e.g. {unexpected[0]!r}")
        raise CheckpointError(
            f"{where}: weights do not match architecture {model.arch_name!r}: " + "; ".join(parts)
        )
    for key, ref in expected.items():
        got = loaded[key]
        if tuple(got.shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{where}: tensor {key!r} has shape {tuple(got.shape)}, config expects "
                f"{tuple(ref.shape)}"
            )
        if got.dtype != ref.dtype:
            raise CheckpointError(
                f"{where}: tensor {key!r} has dtype {got.dtype}, expected {ref.dtype}"
            )


class _Header:
    """Shape and dtype of one tensor in a safetensors header (no data read)."""

    def __init__(self, shape: list[int], dtype: str) -> None:
        import torch

        kinds = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
                 "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
                 "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
        self.shape, self.dtype = tuple(shape), kinds.get(dtype, dtype)


def check_weights(model: Any, weights: Path) -> None:
    """Check ``weights``' tensor names, shapes and dtypes against ``model`` from the file's header.

    ``model`` may live on the meta device: this is how ``gankit serve`` refuses a broken model
    folder at start-up without loading every model's weights.
    """
    from safetensors import SafetensorError, safe_open

    if not weights.is_file():
        raise CheckpointError(f"{weights.parent}: no {WEIGHTS_NAME}; the model folder is "
                              "incomplete")
    try:
        with safe_open(str(weights), "pt") as fh:
            loaded = {k: _Header(fh.get_slice(k).get_shape(), fh.get_slice(k).get_dtype())
                      for k in fh.keys()}
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: corrupt or truncated safetensors file ({err})") from None
    _check_state(model, loaded, weights)


def build_from_config(cfg: dict[str, Any], where: Path, device: Any = None) -> Any:
    """The network a ``config.json`` describes, built on ``device`` (``"meta"``: no memory).

    Config dataclasses do not check types, so a value such as ``"big"`` or ``-8`` in an edited
    config only fails inside the network's constructor; that is the file's fault, not a bug,
    and becomes a one-line :class:`CheckpointError`.
    """
    import torch

    from gankit.core import registry

    arch = registry.get(cfg["architecture"])
    config = registry.config_from_dict(arch.config_cls, cfg["config"])
    try:
        with torch.device(device or "cpu"), warnings.catch_warnings():
            # e.g. "zero-element tensors" for a zero size: noise before the error below
            warnings.simplefilter("ignore", UserWarning)
            return registry.build(arch.name, config)
    except (TypeError, ValueError, RuntimeError, OverflowError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise CheckpointError(
            f"{where}: its config does not build architecture {arch.name!r} "
            f"({type(err).__name__}: {first})"
        ) from None


def load_folder(folder: Path, device: Any = None) -> Any:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    cfg_path, weights = folder / CONFIG_NAME, folder / WEIGHTS_NAME
    if not cfg_path.exists() and (folder / "model" / CONFIG_NAME).exists():
        return load_folder(folder / "model", device)
    if not cfg_path.exists():
        raise CheckpointError(f"{folder}: no {CONFIG_NAME}; not a gankit model folder")
    if not weights.exists():
        raise CheckpointError(f"{folder}: no {WEIGHTS_NAME}; the model folder is incomplete")
    model = build_from_config(_read_config(cfg_path), cfg_path)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: corrupt or truncated safetensors file ({err})") from None
    _check_state(model, state, weights)
    model.load_state_dict(state, strict=True)
    model.eval()
    if device is not None:
        model.to(device)
    return model


def cache_dir() -> Path:
    """gankit's download cache: ``$GANKIT_CACHE``, else ``$XDG_CACHE_HOME/gankit`` (~/.cache)."""
    root = os.environ.get("GANKIT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "gankit"
    )
    return Path(root)


def _fetch_url_folder(url: str) -> Path:
    from gankit.core.download import download_file

    base = url.rstrip("/")
    if base.endswith(CONFIG_NAME) or base.endswith(WEIGHTS_NAME):
        base = base.rsplit("/", 1)[0]
    dest = cache_dir() / "models" / hashlib.sha256(base.encode()).hexdigest()[:16]
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        download_file(f"{base}/{name}", dest / name)
    return dest


def _fetch_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=[CONFIG_NAME, WEIGHTS_NAME]))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"cannot fetch {repo_id!r} from the Hugging Face Hub: {first}"
        ) from None


def resolve_model_path(source: str | os.PathLike[str]) -> Path:
    """A local folder for ``source`` (downloading it if it is a URL or a hub repo id)."""
    text = os.fspath(source)
    path = Path(text)
    if path.exists():
        if path.is_file():
            if path.suffix.lower() in PICKLE_SUFFIXES:
                raise CheckpointError(
                    f"{path}: a PyTorch pickle, not a gankit model folder; import it with "
                    "`gankit <family> convert FILE -o DIR` (gankit never unpickles model files)"
                )
            if path.name in (CONFIG_NAME, WEIGHTS_NAME):
                return path.parent
            raise CheckpointError(f"{path}: expected a gankit model folder, got a file")
        return path
    if re.match(r"^(https?|file)://", text):
        return _fetch_url_folder(text)
    if _REPO_ID.match(text) and not text.startswith((".", "/")):
        return _fetch_hub(text)
    raise CheckpointError(f"{text}: no such model folder, URL or Hugging Face repo id")


def from_pretrained(source: str | os.PathLike[str], device: Any = None) -> Any:
    """Load a gankit model from a folder, URL or Hugging Face repo id (validated, eval mode)."""
    return load_folder(resolve_model_path(source), device)
