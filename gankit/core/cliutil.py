"""Command-line plumbing shared by the top-level CLI and the families' subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import NoReturn

from gankit.core.device import DEVICE_CHOICES
from gankit.core.errors import UsageError


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose mistakes raise :class:`UsageError` (one line, exit 2) instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see --help)")


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        help=f"{'|'.join(DEVICE_CHOICES)} (auto: CUDA, then MPS, then CPU)",
    )


def run_verbs(
    prog: str,
    description: str,
    verbs: dict[str, tuple[str, Callable[[str, list[str]], int | None]]],
    argv: Sequence[str],
) -> int:
    """Dispatch ``argv[0]`` to ``verbs[name] = (help, handler(prog, rest))``."""
    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        width = max((len(v) for v in verbs), default=0)
        lines = [f"usage: {prog} <verb> [options]", "", description, "", "verbs:"]
        lines += [f"  {name.ljust(width)}  {text}" for name, (text, _) in verbs.items()]
        print("\n".join(lines))
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in verbs:
        raise UsageError(f"{prog}: unknown verb {name!r}; choose from {', '.join(verbs)}")
    return verbs[name][1](f"{prog} {name}", rest) or 0


def add_overwrite_argument(parser: argparse.ArgumentParser) -> None:
    """``--overwrite``: the one switch that lets ``-o`` replace what gankit would refuse to
    (the rules are :mod:`gankit.core.atomic`'s ``check_output_dir`` and ``check_not_input``)."""
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="let -o replace an existing file or folder that is not an earlier output of this "
        "command, or an input file; a folder holding an input is never replaced",
    )


def parse_seeds(text: str) -> list[int]:
    """``"0-3,7"`` -> ``[0, 1, 2, 3, 7]``."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part[1:]:
                lo, hi = part.split("-", 1)
                if int(hi) < int(lo):
                    raise ValueError
                seeds.extend(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise UsageError(f"invalid seed list {text!r}; use e.g. 0-15 or 1,5,9") from None
    if not seeds:
        raise UsageError("empty seed list")
    return seeds
