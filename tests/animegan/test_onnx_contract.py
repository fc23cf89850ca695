"""The published AnimeGANv3 ONNX files' contract (NHWC, multiples of 8, fixed or free sizes) on
graphs built here, and ``stylize_onnx`` on gankit's own exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from toy_models import make_models, v3_like_graph  # noqa: E402

from gankit.core.checkpoint import from_pretrained  # noqa: E402
from gankit.core.errors import BadInputError  # noqa: E402
from gankit.families.animegan.onnx_contract import ThirdPartyStylizer, stylize_onnx  # noqa: E402
from gankit.runtime.export import export_onnx  # noqa: E402


@pytest.fixture(scope="module")
def toys(tmp_path_factory):
    return make_models(tmp_path_factory.mktemp("toys"))


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
