"""ONNX files in the web app: a published AnimeGANv3 file is served through the contract its
family registers, found by name (the app imports no family)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from toy_models import v3_like_graph  # noqa: E402

from gankit.core.errors import BadInputError, ConfigError  # noqa: E402
from gankit.families.animegan.onnx_contract import ThirdPartyStylizer  # noqa: E402


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
