"""ConSinGAN (``--preset consingan``): networks equal to the reference's own, its recipe's rules,
and a trained model that ``gankit singan sample`` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.core import registry
from gankit.core.checkpoint import from_pretrained
from gankit.engine import Trainer, TrainerConfig
from gankit.families.singan import apps
from gankit.families.singan.config import preset
from gankit.families.singan.consingan import ConSinGANConfig, ConSinGANModel
from gankit.families.singan.consingan_recipe import ConSinGANRecipe

from .conftest import run_recipe, tiny_image

FIXTURES = Path(__file__).parent / "parity_consingan"


def _fixtures() -> dict[str, torch.Tensor]:
    with np.load(FIXTURES / "networks.npz") as f:
        return {k: torch.from_numpy(f[k]) for k in f.files}


def _tiny_net_config(f: dict[str, torch.Tensor]) -> ConSinGANConfig:
    return ConSinGANConfig(shapes=f["shapes"].tolist(), channels=4, num_layers=3)


def test_generator_matches_reference_growing_generator():
    f = _fixtures()
    g = registry.build("consingan_g", _tiny_net_config(f))
    g.load_state_dict({k[2:]: v for k, v in f.items() if k.startswith("g.")})  # strict: names
    noise = [f[f"noise{k}"] for k in range(len(f["shapes"]))]
    with torch.no_grad():
        out = g(noise, f["noise_amp"])
    assert out.shape == f["g_out"].shape
    assert (out - f["g_out"]).abs().max() <= 1e-5


def test_discriminator_matches_reference():
    f = _fixtures()
    d = registry.build("consingan_d", _tiny_net_config(f))
    d.load_state_dict({k[2:]: v for k, v in f.items() if k.startswith("d.")})
    with torch.no_grad():
        out = d(f["d_in"])
    assert out.shape == f["d_out"].shape
    assert (out - f["d_out"]).abs().max() <= 1e-5


def test_parameter_counts_match_reference_defaults():
    counts = json.loads((FIXTURES / "counts.json").read_text())
    cfg = ConSinGANConfig()  # 64 channels, 3 blocks per stage, 6 stages
    assert len(cfg.shapes) == counts["stages"]
    assert registry.param_count(registry.build("consingan_g", cfg)) == counts["generator"]
    assert registry.param_count(registry.build("consingan_d", cfg)) == counts["discriminator"]


def tiny_consingan(**overrides):
    values = dict(max_size=24, min_size=12, num_scales=3, channels=4, iters_per_scale=3, samples=3)
    values.update(overrides)
    return preset("consingan", **values)


def _train(run_dir, max_steps=None, **overrides) -> ConSinGANRecipe:
    return run_recipe(
        ConSinGANRecipe(tiny_image(), tiny_consingan(**overrides)), run_dir, max_steps
    )


@pytest.fixture(scope="module")
def consingan_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("consingan_run")
    _train(run)
    return run


def test_stage0_reconstruction_input_is_the_image_and_model_folder_loads(consingan_run):
    model = from_pretrained(consingan_run / "model")
    assert isinstance(model, ConSinGANModel) and model.num_scales == 3
    assert torch.equal(model.fixed_noise[0], model.reals[0])
    assert model.noise_amp[0] == 1 and bool((model.noise_amp[1:] > 0).all())
    a = apps.sample(consingan_run / "model", n=2, seed=5)
    b = apps.sample(consingan_run / "model", n=2, seed=5)
    assert a.shape == (2, 3, *model.config.shapes[-1]) and torch.equal(a, b)
    rec = apps.sample(model, n=2, start_scale=3)
    assert torch.equal(rec[0], rec[1])
    h, w = model.config.shapes[-1]
    wide = apps.sample(model, n=1, start_scale=2, scale_h=1.5)  # fixed noise stretched
    assert wide.shape[-2:] == (h, round(w * 1.5))


@pytest.mark.filterwarnings(r"ignore:Seems like `optimizer.step\(\)` has been overridden")
def test_one_backward_then_g_steps_optimiser_steps(tmp_path, monkeypatch):
    """ConSinGAN training_generation.py: netG's one backward, then Gsteps x optimizerG.step()."""
    steps: list[int] = []
    backward = torch.Tensor.backward

    def counting(self, *args, **kwargs):
        steps.append(-1)
        return backward(self, *args, **kwargs)

    recipe = ConSinGANRecipe(tiny_image(), tiny_consingan(d_steps=2, g_steps=3))
    cfg = TrainerConfig(
        max_steps=1,
        checkpoint_every=1000,
        sample_every=1000,
        log_every=1,
        progress=False,
        tensorboard=False,
        device="cpu",
        seed=3,
    )
    trainer = Trainer(recipe, tmp_path, cfg)
    real_grow = recipe._grow

    def grow(n):
        real_grow(n)
        original = recipe.opt_g.step
        recipe.opt_g.step = lambda *a, **k: (steps.append(1), original(*a, **k))[1]

    monkeypatch.setattr(recipe, "_grow", grow)
    monkeypatch.setattr(torch.Tensor, "backward", counting)
    trainer.run()
    # 2 critic backwards, then the generator's one backward and its 3 steps
    assert steps == [-1, -1, -1, 1, 1, 1]


