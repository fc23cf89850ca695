"""Run configs: dataclasses with named presets, command-line overrides of any field, and YAML.

Parsing goes through jsonargparse: ``--preset NAME`` picks the defaults, ``--field value`` and
``--nested.field value`` override them, ``--config run.yaml`` replays a run's resolved config.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gankit.core.errors import ConfigError, UsageError


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``: the dotted names the command line uses."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def dataclass_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Build a (possibly nested) dataclass from plain values."""
    import typing

    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name not in values:
            continue
        v = values[f.name]
        ftype = hints.get(f.name, f.type)
        if dataclasses.is_dataclass(ftype) and isinstance(v, dict):
            v = dataclass_from_dict(ftype, v)
        kwargs[f.name] = v
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"invalid {cls.__name__}: {err}") from None


@dataclasses.dataclass
class ParsedRun:
    """What a ``train``-like command parsed: the config, its preset and the other arguments."""

    config: Any
    preset: str | None
    args: argparse.Namespace
    dump: Callable[[], str]


def parse_run_config(
    prog: str,
    config_cls: type,
    argv: Sequence[str],
    presets: dict[str, Any] | None = None,
    default_preset: str | None = None,
    add_arguments: Callable[[Any], None] | None = None,
    description: str | None = None,
) -> ParsedRun:
    """Parse ``argv`` into ``config_cls`` from a preset; errors become :class:`UsageError`."""
    from jsonargparse import ActionConfigFile, ArgumentParser

    presets = presets or {}
    # No abbreviations: `--p` is a field of its own, not short for `--preset`.
    pre = argparse.ArgumentParser(add_help=False, exit_on_error=False, allow_abbrev=False)
    pre.add_argument("--preset", default=default_preset)
    try:
        known, _ = pre.parse_known_args(list(argv))
    except argparse.ArgumentError as err:
        raise UsageError(f"{prog}: {err}") from None
    if known.preset is not None and known.preset not in presets:
        raise ConfigError(
            f"unknown preset {known.preset!r}; choose from {', '.join(sorted(presets))}"
        )
    parser = ArgumentParser(
        prog=prog, description=description, exit_on_error=False, allow_abbrev=False
    )
    parser.add_argument("--config", action=ActionConfigFile, help="a run's config.yaml to replay")
    parser.add_argument(
        "--preset",
        default=default_preset,
        choices=sorted(presets) or None,
        help="named defaults (paper settings); any field can still be overridden",
    )
    if add_arguments is not None:
        add_arguments(parser)
    parser.add_class_arguments(config_cls, None, sub_configs=True)
    if known.preset is not None:
        defaults = flatten(dataclasses.asdict(presets[known.preset]))
        parser.set_defaults(defaults)
    try:
        ns = parser.parse_args(list(argv))
        values = ns.as_dict()
        config = dataclass_from_dict(
            config_cls, {f.name: values[f.name] for f in dataclasses.fields(config_cls)}
        )
    except (argparse.ArgumentError, TypeError, ValueError) as err:
        msg = " ".join(str(err).split())
        raise UsageError(f"{prog}: {msg}") from None
    except SystemExit as exc:
        if exc.code in (0, None):
            raise
        raise UsageError(f"{prog}: invalid arguments") from None

    def dump() -> str:
        return parser.dump(ns)

    return ParsedRun(config=config, preset=ns.preset, args=ns, dump=dump)


def write_config(text: str, path: str | Path) -> Path:
    from gankit.core.atomic import atomic_write_text

    atomic_write_text(path, text)
    return Path(path)
