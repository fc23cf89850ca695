"""What every parity fixture maker shares: its command line and the ``SOURCE`` file.

A maker is run as ``python tools/parity/NAME.py REFERENCE_CHECKOUT -o FOLDER [--commit SHA]``
(its folder is then on ``sys.path``, so makers import this module as ``maker``).
"""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path


def arguments(doc: str) -> argparse.ArgumentParser:
    """The shared options: the checkout, ``-o/--out`` and ``--commit`` (for a checkout that is
    not a git work tree, e.g. one rebuilt from stored files)."""
    parser = argparse.ArgumentParser(description=doc.strip().split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="the reference repository's checkout")
    parser.add_argument("-o", "--out", type=Path, required=True, help="where the fixtures go")
    parser.add_argument("--commit", help="the checkout's commit, when it is not a git work tree")
    return parser


def checkout_commit(checkout: Path, given: str | None) -> str:
    """``given``, else the checkout's git HEAD, else ``unknown``."""
    if given:
        return given
    try:
        return (
            subprocess.run(
                ["git", "-C", str(checkout), "rev-parse", "HEAD"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_source(args: argparse.Namespace, repo: str, what: str, maker: str) -> None:
    """``OUT/SOURCE``: the repository URL and commit, what was run, and which maker wrote it."""
    args.out.mkdir(parents=True, exist_ok=True)
    commit = checkout_commit(args.checkout, args.commit)
    (args.out / "SOURCE").write_text(f"{repo} @ {commit}\n{what}\nmade by tools/parity/{maker}\n")
