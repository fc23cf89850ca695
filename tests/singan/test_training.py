"""SinGAN networks, pyramid plan, noise amplitude rule, exact resume and anomaly-free training."""

from __future__ import annotations

import json
import math

import pytest
import torch

from gankit.core import registry
from gankit.core.checkpoint import from_pretrained, save_pretrained
from gankit.core.errors import BadInputError
from gankit.families.singan.config import pyramid_shapes
from gankit.families.singan.recipe import SinGANRecipe, noise_amplitude

from .conftest import tiny_config, tiny_image, train_tiny


def test_reference_parameter_counts():
    assert registry.param_count(registry.build("singan_g")) == 29_763
    # the critic differs from G only in its 1-channel tail without tanh: 29,763 - 867 + 289
    assert registry.param_count(registry.build("singan_d")) == 29_185


def _reference_plan(h, w, min_size=25, max_size=250, sf=0.75):
    """tamarott/SinGAN functions.adjust_scales2image + creat_reals_pyramid, transcribed."""
    num_scales = math.ceil(math.log(math.pow(min_size / min(h, w), 1), sf)) + 1
    scale2stop = math.ceil(math.log(min([max_size, max([h, w])]) / max([h, w]), sf))
    stop_scale = num_scales - scale2stop
    scale1 = min(max_size / max([h, w]), 1)
    h1, w1 = math.ceil(h * scale1), math.ceil(w * scale1)
    factor = math.pow(min_size / min(h1, w1), 1 / stop_scale)
    return [
        (
            math.ceil(h1 * math.pow(factor, stop_scale - i)),
            math.ceil(w1 * math.pow(factor, stop_scale - i)),
        )
        for i in range(stop_scale + 1)
    ]


@pytest.mark.parametrize(
    "hw",
    [(188, 250), (250, 188), (427, 640), (100, 100), (60, 300), (120, 600), (250, 250), (30, 40)],
)
def test_pyramid_matches_reference_formula(hw):
    shapes, _ = pyramid_shapes(*hw)
    assert shapes == _reference_plan(*hw)
    assert max(shapes[-1]) <= 250 and min(shapes[0]) >= 25


def test_consingan_rescaling_matches_its_formula():
    """tohinz/ConSinGAN functions.adjust_scales2image + create_reals_pyramid, transcribed."""
    shapes, factor = pyramid_shapes(188, 250, rescaling="consingan", num_scales=6)
    stop = 5
    sf = math.pow(25 / 188, 1 / stop)
    expected = [
        (math.ceil(188 * sf**e), math.ceil(250 * sf**e))
        for e in [(stop - 1) / math.log(stop) * math.log(stop - i) + 1 for i in range(stop)]
    ]
    assert shapes == [*expected, (188, 250)]
    assert factor == pytest.approx(sf)
    # more stages at low resolution: the finest stage is more than twice the area of the one below
    assert shapes[-1][0] * shapes[-1][1] > 2 * shapes[-2][0] * shapes[-2][1]


def test_image_too_small_is_a_clear_error():
    with pytest.raises(BadInputError, match="min_size"):
        pyramid_shapes(20, 30)


def test_noise_amplitude_is_tenth_of_rmse():
    real = torch.zeros(1, 3, 8, 8)
    rec = torch.full((1, 3, 8, 8), 0.5)
    assert noise_amplitude(real, rec, 0.1) == pytest.approx(0.05)


def test_training_grows_pyramid_and_sets_noise_amps(tmp_path):
    recipe = train_tiny(tmp_path / "run")
    pyr = recipe.pyramid
    assert pyr.num_scales == len(recipe.shapes) == 3
    assert pyr.noise_amp[0] == 1.0
    for k in range(1, 3):  # each sigma_k was 0.1 * RMSE at the time scale k was added
        assert 0 < float(pyr.noise_amp[k]) < 0.2
    samples = sorted((tmp_path / "run" / "samples").glob("*.png"))
    assert len(samples) == 3  # a sample grid at the end of every scale
    model = from_pretrained(tmp_path / "run")
    assert model.config.shapes == [list(s) for s in recipe.shapes]
    cfg = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert cfg["role"] == "pyramid"


def test_pyramid_round_trips_as_one_folder(tmp_path, tiny_run):
    model = from_pretrained(tiny_run)
    save_pretrained(model, tmp_path / "copy")
    again = from_pretrained(tmp_path / "copy")
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items(), strict=True):
        assert torch.equal(a, b), k
    with torch.no_grad():
        assert torch.equal(model.reconstruct(), again.reconstruct())


def _final_state(recipe):
    return {k: v.clone() for k, v in recipe.pyramid.state_dict().items()}


@pytest.mark.parametrize("stop_at", [6, 8])  # mid-scale (6 = scale 1, iteration 2) and boundary
@pytest.mark.parametrize("depth", [1, 2])
def test_exact_resume(tmp_path, stop_at, depth):
    full = _final_state(train_tiny(tmp_path / "a", train_depth=depth))
    train_tiny(tmp_path / "b", max_steps=stop_at, train_depth=depth)
    resumed = _final_state(train_tiny(tmp_path / "b", train_depth=depth))
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k


def test_no_inplace_autograd_error_under_anomaly_detection(tmp_path):
    with torch.autograd.set_detect_anomaly(True):
        recipe = train_tiny(
            tmp_path / "run", d_steps=2, g_steps=3, train_depth=2, iters_per_scale=2
        )
    assert recipe.pyramid.num_scales == 3


def test_resume_with_another_image_is_refused(tmp_path):
    from gankit.core.errors import CheckpointError
    from gankit.engine import Trainer, TrainerConfig

    train_tiny(tmp_path / "run", max_steps=6)
    other = SinGANRecipe(tiny_image(20, 30), tiny_config())
    cfg = TrainerConfig(
        max_steps=other.total_steps, progress=False, tensorboard=False, device="cpu"
    )
    with pytest.raises(CheckpointError):
        Trainer(other, tmp_path / "run", cfg).run()
