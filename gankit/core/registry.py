"""A queryable registry of architectures and training recipes (after timm's ``register_model``).

Families register their networks at import; the engine, metrics, serve and the CLI find them here
by name and never import a family directly.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gankit.core.errors import ConfigError

ROLES = ("generator", "discriminator", "pyramid", "feature")


@dataclass(frozen=True)
class Architecture:
    """One buildable network: ``builder(config) -> nn.Module``."""

    name: str
    family: str
    role: str
    config_cls: type
    builder: Callable[[Any], Any]
    description: str = ""


_ARCHS: dict[str, Architecture] = {}
_RECIPES: dict[str, Callable[..., Any]] = {}


def register(
    name: str, *, family: str, role: str, config_cls: type, description: str = ""
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorator registering ``builder(config)`` (a function or an ``nn.Module`` class)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")

    def wrap(builder: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if name in _ARCHS and _ARCHS[name].builder is not builder:
            raise ValueError(f"architecture {name!r} is registered twice")
        _ARCHS[name] = Architecture(name, family, role, config_cls, builder, description)
        return builder

    return wrap


def register_recipe(family: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering a family's training recipe class."""

    def wrap(cls: Callable[..., Any]) -> Callable[..., Any]:
        _RECIPES[family] = cls
        return cls

    return wrap


@cache
def family_names() -> tuple[str, ...]:
    """Family packages under ``gankit/families`` (found without importing them); packages whose
    name starts with ``_`` hold code several families share and are not families."""
    folder = Path(__file__).resolve().parents[1] / "families"
    return tuple(sorted(m.name for m in pkgutil.iter_modules([str(folder)])
                        if m.ispkg and not m.name.startswith("_")))


def load_family(family: str) -> None:
    """Import a family's networks and recipe so that they register."""
    if family not in family_names():
        raise ConfigError(f"unknown family {family!r}; known: {', '.join(family_names())}")
    for part in ("networks", "recipe"):
        importlib.import_module(f"gankit.families.{family}.{part}")


def load_all() -> None:
    for family in family_names():
        load_family(family)


def get(name: str) -> Architecture:
    if name not in _ARCHS:
        load_all()
    if name not in _ARCHS:
        known = ", ".join(sorted(_ARCHS)) or "none"
        raise ConfigError(f"unknown architecture {name!r}; known: {known}")
    return _ARCHS[name]


def get_recipe(family: str) -> Callable[..., Any]:
    if family not in _RECIPES:
        load_family(family)
    if family not in _RECIPES:
        raise ConfigError(f"family {family!r} has no training recipe yet")
    return _RECIPES[family]


def list_architectures(family: str | None = None, role: str | None = None) -> list[Architecture]:
    load_all() if family is None else load_family(family)
    return [
        a
        for a in sorted(_ARCHS.values(), key=lambda a: (a.family, a.name))
        if (family is None or a.family == family) and (role is None or a.role == role)
    ]


def config_from_dict(config_cls: type, fields: dict[str, Any]) -> Any:
    """Build a config dataclass from plain values, naming unknown or ill-typed fields."""
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"{config_cls.__name__} has no field(s) {', '.join(unknown)}")
    try:
        return config_cls(**fields)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid {config_cls.__name__}: {err}") from None


def build(name: str, config: Any = None, **overrides: Any) -> Any:
    """Build a registered network; the module remembers ``arch_name`` and ``config`` for saving."""
    arch = get(name)
    if config is None:
        config = arch.config_cls()
    if overrides:
        config = dataclasses.replace(config, **overrides)
    model = arch.builder(config)
    model.arch_name = name
    model.config = config
    return model


def param_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
