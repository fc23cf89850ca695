"""ONNX export and onnxruntime inference on toy networks of both kinds of
:mod:`gankit.runtime.protocol`: what a model is, exports that match PyTorch, baked truncation,
fixed sizes, fp16 and ``gankit export onnx``."""

from __future__ import annotations

import json

import pytest
import torch

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from toy_models import make_models  # noqa: E402

from gankit.cli import main as cli_main  # noqa: E402
from gankit.core.checkpoint import from_pretrained  # noqa: E402
from gankit.core.errors import BadInputError, ConfigError  # noqa: E402
from gankit.runtime.export import export_onnx  # noqa: E402
from gankit.runtime.onnx_runtime import OnnxModel  # noqa: E402
from gankit.runtime.protocol import describe  # noqa: E402


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("toys"))


def test_protocol_classifies_toys(toys):
    i2i = describe(from_pretrained(toys["serve_toy_i2i"]))
    lat = describe(from_pretrained(toys["serve_toy_latent"]))
    assert (i2i.kind, i2i.size_multiple, i2i.truncation) == ("image2image", 2, False)
    assert (lat.kind, lat.z_dim, lat.truncation) == ("latent", 16, True)
    with pytest.raises(ConfigError, match="z_dim"):
        describe(torch.nn.Conv2d(3, 3, 1), role="discriminator")


def test_image_to_image_export_matches_pytorch_at_other_sizes(toys, tmp_path):
    out = export_onnx(
        toys["serve_toy_i2i"], tmp_path / "i2i.onnx", dynamic=True, height=16, width=16
    )
    model = from_pretrained(toys["serve_toy_i2i"])
    runner = OnnxModel(out)
    assert runner.kind == "image2image"
    assert runner.config["architecture"] == "serve_toy_i2i"
    x = torch.rand(2, 3, 24, 40, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        ref = model(x)
    got = runner(x)
    assert got.shape == ref.shape
    assert (got - ref).abs().max() < 1e-4


def test_latent_export_bakes_truncation(toys, tmp_path):
    out = export_onnx(toys["serve_toy_latent"], tmp_path / "lat.onnx", dynamic=True, truncation=0.5)
    model = from_pretrained(toys["serve_toy_latent"])
    z = torch.randn(3, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = model(z, truncation=0.5)
        untruncated = model(z)
    got = OnnxModel(out)(z)
    assert (got - ref).abs().max() < 1e-4
    assert (got - untruncated).abs().max() > 1e-3
    assert OnnxModel(out).metadata["truncation"] == "0.5"


def test_fixed_size_export_refuses_other_sizes(toys, tmp_path):
    out = export_onnx(toys["serve_toy_i2i"], tmp_path / "fixed.onnx", height=8, width=8)
    with pytest.raises(BadInputError, match="refused"):
        OnnxModel(out)(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ConfigError, match="multiples of 2"):
        export_onnx(toys["serve_toy_i2i"], tmp_path / "odd.onnx", height=7, width=8)


def test_cli_export_verify_and_errors(toys, tmp_path, capsys):
    out = tmp_path / "cli.onnx"
    rc = cli_main(
        [
            "export",
            "onnx",
            "--model",
            str(toys["serve_toy_i2i"]),
            "-o",
            str(out),
            "--size",
            "8x12",
            "--verify",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and out.exists()
    gap = float(text.split("=")[-1])
    assert gap < 1e-4
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["gankit_config"])["family"] == "toy"
    assert cli_main(["export", "onnx", "--model", str(tmp_path / "nope"), "-o", "x.onnx"]) == 2
    assert (
        cli_main(
            ["export", "onnx", "--model", str(toys["serve_toy_i2i"]), "-o", str(tmp_path / "x.txt")]
        )
        == 2
    )
    assert "must end in .onnx" in capsys.readouterr().err
    assert cli_main(["export", "tflite"]) == 2


def test_fp16_export_runs(toys, tmp_path):
    out = export_onnx(toys["serve_toy_latent"], tmp_path / "half.onnx", fp16=True)
    runner = OnnxModel(out)
    assert runner.inputs[0].type == "tensor(float16)"
    z = torch.randn(1, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ref = from_pretrained(toys["serve_toy_latent"])(z)
    assert (runner(z) - ref).abs().max() < 1e-2