def test_learning_rates_of_concurrent_stages(tmp_path):
    recipe = _train(tmp_path, train_depth=2, lr_scale=0.1)
    lrs = [g["lr"] for g in recipe.opt_g.param_groups]
    # stage 2 of 3 with train_depth 2: stage 1 at lr x 0.1, stage 2 at lr, no head, tail at lr
    # (all after the x0.1 decay at 80% of the stage's 3 steps)
    assert lrs == pytest.approx([5e-6, 5e-5, 5e-5])
    assert not any(p.requires_grad for p in recipe.model.generator.body[0].parameters())
    assert not any(p.requires_grad for p in recipe.model.generator.head.parameters())


def test_resume_mid_stage_is_exact(tmp_path):
    whole = _train(tmp_path / "whole")
    _train(tmp_path / "split", max_steps=4)
    split = _train(tmp_path / "split")
    a, b = whole.model.state_dict(), split.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "gankit.cli", "singan", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_samples_consingan_and_other_verbs_refuse_in_one_line(consingan_run, tmp_path):
    ok = _cli("sample", str(consingan_run), "-n", "2", "-o", str(tmp_path / "s"))
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "s" / "sample_001.png").is_file()
    refused = _cli("animate", str(consingan_run), "-o", str(tmp_path / "a.gif"))
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "sample" in refused.stderr
    assert not (tmp_path / "a.gif").exists()


def test_web_app_serves_consingan_as_a_seeded_sampler(consingan_run):
    from gankit.serve.pool import ModelPool, parse_model_args

    pool = ModelPool(parse_model_args([str(consingan_run / "model")]), max_frames=4)
    (name,) = pool.names(None, "sampler")
    a = np.asarray(pool.generate(name, seed=1, count=2))
    h, w = from_pretrained(consingan_run / "model").config.shapes[-1]
    assert a.shape[0] >= h and a.shape[1] >= 2 * w and a.shape[2] == 3  # a grid of two
    assert np.array_equal(a, np.asarray(pool.generate(name, seed=1, count=2)))
    assert not pool.served(name).info.animate


def test_one_training_iteration_matches_reference_train_single_scale():
    """Stage 0, one iteration from the reference's initial weights and draws (seed 2): the
    logged losses and the weights after 3 critic steps and 3 generator optimiser steps."""
    from gankit.engine import TrainContext

    with np.load(FIXTURES / "train_step.npz") as f:
        ref = {k: torch.from_numpy(f[k]) for k in f.files}
    reals = [ref[f"real{k}"] for k in range(3)]
    recipe = ConSinGANRecipe(tiny_image(), tiny_consingan(iters_per_scale=1))
    recipe.reals, recipe.shapes = reals, [tuple(r.shape[-2:]) for r in reals]
    recipe.setup(TrainContext(torch.device("cpu")))
    recipe._grow(0)
    g = recipe.model.generator
    g.load_state_dict({k[3:]: v for k, v in ref.items() if k.startswith("g0.")})
    recipe.d.load_state_dict({k[3:]: v for k, v in ref.items() if k.startswith("d0.")})
    torch.manual_seed(2)
    parts = recipe.train_step(None, 0)
    d_total = -float(ref["d_real"]) + float(ref["d_fake"]) + float(ref["gp"])
    assert parts["d"] == pytest.approx(d_total, abs=1e-5)
    assert parts["gp"] == pytest.approx(float(ref["gp"]), abs=1e-6)
    assert parts["g_adv"] == pytest.approx(float(ref["g_adv"]), abs=1e-5)
    assert 10 * parts["rec"] == pytest.approx(float(ref["rec"]), rel=1e-5)
    for prefix, net in (("g1.", g), ("d1.", recipe.d)):
        after = {k[3:]: v for k, v in ref.items() if k.startswith(prefix)}
        for name, value in net.state_dict().items():
            assert (value - after[name]).abs().max() <= 1e-5, name


def test_stage_sizes_match_reference_create_reals_pyramid():
    from gankit.families.singan.config import pyramid_shapes

    spec = json.loads((FIXTURES / "pyramids.json").read_text())
    for size, want in spec["plans"].items():
        h, w = map(int, size.split("x"))
        shapes, _ = pyramid_shapes(
            h,
            w,
            spec["min_size"],
            spec["max_size"],
            rescaling="consingan",
            num_scales=spec["stages"],
        )
        assert [list(s) for s in shapes] == want, size


def test_training_pyramid_matches_reference_reals():
    small = json.loads((FIXTURES / "pyramids.json").read_text())["small"]
    with np.load(FIXTURES / "reals.npz") as f:
        image = torch.from_numpy(f["image"])
        want = [torch.from_numpy(f[f"real{k}"]) for k in range(small["stages"])]
    recipe = ConSinGANRecipe(
        image,
        preset(
            "consingan",
            min_size=small["min_size"],
            max_size=small["max_size"],
            num_scales=small["stages"],
        ),
    )
    assert len(recipe.reals) == len(want)
    for got, ref in zip(recipe.reals, want, strict=True):
        assert got.shape == ref.shape and (got - ref).abs().max() <= 1e-5
