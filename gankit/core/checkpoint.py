"""gankit's one model format: a folder with ``config.json`` and ``model.safetensors``.

``save_pretrained`` writes the folder atomically; ``from_pretrained`` reads a local folder, an
http(s) or file URL of such a folder, or a Hugging Face Hub repo id, and checks every tensor's
name, shape and dtype against the network its config builds. Weights are never unpickled here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import threading
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from gankit.core.atomic import OVERWRITE_REMEDY, FolderKind, atomic_dir, check_output_dir
from gankit.core.errors import BadInputError, CheckpointError, ConfigError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".tar")
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MAX_CONFIG_BYTES = 4 * 2**20
"""A ``config.json`` is a few hundred bytes; 4 MiB leaves room for any pyramid plan."""
MAX_HEADER_BYTES = 16 * 2**20
"""A safetensors header lists ~100 bytes per tensor; 16 MiB is over 100,000 tensors."""


def model_config_dict(model: Any) -> dict[str, Any]:
    from gankit import __version__
    from gankit.core import registry

    name = registry.name_of(model)
    if name is None:
        raise CheckpointError(
            f"{type(model).__name__} is not a registered architecture with its config; build it "
            "with gankit.core.registry.build(name) to save it"
        )
    arch = registry.get(name)
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
    return (
        isinstance(cfg, dict)
        and isinstance(cfg.get("architecture"), str)
        and (path / WEIGHTS_NAME).is_file()
    )


MODEL_FOLDER = FolderKind(
    f"gankit model folder ({CONFIG_NAME} + {WEIGHTS_NAME} only)", is_model_folder
)


def check_model_output(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
    remedy: str = OVERWRITE_REMEDY,
) -> Path:
    """Refuse ``path`` as a model folder to write (see :func:`gankit.core.atomic.check_output_dir`)
    before a long conversion, download or training run, not after it."""
    return check_output_dir(path, MODEL_FOLDER, overwrite=overwrite, inputs=inputs, remedy=remedy)


def save_pretrained(
    model: Any,
    path: str | os.PathLike[str],
    extra: dict | None = None,
    *,
    overwrite: bool = False,
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> Path:
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


def _folder_root(folder: Path) -> Path:
    """The folder that ``folder``'s files may link into: ``folder`` itself, or for a Hugging Face
    cache snapshot (``models--OWNER--NAME/snapshots/REV``, whose files link to ``../../blobs``)
    the repo's cache folder."""
    real = Path(os.path.realpath(folder))
    if real.parent.name == "snapshots" and real.parent.parent.name.startswith("models--"):
        return real.parent.parent
    return real


@contextlib.contextmanager
def _as_checkpoint_error() -> Iterator[None]:
    """A model folder's unreadable file is a :class:`CheckpointError`, like its other faults."""
    try:
        yield
    except BadInputError as err:
        raise CheckpointError(str(err)) from None


def _read_config(path: Path, root: Path) -> dict[str, Any]:
    from gankit.core.files import read_json

    with _as_checkpoint_error():
        cfg = read_json(path, root, MAX_CONFIG_BYTES)
    if not isinstance(cfg, dict):
        raise CheckpointError(f"{path}: config.json must hold an object")
    missing = [k for k in ("architecture", "config") if k not in cfg]
    if missing or not isinstance(cfg.get("config"), dict):
        raise CheckpointError(
            f"{path}: config.json lacks {', '.join(missing) or 'a config object'}"
        )
    if not isinstance(cfg["architecture"], str):
        raise CheckpointError(
            f"{path}: its architecture must be a name, got {cfg['architecture']!r}"
        )
    return cfg


