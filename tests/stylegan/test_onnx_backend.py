"""generate / style-mix / interpolate --backend onnx: the synthesis network's cached export (ws
input, free batch, constant noise) renders the torch backend's images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from gankit.cli import main  # noqa: E402
from gankit.core.checkpoint import save_pretrained  # noqa: E402
from gankit.core.errors import UsageError  # noqa: E402
from gankit.families.stylegan import apps  # noqa: E402


@pytest.fixture
def model_dir(tmp_path, tiny_g):
    with torch.no_grad():
        tiny_g.latent_avg.normal_()
    return save_pretrained(tiny_g, tmp_path / "tiny")


def test_onnx_synthesis_matches_torch_within_1e4(model_dir):
    g = apps.load_generator(model_dir, "cpu")
    onnx = apps._synthesis(model_dir, g, "const", "onnx", "cpu")
    torch_synth = apps._synthesis(model_dir, g, "const", "torch", "cpu")
    with torch.no_grad():
        ws = apps._ws(g, [0, 1, 2], (0.7, None), None)
        ref = torch_synth(ws)
    got = onnx(ws)
    assert got.shape == ref.shape == (3, 3, 16, 16)
    assert (got - ref).abs().max() < 1e-4


def test_generate_and_style_mix_backends_agree(model_dir, tmp_path):
    ref = apps.generate(model_dir, [3, 5, 8], truncation=0.5, batch_size=2)
    got = apps.generate(model_dir, [3, 5, 8], truncation=0.5, batch_size=2, backend="onnx")
    assert np.abs(ref.astype(int) - got.astype(int)).max() <= 1  # 1e-4 apart before rounding
    a = apps.style_mix(model_dir, [1, 2], [3], tmp_path / "t.png", layers="0-2")
    b = apps.style_mix(model_dir, [1, 2], [3], tmp_path / "o.png", layers="0-2", backend="onnx")
    from PIL import Image

    diff = np.abs(np.asarray(Image.open(a), int) - np.asarray(Image.open(b), int))
    assert diff.max() <= 1


def test_onnx_backend_refuses_other_noise_modes(model_dir, tmp_path, capsys):
    with pytest.raises(UsageError, match="noise-mode const"):
        apps.generate(model_dir, [0], backend="onnx", noise_mode="random")
    assert (
        main(
            [
                "stylegan",
                "generate",
                "--model",
                str(model_dir),
                "--seeds",
                "0-1",
                "-o",
                str(tmp_path / "out"),
                "--backend",
                "onnx",
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "out").glob("seed*.png"))) == 2
    capsys.readouterr()
    assert (
        main(
            [
                "stylegan",
                "generate",
                "--model",
                str(model_dir),
                "--backend",
                "onnx",
                "--noise-mode",
                "none",
                "-o",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
