"""Reading other projects' checkpoints for the families' importers, safely.

``torch.load(weights_only=True)`` refuses to run code from a pickle; anything it cannot read
(or a file that is not a checkpoint at all) becomes a :class:`CheckpointError` naming the file.
Plain pickles (NVlabs ``.pkl``, NumPy object arrays) go through :class:`RestrictedUnpickler`,
which rebuilds tensors, arrays and containers and whatever inert records an importer allows,
and refuses every other global: nothing from the file is imported or executed.
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gankit.core.errors import CheckpointError


def load_torch_file(path: str | os.PathLike[str], safe_globals: Iterable[Any] = ()) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)`` with one-line errors.

    ``safe_globals`` lets an importer allow specific plain-data classes (e.g. a config object a
    project pickled beside its weights) without allowing arbitrary code.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with torch.serialization.safe_globals(list(safe_globals)), warnings.catch_warnings():
            # torch warns about pickle protocols it may not support before failing on them:
            # a second stderr line that says nothing the CheckpointError below does not
            warnings.simplefilter("ignore", UserWarning)
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        what = str(err).split("Weights only load failed")[-1].strip().splitlines()
        detail = next((ln for ln in what if "GLOBAL" in ln or "Unsupported" in ln), "")
        raise CheckpointError(
            f"{path}: not a checkpoint gankit can read safely: only tensors and plain "
            "containers are allowed" + (f" ({detail.strip()[:160]})" if detail else "")
        ) from None
    except (
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        KeyError,
        IndexError,
        TypeError,
        AttributeError,
    ) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}"
            + (f": {first}" if first else "")
            + ")"
        ) from None


def strip_prefix(state: dict[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Drop a ``DataParallel``-style ``prefix`` from every key that has it."""
    return {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in state.items()}


def tensor_dict(obj: Any, where: str) -> dict[str, Any]:
    """``obj`` if it is a non-empty ``{name: tensor}`` mapping, else a CheckpointError."""
    import torch

    if (
        not isinstance(obj, dict)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise CheckpointError(f"{where}: expected a state dict of named tensors")
    return obj


def _rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, *_):
    import torch

    del requires_grad, hooks
    t = torch.empty((0,), dtype=storage.dtype)
    return t.set_(storage, offset, torch.Size(size), stride)


def _rebuild_parameter(data, requires_grad=False, hooks=None, *_):
    del requires_grad, hooks
    return data


def _storage_from_bytes(data: bytes):
    import torch

    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    out: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(module, "_reconstruct")] = multiarray._reconstruct
        out[(module, "scalar")] = multiarray.scalar
    return out


def data_globals() -> dict[tuple[str, str], Any]:
    """The globals every restricted load allows: containers, tensors and NumPy arrays."""
    return {
        ("collections", "OrderedDict"): OrderedDict,
        ("builtins", "set"): set,
        ("builtins", "frozenset"): frozenset,
        ("builtins", "slice"): slice,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
        ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
        **_numpy_globals(),
    }


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles containers, tensors, NumPy arrays and the ``extra`` globals an importer names
    (inert record classes) — nothing else: any other global (``os.system``, ``builtins.eval``, a
    class to import, ...) is refused with a :class:`CheckpointError`."""

    def __init__(
        self, file: Any, extra: Mapping[tuple[str, str], Any] | None = None, **options: Any
    ) -> None:
        super().__init__(file, **options)
        self.allowed = {**data_globals(), **(extra or {})}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise CheckpointError(
            f"the pickle asks for {module}.{name}, which gankit does not load "
            "(only tensors, arrays, containers and known records are read)"
        )

    def persistent_load(self, pid: Any) -> Any:
        raise CheckpointError(
            "the pickle uses external storage records; re-save it with "
            "pickle.dump, or use a torch.save file"
        )


def foreign_pickle_load(
    path: str | os.PathLike[str],
    extra: Mapping[tuple[str, str], Any] | None = None,
    what: str = "pickle",
) -> Any:
    """Read a plain pickle file as data through :class:`RestrictedUnpickler`; one-line errors."""
    try:
        with open(path, "rb") as fh:
            return RestrictedUnpickler(fh, extra).load()
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        RuntimeError,
        OSError,
        IndexError,
        KeyError,
    ) as err:
        raise CheckpointError(f"{path}: not a readable {what} ({err})") from None


class TFNetwork(dict):
    """A ``dnnlib.tflib.network.Network`` record (its ``__setstate__`` dict: ``name``,
    ``static_kwargs``, ``components``, ``build_module_src`` kept as text and never executed,
    ``build_func_name``, ``variables`` as ``(name, ndarray)`` pairs), as plain data."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.update(state)


class EasyDictRecord(dict):
    """A plain attribute dict (``dnnlib.EasyDict``) rebuilt as a dict."""


TFLIB_GLOBALS: dict[tuple[str, str], Any] = {
    ("dnnlib.util", "EasyDict"): EasyDictRecord,
    ("dnnlib.tflib.network", "Network"): TFNetwork,
}
"""The records of NVlabs' TF-era pickles (StyleGAN, StyleGAN2, their metric networks), read
as inert data: unpickling them normally imports ``dnnlib`` and ``exec``s the network's module
source stored in the file (NVlabs/stylegan dnnlib/tflib/network.py ``__setstate__``)."""


class ScriptObject:
    """A TorchScript object (``__torch__.<class>``) of an archive's ``data.pkl``, as data: its
    qualified class name and its attribute dict (parameters, buffers, submodules)."""

    qualified_name = "__torch__"

    def __setstate__(self, state: Any) -> None:
        self.state = dict(state) if isinstance(state, dict) else {}

    def __repr__(self) -> str:
        return f"ScriptObject({self.qualified_name})"


