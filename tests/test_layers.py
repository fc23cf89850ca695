"""The layer order of docs/architecture.md, checked on every import in the package.

Every ``import``/``from ... import`` (module level or lazy, inside a function) and every
``importlib.import_module("gankit....")`` with a literal name must point to the same layer or a
lower one; a family imports no other family (shared code lives in ``families/_<name>/``); the web
app and the study page reach families only through the registry.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "gankit"

LAYERS = ("core", "nn", "losses|metrics", "engine", "runtime", "families", "app", "cli")
"""Lowest first; ``a|b`` share a layer. Mirrors the picture in docs/architecture.md."""


def layer_of(module: str) -> str:
    """The layer of a ``gankit...`` module name."""
    parts = module.split(".")
    if parts == ["gankit"]:
        return "core"  # the root package: __version__ and lazy string-based API only
    top = parts[1]
    if top in ("core", "nn", "engine", "runtime", "families"):
        return top
    if top in ("losses", "metrics"):
        return "losses|metrics"
    if top == "serve":
        return "app"
    if top in ("cli", "__main__"):
        return "cli"
    raise AssertionError(f"{module}: no layer assigned; add it to docs/architecture.md and here")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every gankit import in ``source``, lazy ones included."""
    found: list[tuple[int, str]] = []
    base = module.split(".") if is_package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[: len(base) - node.level + 1]
                target = ".".join(anchor + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from gankit.families import x`` imports the family ``x`` itself
            found += [
                (node.lineno, f"{target}.{a.name}")
                for a in node.names
                if target in ("gankit.families", "gankit.runtime", "gankit.serve")
            ]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", None) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in found if name == "gankit" or name.startswith("gankit.")]


def family_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[1] == "families" else None


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    """Every import in ``source`` (the text of ``module``) that breaks the order."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    here = layer_of(module)
    out = []
    for line, target in imports_of(source, module, is_package):
        there = layer_of(target)
        where = f"{module}:{line} imports {target}"
        if rank[there] > rank[here]:
            out.append(f"{where}: {there} is above {here}")
        mine, theirs = family_of(module), family_of(target)
        if theirs and mine and theirs != mine and not theirs.startswith("_"):
            kind = "shared family code" if mine.startswith("_") else "a family"
            out.append(f"{where}: {kind} imports another family")
        if theirs and here == "app":
            out.append(f"{where}: the web app reaches families through the registry only")
    return out


def package_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_import_follows_the_layer_order() -> None:
    found = []
    for path in package_modules():
        found += violations(path.read_text(), module_name(path), path.name == "__init__.py")
    assert not found, "\n".join(found)


def test_every_module_has_a_layer() -> None:
    for path in package_modules():
        layer_of(module_name(path))


@pytest.mark.parametrize(
    ("module", "source", "why"),
    [
        ("gankit.core.images", "def f():\n    from gankit.engine import Trainer\n", "above"),
        ("gankit.nn.equalized", "import gankit.losses.adversarial\n", "above"),
        ("gankit.engine.trainer", "from gankit.runtime.onnx_cache import cached_model\n", "above"),
        ("gankit.runtime.export", "from gankit.families.dcgan import networks\n", "above"),
        ("gankit.runtime.onnx_cache", "from gankit.serve.pool import ModelPool\n", "above"),
        (
            "gankit.families.dcgan.apps",
            "from gankit.families.stylegan.apps import generate\n",
            "another family",
        ),
        ("gankit.families._unconditional", "from gankit.families import dcgan\n", "shared family"),
        (
            "gankit.families._template.recipe",
            "from gankit.families.dcgan.recipe import DCGANRecipe\n",
            "shared family",
        ),
        ("gankit.serve.app", "from gankit.families.singan.apps import load\n", "registry"),
        (
            "gankit.metrics.cli",
            "import importlib\nimportlib.import_module('gankit.engine')\n",
            "above",
        ),
        (
            "gankit.core.seed",
            "def f():\n    from ..families._unconditional import sample\n",
            "above",
        ),
    ],
)
def test_a_planted_bad_import_is_caught(module: str, source: str, why: str) -> None:
    found = violations(source, module, is_package=module.endswith("_unconditional"))
    assert len(found) == 1 and why in found[0], found


def test_allowed_imports_pass() -> None:
    assert not violations(
        "from gankit.core.seed import model_latents\n"
        "from gankit.families._unconditional import sample\n"
        "from gankit.runtime.onnx_cache import cached_model\n",
        "gankit.families.dcgan.apps",
    )
    assert not violations("from gankit.runtime.protocol import describe\n", "gankit.serve.pool")
