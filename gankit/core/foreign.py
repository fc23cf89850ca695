"""Reading other projects' PyTorch checkpoints for the families' importers, safely.

``torch.load(weights_only=True)`` refuses to run code from a pickle; anything it cannot read
(or a file that is not a checkpoint at all) becomes a :class:`CheckpointError` naming the file.
"""

from __future__ import annotations

import os
import pickle
import warnings
from collections.abc import Iterable
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
            "containers are allowed"
            + (f" ({detail.strip()[:160]})" if detail else "")
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError, TypeError,
            AttributeError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint ({type(err).__name__}"
            + (f": {first}" if first else "") + ")"
        ) from None


def strip_prefix(state: dict[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Drop a ``DataParallel``-style ``prefix`` from every key that has it."""
    return {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in state.items()}


def tensor_dict(obj: Any, where: str) -> dict[str, Any]:
    """``obj`` if it is a non-empty ``{name: tensor}`` mapping, else a CheckpointError."""
    import torch

    if not isinstance(obj, dict) or not obj or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise CheckpointError(f"{where}: expected a state dict of named tensors")
    return obj


_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Rebuilds numpy arrays and plain containers; any other global is refused, so nothing in
    the file can run code."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _NUMPY_GLOBALS:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed")
        import _codecs

        import numpy as np

        if module == "_codecs":  # protocol-2 pickles carry array bytes as latin-1 text
            return _codecs.encode
        if name == "_reconstruct":  # the reconstructor numpy itself pickles arrays with
            return np.zeros(0).__reduce__()[0]
        return getattr(np, name)


def load_npy_object(path: str | os.PathLike[str]) -> Any:
    """The object inside an ``.npy`` saved from a Python object (``np.save(path, {...})``).

    NumPy stores such arrays as a pickle and ``np.load(allow_pickle=True)`` would run whatever
    it names; here the pickle is read with an unpickler that only rebuilds numpy arrays, lists,
    dicts, strings and numbers (latin-1 for Python 2 files, as the original ``vgg19.npy`` is).
    """
    import numpy as np
    from numpy.lib import format as npy_format

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        with open(path, "rb") as fp:
            version = npy_format.read_magic(fp)
            read_header = (npy_format.read_array_header_1_0 if version == (1, 0)
                           else npy_format.read_array_header_2_0)
            shape, _, dtype = read_header(fp)
            del shape
            if dtype != np.dtype(object):
                return np.load(path, allow_pickle=False)
            array = _NumpyOnlyUnpickler(fp, encoding="latin1").load()
    except pickle.UnpicklingError as err:
        raise CheckpointError(f"{path}: not an .npy gankit can read safely ({err})") from None
    except (ValueError, EOFError, OSError, TypeError, AttributeError, IndexError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
        raise CheckpointError(f"{path}: not a readable .npy file ({type(err).__name__}"
                              + (f": {first}" if first else "") + ")") from None
    if isinstance(array, np.ndarray) and array.dtype == object and array.shape == ():
        return array.item()
    return array
