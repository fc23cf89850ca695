"""gankit: the classic image GANs behind one CLI, one Python API and one checkpoint format.

Heavy modules (torch, families) load lazily: ``import gankit`` and ``gankit --help`` stay fast.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "from_pretrained": ("gankit.core.checkpoint", "from_pretrained"),
    "save_pretrained": ("gankit.core.checkpoint", "save_pretrained"),
    "GankitError": ("gankit.core.errors", "GankitError"),
    "list_architectures": ("gankit.core.registry", "list_architectures"),
    "build": ("gankit.core.registry", "build"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    from gankit.core.registry import family_names

    if name in family_names():
        return importlib.import_module(f"gankit.families.{name}.apps")
    raise AttributeError(f"module 'gankit' has no attribute {name!r}")
