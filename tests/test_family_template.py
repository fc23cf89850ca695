"""``gankit/families/_template`` is a working family: a copy under a new name imports, builds its
networks, trains through the engine's ``train`` command, saves a model that loads back and
generates from it. Its ``_`` prefix keeps it out of the registry and the CLI."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main as gankit_main
from gankit.core import registry
from gankit.core.checkpoint import from_pretrained

TEMPLATE = Path(__file__).resolve().parents[1] / "gankit" / "families" / "_template"


@pytest.fixture
def copied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The template copied to a package ``mygan`` as docs/CONTRIBUTING.md says: the module path
    and the names replaced. Its architectures are registered in a copy of the registry."""
    package = tmp_path / "pkg" / "mygan"
    shutil.copytree(TEMPLATE, package, ignore=shutil.ignore_patterns("__pycache__"))
    for f in package.glob("*.py"):
        text = f.read_text().replace("gankit.families._template", "mygan")
        f.write_text(text.replace("template", "mygan").replace("Template", "Mygan"))
    monkeypatch.syspath_prepend(str(package.parent))
    monkeypatch.setattr(registry, "_ARCHS", dict(registry._ARCHS))
    yield lambda part: importlib.import_module(f"mygan.{part}")
    for name in [m for m in sys.modules if m == "mygan" or m.startswith("mygan.")]:
        del sys.modules[name]


@pytest.fixture
def images(tmp_path: Path) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    rng = np.random.default_rng(0)
    for i in range(8):
        Image.fromarray(rng.integers(0, 255, (12, 12, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def test_the_template_is_no_family() -> None:
    assert "_template" not in registry.family_names()
    assert not [a for a in registry.list_architectures() if a.family == "template"]
    assert gankit_main(["_template", "train"]) == 2


def test_a_copy_builds_trains_saves_and_generates(copied, images: Path, tmp_path: Path) -> None:
    networks, cli = copied("networks"), copied("cli")
    g = registry.build("mygan_g", resolution=8, hidden=16)
    d = registry.build("mygan_d", resolution=8, hidden=16)
    assert isinstance(g, networks.Generator) and registry.get("mygan_g").family == "mygan"
    assert d(g(torch.randn(3, g.z_dim))).shape == (3,)

    run = tmp_path / "run"
    argv = ["train", "--data", str(images), "-o", str(run), "--resolution", "8"]
    argv += ["--generator.hidden", "16", "--discriminator.hidden", "16", "--batch_size", "4"]
    argv += ["--trainer.max_steps", "2", "--trainer.device", "cpu", "--trainer.progress", "false"]
    assert cli.main("gankit mygan", argv) == 0
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["step-00000002"]
    model = from_pretrained(run / "model")
    assert isinstance(model, networks.Generator) and model.config.hidden == 16
    assert model(torch.randn(2, model.z_dim)).shape == (2, 3, 8, 8)

    out = tmp_path / "grid.png"
    argv = ["generate", "--model", str(run / "model"), "--seeds", "0-3", "-o", str(out)]
    assert cli.main("gankit mygan", argv) == 0
    assert Image.open(out).size[0] > 8
