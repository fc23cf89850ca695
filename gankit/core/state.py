"""Nested training state <-> one safetensors file, with no pickling.

Optimiser, scheduler, EMA and RNG states are trees of dicts, lists, tuples, numbers and tensors.
The tensors go into the safetensors payload; the tree, with tensors replaced by references, goes
into the file's JSON metadata. Loading rebuilds exactly the same tree.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from gankit.core.errors import CheckpointError


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = obj.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, dict):
        return {"__dict__": [[k, _encode(v, tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return {"__float__": repr(obj)}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    raise TypeError(f"cannot store {type(obj).__name__} in a training state")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__dict__" in obj:
            return {k: _decode(v, tensors) for k, v in obj["__dict__"]}
        if "__tuple__" in obj:
            return tuple(_decode(v, tensors) for v in obj["__tuple__"])
        if "__float__" in obj:
            return float(obj["__float__"])
    return obj


def dumps_state(state: dict[str, Any]) -> bytes:
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, tensors)
    return st_save(tensors, metadata={"gankit_state": json.dumps(tree)})


def loads_state(data: bytes, origin: str = "training state") -> dict[str, Any]:
    try:
        tensors = st_load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header_len]).get("__metadata__", {})
        tree = json.loads(meta["gankit_state"])
    except (SafetensorError, KeyError, ValueError, OverflowError) as err:
        raise CheckpointError(f"{origin}: not a readable gankit training state ({err})") from None
    return _decode(tree, tensors)


def load_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    with open(path, "rb") as fh:
        return loads_state(fh.read(), origin=str(path))
