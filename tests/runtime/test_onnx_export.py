"""ONNX export and onnxruntime inference: toy networks of both kinds, the real generators in the
tree, and the third-party AnimeGANv3 contract on a graph built here."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from toy_models import make_models, v3_like_graph  # noqa: E402

from gankit.cli import main as cli_main  # noqa: E402
from gankit.core.checkpoint import from_pretrained  # noqa: E402
from gankit.core.errors import BadInputError, ConfigError  # noqa: E402
from gankit.families.animegan.onnx_contract import (  # noqa: E402
    ThirdPartyStylizer,
    stylize_onnx,
)
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


def test_third_party_v3_contract(tmp_path):
    path = v3_like_graph(tmp_path / "AnimeGANv3_Test.onnx")
    img = Image.fromarray(np.full((300, 421, 3), (200, 100, 20), np.uint8))
    runner = ThirdPartyStylizer(path)
    assert (runner.layout, runner.multiple) == ("NHWC", 8)
    assert runner.model_size(421, 300) == (416, 296)
    assert runner.model_size(100, 255) == (256, 256)
    out = stylize_onnx(img, path)
    assert out.size == img.size
    x = np.array([200, 100, 20], np.float32) / 127.5 - 1
    expect = np.clip((np.tanh(2 * x) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
    assert np.abs(np.asarray(out)[150, 200].astype(int) - expect).max() <= 1
    tiny = v3_like_graph(tmp_path / "AnimeGANv3_tiny_Cute.onnx")
    assert ThirdPartyStylizer(tiny).model_size(421, 300) == (416, 288)


def test_third_party_fixed_size_and_misfits(tmp_path):
    fixed = v3_like_graph(tmp_path / "fixed.onnx", fixed=(256, 320))
    assert ThirdPartyStylizer(fixed).model_size(1000, 50) == (320, 256)
    nchw = v3_like_graph(tmp_path / "v2.onnx", layout="NCHW")
    img = Image.new("RGB", (260, 270), (10, 20, 30))
    assert stylize_onnx(img, nchw).size == (260, 270)
    gray = v3_like_graph(tmp_path / "gray.onnx", channels=1)
    with pytest.raises(BadInputError, match="does not fit the AnimeGANv3 ONNX contract"):
        ThirdPartyStylizer(gray)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(BadInputError, match="not a loadable ONNX model"):
        stylize_onnx(img, junk)


def test_stylize_onnx_takes_gankit_exports(toys, tmp_path):
    out = export_onnx(toys["serve_toy_i2i"], tmp_path / "g.onnx", dynamic=True, height=16, width=16)
    img = Image.new("RGB", (33, 20), (90, 160, 30))
    styled = stylize_onnx(img, out)
    assert styled.size == (33, 20)
    model = from_pretrained(toys["serve_toy_i2i"])
    crop = img.resize((32, 20))
    x = torch.from_numpy(np.asarray(crop, np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    with torch.no_grad():
        ref = ((model(x)[0].permute(1, 2, 0) + 1) * 127.5).round().clamp(0, 255).numpy()
    got = np.asarray(stylize_onnx(crop, out), np.float32)
    assert np.abs(got - ref).max() <= 1


def test_onnx_files_are_served_in_the_app(tmp_path):
    from gankit.serve.pool import ModelPool, parse_model_args

    path = v3_like_graph(tmp_path / "AnimeGANv3_Test.onnx")
    pool = ModelPool(parse_model_args([f"v3={path}"]))
    served = pool.served("v3")
    assert (served.family, served.info.kind, served.onnx) == ("animegan", "image2image", True)
    photo = tmp_path / "p.png"
    Image.new("RGB", (300, 260), (200, 100, 20)).save(photo)
    before, after = pool.image_file("v3", str(photo))
    assert after.size == (300, 260)
    assert np.asarray(after)[100, 100, 0] > 200


def test_the_app_finds_onnx_contracts_through_the_registry(tmp_path):
    """The web app imports no family: the AnimeGANv3 contract is registered by the AnimeGAN
    family and looked up by name; a file that fits no contract stops the server at start-up."""
    from gankit.core import registry
    from gankit.serve.pool import parse_model_args

    assert registry.onnx_contract_families() == ("animegan",)
    assert registry.onnx_contract("animegan") is ThirdPartyStylizer
    with pytest.raises(ConfigError, match="runs no ONNX files other than gankit exports"):
        registry.onnx_contract("pix2pix")
    gray = v3_like_graph(tmp_path / "gray.onnx", channels=1)
    with pytest.raises(BadInputError, match="does not fit the AnimeGANv3 ONNX contract"):
        parse_model_args([str(gray)])
