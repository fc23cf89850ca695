"""A queryable registry of architectures (after timm's ``register_model``).

Families register their networks at import; the engine, metrics, serve and the CLI find them here
by name and never import a family directly. A family that runs ONNX files gankit did not export
(AnimeGAN: the published AnimeGANv3 files) registers their contract here too, in its
``onnx_contract`` module, so that the web app can serve such a file without importing the family.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gankit.core.errors import ConfigError

ROLES = ("generator", "discriminator", "pyramid", "feature")
MAX_CONFIG_NUMBER = 2**31 - 1
"""No size, count or scale in an architecture config goes beyond a 32-bit int."""


@dataclass(frozen=True)
class Architecture:
    """One buildable network: ``builder(config) -> nn.Module``.

    ``presets`` are its reference sizes by label (``{"1024": StyleGAN2Config(), ...}``): a model
    carries its config, so sizes are configs, not names; ``gankit models`` lists each one.
    """

    name: str
    family: str
    role: str
    config_cls: type
    builder: Callable[[Any], Any]
    description: str = ""
    presets: tuple[tuple[str, Any], ...] = ()

    def preset(self, label: str) -> Any:
        for known, config in self.presets:
            if known == label:
                return config
        labels = ", ".join(k for k, _ in self.presets) or "none"
        raise ConfigError(f"{self.name} has no preset {label!r}; known: {labels}")


_ARCHS: dict[str, Architecture] = {}
_ONNX_CONTRACTS: dict[str, Callable[..., Any]] = {}
ONNX_CONTRACT_MODULE = "onnx_contract"
"""The module of a family that registers its third-party ONNX contract."""
_ALIASES: dict[str, tuple[str, str]] = {}
"""Aliases, names that carry a size (``stylegan2_64``) -> (architecture, preset label): model
folders and run configs that name them load."""


def register(
    name: str,
    *,
    family: str,
    role: str,
    config_cls: type,
    description: str = "",
    presets: dict[str, Any] | None = None,
    aliases: dict[str, str] | None = None,
) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Decorator registering ``builder(config)`` (a function or an ``nn.Module`` class).

    ``presets``: reference sizes by label; ``aliases``: other names -> the preset they stand for.
    """
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    presets = presets or {}
    for old, label in (aliases or {}).items():
        if label not in presets:
            raise ValueError(f"alias {old!r} names no preset of {name!r}: {label!r}")

    def wrap(builder: Callable[[Any], Any]) -> Callable[[Any], Any]:
        if name in _ARCHS and _ARCHS[name].builder is not builder:
            raise ValueError(f"architecture {name!r} is registered twice")
        _ARCHS[name] = Architecture(
            name, family, role, config_cls, builder, description, tuple(presets.items())
        )
        _ALIASES.update({old: (name, label) for old, label in (aliases or {}).items()})
        return builder

    return wrap


@cache
def family_names() -> tuple[str, ...]:
    """Family packages under ``gankit/families`` (found without importing them); packages whose
    name starts with ``_`` hold code several families share and are not families."""
    folder = Path(__file__).resolve().parents[1] / "families"
    return tuple(
        sorted(
            m.name
            for m in pkgutil.iter_modules([str(folder)])
            if m.ispkg and not m.name.startswith("_")
        )
    )


def load_family(family: str, parts: tuple[str, ...] = ("networks", "recipe")) -> None:
    """Import modules of a family (by default its networks and recipe) so that they register."""
    if family not in family_names():
        raise ConfigError(f"unknown family {family!r}; known: {', '.join(family_names())}")
    for part in parts:
        importlib.import_module(f"gankit.families.{family}.{part}")