def _model_subfolder(folder: Path) -> Path:
    """``folder``, or its ``model`` subfolder (a training run) when only that has a config."""
    if not (folder / CONFIG_NAME).exists() and (folder / "model" / CONFIG_NAME).exists():
        return folder / "model"
    if not os.path.lexists(folder / CONFIG_NAME):
        raise CheckpointError(f"{folder}: no {CONFIG_NAME}; not a gankit model folder")
    if not os.path.lexists(folder / WEIGHTS_NAME):
        raise CheckpointError(f"{folder}: no {WEIGHTS_NAME}; the model folder is incomplete")
    return folder


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

        kinds = {
            "F64": torch.float64,
            "F32": torch.float32,
            "F16": torch.float16,
            "BF16": torch.bfloat16,
            "I64": torch.int64,
            "I32": torch.int32,
            "I16": torch.int16,
            "I8": torch.int8,
            "U8": torch.uint8,
            "BOOL": torch.bool,
        }
        self.shape, self.dtype = tuple(shape), kinds.get(dtype, dtype)
        self.numel = math.prod(self.shape)


def read_header(weights: Path, root: Path) -> dict[str, _Header]:
    """Every tensor's shape and dtype from ``weights``' safetensors header; no tensor data read.

    The format (huggingface/safetensors ``README.md``@ead9d7b, "Format"): 8 bytes little-endian
    header length N, N bytes of JSON ``{name: {dtype, shape, data_offsets}}``, then the data. The
    file must be a regular file inside ``root`` and N at most :data:`MAX_HEADER_BYTES`; shapes,
    dtypes and byte ranges are checked so that a lying header is refused before anything is
    built.
    """
    from gankit.core.files import open_regular

    def corrupt(why: str) -> CheckpointError:
        return CheckpointError(f"{weights}: corrupt or truncated safetensors file ({why})")

    with _as_checkpoint_error(), open_regular(weights, root, None) as fh:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(8)
        if len(head) < 8:
            raise corrupt("shorter than its 8-byte header length")
        length = int.from_bytes(head, "little")
        if length > MAX_HEADER_BYTES:
            raise corrupt(f"a header of {length:,} bytes; at most {MAX_HEADER_BYTES:,} allowed")
        if 8 + length > size:
            raise corrupt(f"a header of {length:,} bytes in a file of {size:,}")
        text = fh.read(length)
    try:
        table = json.loads(text)
    except (RecursionError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise corrupt(f"header is not JSON: {type(err).__name__}") from None
    if not isinstance(table, dict):
        raise corrupt("header is not a JSON object")
    tensors, data_size = {}, size - 8 - length
    for name, entry in table.items():
        if name == "__metadata__":
            continue
        shape = entry.get("shape") if isinstance(entry, dict) else None
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(shape, list)
            or not isinstance(entry.get("dtype"), str)
            or any(type(d) is not int or d < 0 for d in shape)
            or not isinstance(offsets, list)
            or len(offsets) != 2
            or any(type(o) is not int for o in offsets)
            or not 0 <= offsets[0] <= offsets[1] <= data_size
        ):
            raise corrupt(f"bad header entry for tensor {name!r}")
        tensors[name] = _Header(shape, entry["dtype"])
        itemsize = getattr(tensors[name].dtype, "itemsize", None)
        if itemsize is not None and tensors[name].numel * itemsize != offsets[1] - offsets[0]:
            raise corrupt(
                f"tensor {name!r} of shape {tuple(shape)} does not fit its "
                f"{offsets[1] - offsets[0]:,} bytes"
            )
    return tensors


@contextlib.contextmanager
def _bounded_by(header: dict[str, _Header], where: Path) -> Iterator[None]:
    """Stop a network's construction as soon as it outgrows what ``header`` can justify.

    A config that says ``num_layers: 10000000`` would make even a meta-device build take
    minutes and gigabytes of Python objects; the module registration hooks of this thread count
    the tensors, elements and submodules made so far and raise once they pass a generous
    multiple of the weights file's (parametrisations such as spectral norm register a tensor
    several times: about 10x at most among gankit's networks).
    """
    from torch.nn.modules import module as torch_module

    elements = sum(h.numel for h in header.values())
    budget = {
        "tensors": 16 * len(header) + 64,
        "modules": 8 * len(header) + 64,
        "elements": 4 * elements + 2**16,
    }
    thread = threading.get_ident()

    def spend(kind: str, amount: int) -> None:
        if threading.get_ident() != thread:
            return
        budget[kind] -= amount
        if budget[kind] < 0:
            raise CheckpointError(
                f"{where}: its config describes a network far larger than its {WEIGHTS_NAME} "
                f"({len(header):,} tensors, {elements:,} elements): it made more {kind} than "
                "that justifies"
            )

    def on_tensor(module: Any, name: str, tensor: Any) -> None:
        if tensor is not None:
            spend("tensors", 1)
            spend("elements", tensor.numel())

    hooks = [
        torch_module.register_module_parameter_registration_hook(on_tensor),
        torch_module.register_module_buffer_registration_hook(on_tensor),
        torch_module.register_module_module_registration_hook(
            lambda module, name, sub: spend("modules", 1)
        ),
    ]
    try:
        yield
    finally:
        for hook in hooks:
            hook.remove()


