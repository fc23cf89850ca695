"""The shared latent ``generate`` verb (DCGAN, WGAN-GP, PGGAN) on the onnx backend: the cached
export with a free batch axis gives the torch backend's images."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("onnxruntime")

from gankit.cli import main  # noqa: E402
from gankit.core import registry  # noqa: E402
from gankit.core.checkpoint import cache_dir, save_pretrained  # noqa: E402
from gankit.core.errors import UsageError  # noqa: E402
from gankit.families._unconditional import load_latent, sample  # noqa: E402
from gankit.runtime.onnx_runtime import OnnxModel  # noqa: E402


@pytest.fixture
def dcgan_dir(tmp_path):
    torch.manual_seed(0)
    g = registry.build("dcgan_g", ngf=8)
    with torch.no_grad():  # non-trivial running statistics, so eval mode matters
        g.train()(torch.randn(4, g.z_dim))
    return save_pretrained(g.eval(), tmp_path / "dcgan")


def test_latent_sample_backends_agree_within_1e4(dcgan_dir):
    seeds = [0, 4, 9, 12, 13]
    ref = sample(dcgan_dir, seeds, batch_size=3)
    got = sample(dcgan_dir, seeds, batch_size=3, backend="onnx")
    assert got.shape == ref.shape
    assert (got - ref).abs().max() < 1e-4
    runner = load_latent(dcgan_dir, "onnx")
    assert isinstance(runner, OnnxModel) and runner.z_dim == 100


def test_generate_cli_onnx_backend_exports_once(dcgan_dir, tmp_path, capsys):
    argv = [
        "dcgan",
        "generate",
        "--model",
        str(dcgan_dir),
        "--seeds",
        "0-3",
        "--backend",
        "onnx",
        "-o",
    ]
    assert main([*argv, str(tmp_path / "a.png")]) == 0
    files = {p: p.stat().st_mtime_ns for p in (cache_dir() / "onnx").glob("*.onnx")}
    assert main([*argv, str(tmp_path / "b.png")]) == 0
    assert {p: p.stat().st_mtime_ns for p in (cache_dir() / "onnx").glob("*.onnx")} == files
    assert (tmp_path / "b.png").read_bytes() == (tmp_path / "a.png").read_bytes()
    capsys.readouterr()
    assert (
        main(
            [
                "dcgan",
                "generate",
                "--model",
                str(dcgan_dir),
                "--backend",
                "onnx",
                "--device",
                "mps",
                "-o",
                str(tmp_path / "c.png"),
            ]
        )
        == 2
    )
    assert "cpu or cuda" in capsys.readouterr().err
    with pytest.raises(UsageError, match="backend must be one of"):
        load_latent(dcgan_dir, "tflite")