def register_onnx_contract(family: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``loader(path, device)``, which runs the ONNX files of ``family``
    that carry no gankit metadata: it returns an object with ``stylize(PIL image) -> PIL image``
    or raises :class:`~gankit.core.errors.BadInputError` when the file does not fit."""

    def wrap(loader: Callable[..., Any]) -> Callable[..., Any]:
        _ONNX_CONTRACTS[family] = loader
        return loader

    return wrap


@cache
def onnx_contract_families() -> tuple[str, ...]:
    """Families with an ``onnx_contract`` module (found without importing them)."""
    folder = Path(__file__).resolve().parents[1] / "families"
    return tuple(f for f in family_names() if (folder / f / f"{ONNX_CONTRACT_MODULE}.py").is_file())


def onnx_contract(family: str) -> Callable[..., Any]:
    """The third-party ONNX loader ``family`` registers, its module imported on demand."""
    if family not in _ONNX_CONTRACTS and family in onnx_contract_families():
        load_family(family, (ONNX_CONTRACT_MODULE,))
    if family not in _ONNX_CONTRACTS:
        raise ConfigError(f"family {family!r} runs no ONNX files other than gankit exports")
    return _ONNX_CONTRACTS[family]


def load_all() -> None:
    for family in family_names():
        load_family(family)


def get(name: str) -> Architecture:
    """The architecture registered as ``name``, or the one an alias stands for."""
    if name not in _ARCHS and name not in _ALIASES:
        load_all()
    if name in _ALIASES:
        return _ARCHS[_ALIASES[name][0]]
    if name not in _ARCHS:
        known = ", ".join(sorted(_ARCHS)) or "none"
        raise ConfigError(f"unknown architecture {name!r}; known: {known}")
    return _ARCHS[name]


def list_architectures(family: str | None = None, role: str | None = None) -> list[Architecture]:
    load_all() if family is None else load_family(family)
    return [
        a
        for a in sorted(_ARCHS.values(), key=lambda a: (a.family, a.name))
        if (family is None or a.family == family) and (role is None or a.role == role)
    ]


def _check_value(where: str, value: Any, hint: Any) -> None:
    """``value`` against the field type ``hint`` (int, float, bool, str, list[...], X | None)."""
    if hint in (int, float):
        # JSON has no int/float distinction worth trusting: 3.0 is not a layer count; NaN or a
        # negative number is never a size, count or scale of a network
        kinds = (int,) if hint is int else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            name = "an integer" if hint is int else "a number"
            raise ConfigError(f"{where} must be {name}, got {value!r}")
        if not math.isfinite(value) or value < 0 or abs(value) > MAX_CONFIG_NUMBER:
            raise ConfigError(
                f"{where} must be a finite number in [0, {MAX_CONFIG_NUMBER}], got {value!r}"
            )
    elif hint in (bool, str):
        if not isinstance(value, hint):
            raise ConfigError(
                f"{where} must be {'true or false' if hint is bool else 'a string'}, got {value!r}"
            )
    elif typing.get_origin(hint) is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        item_hint = (typing.get_args(hint) or (Any,))[0]
        for i, item in enumerate(value):
            _check_value(f"{where}[{i}]", item, item_hint)
    elif typing.get_origin(hint) in (types.UnionType, typing.Union):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is not None:
            _check_value(where, value, options[0] if len(options) == 1 else Any)


def config_from_dict(config_cls: type, fields: dict[str, Any]) -> Any:
    """Build an architecture config dataclass from plain values (a ``config.json``).

    Unknown fields are named, and every value is checked against its field's type before the
    dataclass sees it: an int field takes only an integer (not ``true``, ``3.5`` or ``"8"``), a
    float field a finite number; every number of an architecture is a size, count or scale, so
    negatives and values above :data:`MAX_CONFIG_NUMBER` are refused too.
    """
    known = {f.name for f in dataclasses.fields(config_cls)}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ConfigError(f"{config_cls.__name__} has no field(s) {', '.join(unknown)}")
    hints = typing.get_type_hints(config_cls)
    for name, value in fields.items():
        _check_value(f"{config_cls.__name__}.{name}", value, hints[name])
    try:
        return config_cls(**fields)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid {config_cls.__name__}: {err}") from None


def build(name: str, config: Any = None, **overrides: Any) -> Any:
    """Build a registered network; the module remembers ``arch_name`` and ``config`` for saving.

    An alias (``stylegan2_64``) builds its preset and is saved under the architecture's name.
    """
    arch = get(name)
    if config is None:
        config = arch.preset(_ALIASES[name][1]) if name in _ALIASES else arch.config_cls()
    if overrides:
        config = dataclasses.replace(config, **overrides)
    model = arch.builder(config)
    model.arch_name = arch.name
    model.config = config
    return model


def name_of(model: Any) -> str | None:
    """The registered name of ``model``: the one :func:`build` recorded, else the single
    architecture whose builder is the model's class and whose config class is its ``config``'s
    (so ``StyleGAN2Generator(StyleGAN2Config())`` saves like ``build("stylegan2")``)."""
    if hasattr(model, "arch_name"):
        return str(model.arch_name)
    config = getattr(model, "config", None)
    names = [
        a.name for a in _ARCHS.values() if a.builder is type(model) and a.config_cls is type(config)
    ]
    return names[0] if len(names) == 1 else None


def param_count(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())