def build_from_config(
    cfg: dict[str, Any], where: Path, device: Any = None, header: dict[str, _Header] | None = None
) -> Any:
    """The network a ``config.json`` describes, built on ``device`` (``"meta"``: no memory).

    Values are type-checked first (:func:`gankit.core.registry.config_from_dict`); one that
    still fails inside the network's constructor (``-8`` channels in an edited config) is the
    file's fault, not a bug, and becomes a one-line :class:`CheckpointError`. With ``header``
    (from :func:`read_header`) the build stops once it outgrows the weights (:func:`_bounded_by`).
    """
    import torch

    from gankit.core import registry

    arch = registry.get(cfg["architecture"])
    try:
        config = registry.config_from_dict(arch.config_cls, cfg["config"])
    except ConfigError as err:
        raise CheckpointError(f"{where}: {err}") from None
    bound = _bounded_by(header, where) if header is not None else contextlib.nullcontext()
    try:
        with torch.device(device or "cpu"), warnings.catch_warnings(), bound:
            # e.g. "zero-element tensors" for a zero size: noise before the error below
            warnings.simplefilter("ignore", UserWarning)
            return registry.build(arch.name, config)
    except (TypeError, ValueError, RuntimeError, OverflowError, RecursionError, MemoryError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise CheckpointError(
            f"{where}: its config does not build architecture {arch.name!r} "
            f"({type(err).__name__}: {first})"
        ) from None


def inspect_folder(folder: Path) -> tuple[dict[str, Any], Any]:
    """A model folder's config and its network on the meta device, checked against the weights.

    Nothing is built for real until the config is proven by the weights file's header: the
    config file and header are read with size caps, the build on the meta device is bounded by
    the header (:func:`_bounded_by`), and the result must match every tensor name, shape and
    dtype in it, so the later real build allocates exactly what the weights justify.
    """
    folder = _model_subfolder(folder)
    root = _folder_root(folder)
    cfg = _read_config(folder / CONFIG_NAME, root)
    header = read_header(folder / WEIGHTS_NAME, root)
    shell = build_from_config(cfg, folder / CONFIG_NAME, "meta", header)
    _check_state(shell, header, folder / WEIGHTS_NAME)
    return cfg, shell


def load_folder(folder: Path, device: Any = None) -> Any:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from gankit.core.files import inside

    folder = _model_subfolder(folder)
    cfg, _ = inspect_folder(folder)
    model = build_from_config(cfg, folder / CONFIG_NAME)
    weights = folder / WEIGHTS_NAME
    try:
        state = load_file(str(inside(weights, _folder_root(folder))))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights}: corrupt or truncated safetensors file ({err})") from None
    _check_state(model, state, weights)
    model.load_state_dict(state, strict=True)
    model.eval()
    if device is not None:
        model.to(device)
    return model


DEMO_OUTPUT = Path("demo-output")
"""Where ``gankit demo`` (``make demo``) writes by default; its training run is ``run/``, which
``gankit serve`` offers when given no ``--models``."""


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
    for name, kind in ((CONFIG_NAME, "config"), (WEIGHTS_NAME, "weights")):
        download_file(f"{base}/{name}", dest / name, kind=kind)
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
