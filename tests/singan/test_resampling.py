"""SinGAN's scale pyramids and resampling between scales, checked against outputs of
tamarott/SinGAN's own code (``tests/nn/test_imresize.py`` checks ``imresize`` itself).

The fixtures in ``parity/`` were written by ``tools/parity/singan_resize.py`` running the
reference's ``SinGAN/imresize.py``, ``SinGAN/functions.py`` and ``draw_concat``
(``parity/SOURCE`` names the commits). Tolerance 1e-5 on [-1, 1] images: gankit resizes in
float32 where the reference uses float64 (the largest gap seen is 4e-7).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.core import registry
from gankit.families.singan.config import PRESETS, PyramidConfig, TrainConfig, pyramid_plan
from gankit.families.singan.convert import _scale_factor
from gankit.families.singan.networks import SinGANPyramid, resize
from gankit.families.singan.recipe import SinGANRecipe
from gankit.nn.imresize import imresize

from .conftest import tiny_config, tiny_image

PARITY = Path(__file__).parent / "parity"
PLANS = json.loads((PARITY / "pyramids.json").read_text())
TOL = 1e-5


@pytest.mark.parametrize("plan", PLANS["singan"], ids=lambda p: "x".join(map(str, p["size"])))
def test_paper_pyramid_is_adjust_scales2image(plan):
    shapes, factor, _ = pyramid_plan(*plan["size"])
    assert [list(s) for s in shapes] == plan["shapes"]
    assert factor == pytest.approx(plan["scale_factor"], abs=1e-12)


@pytest.mark.parametrize("plan", PLANS["singan_sr"], ids=lambda p: "x".join(map(str, p["size"])))
def test_sr_preset_pyramid_is_adjust_scales2image_sr(plan):
    cfg = PRESETS["sr"]
    assert cfg.scale_factor == pytest.approx(plan["scale_factor_init"], abs=1e-12)
    shapes, factor, _ = pyramid_plan(
        *plan["size"], cfg.min_size, cfg.max_size, cfg.scale_factor, cfg.rescaling
    )
    assert [list(s) for s in shapes] == plan["shapes"]  # 80x120: 8 scales, not ceil()'s 9
    assert factor == pytest.approx(plan["scale_factor"], abs=1e-12)


def test_training_pyramid_is_the_reference_one():
    spec = PLANS["reals"]
    with np.load(PARITY / "reals.npz") as data:
        image = torch.from_numpy(data["image"])
        want = [torch.from_numpy(data[f"real{k}"]) for k in range(len(spec["shapes"]))]
    cfg = TrainConfig(
        min_size=spec["min_size"], max_size=spec["max_size"], scale_factor=spec["scale_factor_init"]
    )
    recipe = SinGANRecipe(image, cfg)
    assert recipe.scale_factor == pytest.approx(spec["scale_factor"], abs=1e-12)
    assert len(recipe.reals) == len(want)
    for got, ref in zip(recipe.reals, want, strict=True):
        assert got.shape == ref.shape and (got - ref).abs().max() <= TOL


def test_resampling_is_recorded_and_old_configs_keep_torch_bicubic():
    arch = registry.get("singan_pyramid")
    old = registry.config_from_dict(
        arch.config_cls, {"shapes": [[14, 18], [19, 24]], "channels": [4, 4]}
    )
    assert old.resampling == "torch-bicubic"
    pyr = registry.build(arch.name, old)
    x = torch.rand(1, 3, 14, 18) * 2 - 1
    assert torch.equal(pyr.upscale(x, (19, 24)), resize(x, (19, 24)))
    new = registry.build(
        arch.name, PyramidConfig(shapes=old.shapes, channels=old.channels, resampling="reference")
    )
    assert torch.equal(new.upscale(x, (19, 24)), imresize(x, 1 / 0.75, (19, 24)))
    assert not torch.allclose(new.upscale(x, (19, 24)), pyr.upscale(x, (19, 24)), atol=1e-3)
    with pytest.raises(ValueError, match="resampling"):
        PyramidConfig(resampling="nearest")


@pytest.mark.parametrize(
    ("train", "saved"),
    [
        ({}, "reference"),
        ({"rescaling": "consingan", "num_scales": 3}, "reference-shape"),
        ({"resampling": "torch-bicubic"}, "torch-bicubic"),
    ],
)
def test_new_models_record_their_resampling(train, saved):
    recipe = SinGANRecipe(tiny_image(), tiny_config(**train))
    assert recipe._pyramid_config(1).resampling == saved


@pytest.mark.parametrize(
    "plan",
    [*PLANS["singan"], *PLANS["singan_sr"], PLANS["reals"]],
    ids=lambda p: "x".join(map(str, p["size"])),
)
def test_convert_recovers_the_reference_scale_factor(plan):
    """An imported run enlarges by the reference's own 1 / scale_factor between scales."""
    assert _scale_factor(plan["shapes"]) == pytest.approx(plan["scale_factor"], abs=1e-12)


def _imported_pyramid(resampling: str) -> tuple[SinGANPyramid, dict[str, torch.Tensor]]:
    spec = PLANS["reals"]
    with np.load(PARITY / "reconstruction.npz") as data:
        arrays = {k: torch.from_numpy(data[k]) for k in data.files}
    n = len(spec["shapes"])
    pyr = registry.build(
        "singan_pyramid",
        PyramidConfig(
            shapes=spec["shapes"],
            channels=[8] * n,
            scale_factor=spec["scale_factor"],
            resampling=resampling,
        ),
    )
    for k, g in enumerate(pyr.generators):
        g.load_state_dict(
            {name[len(f"g{k}.") :]: t for name, t in arrays.items() if name.startswith(f"g{k}.")}
        )
    pyr.z_rec.copy_(arrays["z0"])
    pyr.noise_amp.copy_(arrays["noise_amp"])
    return pyr.eval(), arrays


def test_reconstruction_from_z_star_is_the_reference_draw_concat():
    """Weights, z* and amplitudes as the reference holds them: gankit's reconstruction at every
    scale is what the reference's draw_concat + G computes (enlarge by 1 / scale_factor through
    uint8 levels, crop the bottom and right)."""
    pyr, arrays = _imported_pyramid("reference")
    old, _ = _imported_pyramid("torch-bicubic")
    with torch.no_grad():
        for k in range(pyr.num_scales):
            want = arrays[f"rec{k}"]
            assert want.std() > 0.1
            assert (pyr.reconstruct(last=k) - want).abs().max() <= TOL
            if k:  # PyTorch's bicubic between scales gives another image
                assert (old.reconstruct(last=k) - want).abs().max() > 5 / 255
