"""The ``gankit`` command: ``gankit <family> <verb> [options]`` plus tools.

Start-up stays fast: torch and the families are imported only when a command needs them.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Sequence

from gankit import __version__
from gankit.core.errors import GankitError, UsageError

TOOLS = {
    "models": "list every registered architecture with its parameter count",
    "eval": "image metrics: FID, KID, IS, PR, LPIPS, SSIM, PSNR between folders; PPL, separability",
    "demo": "the main job: train SinGAN (fast preset) on a shipped photo into demo-output/",
    "export": "export a trained generator to ONNX (gankit export onnx --model M -o m.onnx)",
    "serve": "web app (Gradio) for trained models, on localhost by default",
    "study": "real-vs-fake perceptual study page (Pix2Pix protocol) and its report",
}

TOOL_MODULES = {
    "eval": "gankit.metrics.cli",
    "export": "gankit.runtime.export_cli",
    "serve": "gankit.serve.app_cli",
    "study": "gankit.serve.study_cli",
}


def _family_help() -> dict[str, str]:
    from gankit.core.registry import family_names

    out = {}
    for name in family_names():
        doc = importlib.import_module(f"gankit.families.{name}").__doc__ or ""
        out[name] = doc.strip().splitlines()[0] if doc.strip() else ""
    return out


def _help() -> str:
    fams = _family_help()
    width = max(len(n) for n in [*fams, *TOOLS])
    lines = [
        "usage: gankit [--version] [--debug] <family|tool> <verb> [options]",
        "",
        "Train and run the classic image GANs behind one CLI and one checkpoint format.",
        "",
        "families:",
        *(f"  {n.ljust(width)}  {h}" for n, h in fams.items()),
        "",
        "tools:",
        *(f"  {n.ljust(width)}  {h}" for n, h in TOOLS.items()),
        "",
        "options:",
        "  --version  print gankit's and torch's versions and the device gankit would use",
        "  --debug    show the full traceback when a command fails",
        "",
        "Run `gankit <family> --help` for a family's verbs.",
    ]
    return "\n".join(lines)


def _version() -> str:
    import torch

    from gankit.core.device import resolve_device

    return f"gankit {__version__} (torch {torch.__version__}, device {resolve_device('auto')})"


def _models(prog: str, argv: list[str]) -> int:
    from gankit.core.cliutil import ArgumentParser
    from gankit.core.registry import list_architectures, param_count

    parser = ArgumentParser(prog=prog, description=TOOLS["models"])
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("--family", default=None, help="only this family")
    args = parser.parse_args(argv)
    rows = []
    for arch in list_architectures(args.family):
        for preset, config in arch.presets or ((None, arch.config_cls()),):
            rows.append(
                {
                    "name": arch.name,
                    "preset": preset,
                    "family": arch.family,
                    "role": arch.role,
                    "params": param_count(arch.builder(config)),
                    "description": arch.description,
                }
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no architectures registered")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="gankit models")
    for col in ("name", "preset", "family", "role"):
        table.add_column(col, no_wrap=True)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("description")
    for r in rows:
        table.add_row(
            r["name"],
            r["preset"] or "",
            r["family"],
            r["role"],
            f"{r['params']:,}",
            r["description"],
        )
    Console().print(table)
    return 0


def _demo(prog: str, argv: list[str]) -> int:
    return importlib.import_module("gankit.families.singan.demo").main(prog, argv) or 0


def _tool(name: str, argv: list[str]) -> int:
    return importlib.import_module(TOOL_MODULES[name]).main(f"gankit {name}", argv) or 0


def _dispatch(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(_help())
        return 0 if argv else 2
    if argv[0] in ("-V", "--version"):
        print(_version())
        return 0
    name, rest = argv[0], argv[1:]
    if name == "models":
        return _models("gankit models", rest)
    if name == "demo":
        return _demo("gankit demo", rest)
    if name in TOOL_MODULES:
        return _tool(name, rest)
    from gankit.core.registry import family_names

    if name in family_names():
        module = importlib.import_module(f"gankit.families.{name}.cli")
        return module.main(f"gankit {name}", rest) or 0
    if name.startswith("-"):
        raise UsageError(f"unknown option {name!r} (see gankit --help)")
    raise UsageError(f"unknown command {name!r}; see gankit --help")


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    try:
        return _dispatch(args)
    except GankitError as err:
        if debug:
            raise
        print(f"gankit: error: {err}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("gankit: interrupted", file=sys.stderr)
        return 130
    except OSError as err:
        if debug:
            raise
        print(f"gankit: error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # noqa: BLE001 - the one place that turns bugs into a message
        if debug:
            raise
        if type(err).__name__ == "OutOfMemoryError" or isinstance(err, MemoryError):
            print(
                "gankit: error: out of memory; use a smaller batch, tiles or the CPU",
                file=sys.stderr,
            )
            return 2
        print(
            f"gankit: internal error: {type(err).__name__}: {err} "
            "(rerun with --debug for the traceback and please report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
