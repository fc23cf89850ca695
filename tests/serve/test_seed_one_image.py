"""One seed, one image: the CLI, the Python API, the web app and the ONNX backend turn a seed
into the same latent (``gankit.core.seed``), so they render the same picture. DCGAN keeps
``torch.Generator`` seeding; StyleGAN uses NVlabs' ``RandomState(seed).randn`` convention."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.cli import main as gankit_main
from gankit.core import registry
from gankit.core.checkpoint import save_pretrained
from gankit.serve.pool import ModelPool, parse_model_args

SEED = 7
TINY = {
    "dcgan": ("dcgan_g", {"ngf": 8, "resolution": 16}),
    "stylegan": (
        "stylegan2",
        {"size": 16, "style_dim": 16, "n_mlp": 1, "channel_base": 64, "channel_max": 8},
    ),
}


def _folder(tmp_path: Path, family: str) -> Path:
    name, overrides = TINY[family]
    torch.manual_seed(1)
    model = registry.build(name, **overrides)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("noise.weight"):
                p.fill_(0.3)
        model(torch.randn(8, model.z_dim))  # non-trivial running statistics for DCGAN
    return save_pretrained(model.eval(), tmp_path / family)


def _cli_image(folder: Path, family: str, out: Path, *extra: str) -> np.ndarray:
    assert (
        gankit_main(
            [
                family,
                "generate",
                "--model",
                str(folder),
                "--seeds",
                str(SEED),
                "-o",
                str(out),
                *extra,
            ]
        )
        == 0
    )
    return np.asarray(Image.open(out / f"seed{SEED:04d}.png").convert("RGB")).astype(int)


def _web_image(folder: Path) -> np.ndarray:
    pool = ModelPool(parse_model_args([f"m={folder}"]))
    return np.asarray(pool.generate("m", seed=SEED, count=1)).astype(int)


def _api_image(folder: Path, family: str) -> np.ndarray:
    if family == "stylegan":
        from gankit.families.stylegan.apps import generate

        return generate(folder, [SEED])[0].astype(int)
    from gankit.families._unconditional import sample

    img = sample(folder, [SEED])[0]
    return ((img.clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(int)


@pytest.mark.parametrize("family", sorted(TINY))
def test_one_seed_one_image_everywhere(tmp_path: Path, family: str) -> None:
    folder = _folder(tmp_path, family)
    cli = _cli_image(folder, family, tmp_path / "cli")
    assert (
        gankit_main(
            [
                family,
                "generate",
                "--model",
                str(folder),
                "--seeds",
                str(SEED + 1),
                "-o",
                str(tmp_path / "next"),
            ]
        )
        == 0
    )
    other = np.asarray(Image.open(tmp_path / f"next/seed{SEED + 1:04d}.png").convert("RGB"))
    assert np.abs(cli - other.astype(int)).max() > 8  # the seed matters
    onnx = _cli_image(folder, family, tmp_path / "onnx", "--backend", "onnx")
    # StyleGAN's and gankit's quantisers round 127.5-scaled values differently: one level apart
    for name, image in (
        ("web app", _web_image(folder)),
        ("python api", _api_image(folder, family)),
        ("onnx backend", onnx),
    ):
        assert image.shape == cli.shape, name
        assert np.abs(image - cli).max() <= 1, name