_SCRIPT_DTYPES = {
    "FloatStorage": "float32",
    "HalfStorage": "float16",
    "BFloat16Storage": "bfloat16",
    "DoubleStorage": "float64",
    "LongStorage": "int64",
    "IntStorage": "int32",
    "ShortStorage": "int16",
    "CharStorage": "int8",
    "ByteStorage": "uint8",
    "BoolStorage": "bool",
}


def _rebuild_from_flat(flat, offset, size, stride, *_):
    return flat.as_strided(tuple(size), tuple(stride), offset)


class _ScriptUnpickler(RestrictedUnpickler):
    """A TorchScript archive's ``data.pkl``: storages come from the archive's ``data/<key>``
    entries, ``__torch__`` classes become :class:`ScriptObject` records; the archive's ``code/``
    is never read, let alone run."""

    def __init__(self, file: Any, archive: Any, prefix: str) -> None:
        super().__init__(file, {("torch._utils", "_rebuild_tensor_v2"): _rebuild_from_flat})
        self.archive, self.prefix, self.classes = archive, prefix, {}

    def find_class(self, module: str, name: str) -> Any:
        import torch

        if module == "torch" and name in _SCRIPT_DTYPES:
            return getattr(torch, _SCRIPT_DTYPES[name])
        if module == "__torch__" or module.startswith("__torch__."):
            key = f"{module}.{name}"
            if key not in self.classes:
                self.classes[key] = type(name, (ScriptObject,), {"qualified_name": key})
            return self.classes[key]
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        import torch

        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise CheckpointError(f"unexpected persistent record {str(pid)[:80]}")
        _, dtype, key, _location, numel = pid
        if not isinstance(dtype, torch.dtype):
            raise CheckpointError(f"storage of unknown type {dtype!r}")
        data = bytearray(self.archive.read(f"{self.prefix}data/{key}"))
        flat = torch.frombuffer(data, dtype=dtype) if data else torch.empty(0, dtype=dtype)
        if flat.numel() < int(numel):
            raise CheckpointError(f"storage {key} holds {flat.numel()} of {numel} elements")
        return flat


def load_torchscript_data(path: str | os.PathLike[str]) -> Any:
    """The object tree of a TorchScript archive (``torch.jit.save``'s zip) as data.

    ``torch.jit.load`` would compile and run the archive's ``code/``; this reads only the
    pickled module state (``<archive>/data.pkl`` and its ``data/`` storages) through
    :class:`RestrictedUnpickler`. Modules come back as :class:`ScriptObject` records.
    """
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") == 1]
            if len(names) != 1:
                raise CheckpointError("not a TorchScript archive (no <archive>/data.pkl)")
            prefix = names[0][: -len("data.pkl")]
            with archive.open(names[0]) as fh:
                return _ScriptUnpickler(fh, archive, prefix).load()
    except CheckpointError as err:
        raise CheckpointError(f"{path}: {err}") from None
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, KeyError, ValueError) as err:
        raise CheckpointError(f"{path}: not a readable TorchScript archive ({err})") from None
    except (TypeError, AttributeError, RuntimeError, OSError, IndexError) as err:
        raise CheckpointError(f"{path}: not a readable TorchScript archive ({err})") from None


def script_tensors(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Every tensor attribute of a :class:`ScriptObject` tree, by dotted name."""
    import torch

    out: dict[str, Any] = {}
    if isinstance(obj, ScriptObject):
        for key, value in obj.state.items():
            if isinstance(value, torch.Tensor):
                out[prefix + key] = value
            elif isinstance(value, ScriptObject):
                out.update(script_tensors(value, f"{prefix}{key}."))
    return out


NPY_GLOBALS: dict[tuple[str, str], Any] = {("_codecs", "encode"): codecs.encode}
"""What an ``.npy`` of Python objects needs beyond arrays and containers."""


def load_npy_object(path: str | os.PathLike[str]) -> Any:
    """The object inside an ``.npy`` saved from a Python object (``np.save(path, {...})``).

    NumPy stores such arrays as a pickle and ``np.load(allow_pickle=True)`` would run whatever
    it names; here the pickle is read by :class:`RestrictedUnpickler` (arrays, containers,
    strings, numbers, and ``_codecs.encode``, with which protocol-2 pickles carry array bytes;
    latin-1 for Python 2 files, as the original ``vgg19.npy`` is).
    """
    import numpy as np
    from numpy.lib import format as npy_format

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with open(path, "rb") as fp:
            version = npy_format.read_magic(fp)
            read_header = (
                npy_format.read_array_header_1_0
                if version == (1, 0)
                else npy_format.read_array_header_2_0
            )
            shape, _, dtype = read_header(fp)
            del shape
            if dtype != np.dtype(object):
                return np.load(path, allow_pickle=False)
            array = RestrictedUnpickler(fp, NPY_GLOBALS, encoding="latin1").load()
    except CheckpointError as err:
        raise CheckpointError(f"{path}: not an .npy gankit can read safely ({err})") from None
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path}: not an .npy gankit can read safely ({err})") from None
    except (ValueError, EOFError, OSError, TypeError, AttributeError, IndexError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise CheckpointError(
            f"{path}: not a readable .npy file ({type(err).__name__}"
            + (f": {first}" if first else "")
            + ")"
        ) from None
    if isinstance(array, np.ndarray) and array.dtype == object and array.shape == ():
        return array.item()
    return array
