"""The training recipe: lazy regularisation, optimiser corrections, data, exact resume."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.core.checkpoint import from_pretrained
from gankit.core.errors import BadInputError
from gankit.engine import Trainer, TrainerConfig
from gankit.engine.context import TrainContext
from gankit.families.stylegan.config import StyleGAN2Config, StyleGANTrainConfig
from gankit.families.stylegan.recipe import StyleGANRecipe, training_images

from .conftest import TINY


def _images(folder, n=8, size=32):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(0)
    for i in range(n):
        Image.fromarray(rng.randint(0, 255, (size, size + 4 * i, 3), dtype=np.uint8)).save(
            folder / f"{i:02d}.png"
        )
    return folder


def _config(data, **changes):
    gen = StyleGAN2Config(**{**TINY, "size": 32})
    return StyleGANTrainConfig(
        data=str(data),
        arch="stylegan2",
        generator=gen,
        batch_size=4,
        r1_every=2,
        pl_every=3,
        **changes,
    )


def test_lazy_regularisation_runs_on_its_schedule(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    recipe = StyleGANRecipe(_config(_images(tmp_path / "d")))
    recipe.setup(TrainContext(torch.device("cpu")))
    data = recipe.dataset()
    batch = torch.stack([data[i] for i in range(4)])
    seen = {step: set(recipe.train_step(batch, step)) for step in range(7)}
    assert [s for s in seen if "r1" in seen[s]] == [0, 2, 4, 6]
    assert [s for s in seen if "pl" in seen[s]] == [0, 3, 6]
    assert all({"loss_d", "loss_g"} <= keys for keys in seen.values())
    assert recipe.pl_mean > 0  # the running mean of path lengths moved
    # lazy-regularisation corrections: c = k / (k + 1)
    g_group, d_group = recipe.opt_g.param_groups[0], recipe.opt_d.param_groups[0]
    assert d_group["lr"] == pytest.approx(0.002 * 2 / 3)
    assert g_group["lr"] == pytest.approx(0.002 * 3 / 4)
    assert d_group["betas"] == pytest.approx((0.0, 0.99 ** (2 / 3)))
    assert recipe.ema.decay == pytest.approx(0.5 ** (4 / 10_000))
    assert not torch.equal(recipe.g.latent_avg, torch.zeros_like(recipe.g.latent_avg))


def test_dataset_from_zip_is_cached_and_checks_sizes(tmp_path):
    folder = _images(tmp_path / "imgs", n=3)
    zpath = tmp_path / "imgs.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in sorted(folder.iterdir()):
            zf.write(p, f"sub/{p.name}")
    ds = training_images(zpath, 16, cache_dir=tmp_path / "cache")
    assert len(ds) == 3 and ds[0].shape == (3, 16, 16)
    assert -1.0 <= float(ds[1].min()) and float(ds[1].max()) <= 1.0
    assert len(list((tmp_path / "cache").iterdir())) == 1
    torch.testing.assert_close(training_images(folder, 16, cache_dir=tmp_path / "c2")[2], ds[2])
    with pytest.raises(BadInputError, match="smaller than the training resolution"):
        training_images(folder, 64, cache_dir=tmp_path / "cache")
    with pytest.raises(BadInputError, match="no such data"):
        training_images(tmp_path / "missing", 16)


def test_tiny_run_resumes_exactly(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data = _images(tmp_path / "d")

    def run(run_dir, steps):
        tc = TrainerConfig(
            max_steps=steps,
            checkpoint_every=2,
            sample_every=100,
            log_every=1,
            progress=False,
            tensorboard=False,
            device="cpu",
        )
        recipe = StyleGANRecipe(_config(data, xflip=True))
        steps_run = []
        step_fn = recipe.train_step
        recipe.train_step = lambda batch, step: steps_run.append(step) or step_fn(batch, step)
        Trainer(recipe, run_dir, tc).run()
        return steps_run

    assert run(tmp_path / "straight", 6) == [0, 1, 2, 3, 4, 5]
    assert run(tmp_path / "resumed", 3) == [0, 1, 2]
    assert run(tmp_path / "resumed", 6) == [3, 4, 5]  # continued from the step-3 checkpoint
    a = from_pretrained(tmp_path / "straight" / "model").state_dict()
    b = from_pretrained(tmp_path / "resumed" / "model").state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (tmp_path / "straight" / "samples").is_dir()


def test_cli_train_writes_config_and_model(tmp_path, monkeypatch, capsys):
    from gankit.cli import main

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    data = _images(tmp_path / "d", n=4)
    gen = [f"--generator.{k}={v}" for k, v in {**TINY, "size": 32}.items()]
    argv = [
        "stylegan",
        "train",
        "--data",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--batch_size",
        "2",
        "--trainer.max_steps",
        "1",
        "--trainer.progress",
        "false",
        "--trainer.tensorboard",
        "false",
        "--trainer.device",
        "cpu",
        *gen,
    ]
    assert main(argv) == 0, capsys.readouterr().err
    assert (tmp_path / "run" / "config.yaml").exists()
    g = from_pretrained(tmp_path / "run" / "model")
    assert g.config.size == 32
    assert (
        main(["stylegan", "train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r2")])
        == 2
    )


def test_stylegan1_generator_trains_with_the_same_recipe(tmp_path, monkeypatch):
    from gankit.families.stylegan.config import StyleGAN1Config
    from gankit.families.stylegan.networks import StyleGAN1Generator

    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    cfg = _config(_images(tmp_path / "d"))
    cfg.arch, cfg.generator = "stylegan1", StyleGAN1Config(**{**TINY, "size": 32})
    recipe = StyleGANRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    assert isinstance(recipe.g, StyleGAN1Generator)
    batch = torch.stack([recipe.dataset()[i] for i in range(4)])
    before = recipe.g.layers[2].conv.weight.clone()
    losses = [recipe.train_step(batch, step) for step in range(2)]
    assert all(np.isfinite(v) for step in losses for v in step.values())
    assert "pl" in losses[0] and "r1" in losses[0]
    assert not torch.equal(before, recipe.g.layers[2].conv.weight)


def test_gradient_accumulation_splits_every_step(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    recipe = StyleGANRecipe(_config(_images(tmp_path / "d")))
    recipe.setup(TrainContext(torch.device("cpu"), grad_accum=2))
    batch = torch.stack([recipe.dataset()[i] for i in range(4)])
    losses = recipe.train_step(batch, 0)
    assert {"loss_d", "r1", "loss_g", "pl"} <= set(losses)
    assert all(np.isfinite(v) for v in losses.values())


def test_r1_gamma_zero_skips_the_r1_step_as_nvlabs(tmp_path, monkeypatch):
    """NVlabs training/loss.py@d72cc7d: ``do_Dr1`` is off when ``r1_gamma == 0``."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    recipe = StyleGANRecipe(_config(_images(tmp_path / "d"), r1_gamma=0.0))
    recipe.setup(TrainContext(torch.device("cpu")))
    data = recipe.dataset()
    batch = torch.stack([data[i] for i in range(4)])
    seen = [set(recipe.train_step(batch, step)) for step in range(3)]
    assert all("r1" not in keys and "loss_d" in keys for keys in seen)
    with pytest.raises(ValueError, match="r1_gamma"):
        _config(tmp_path, r1_gamma=-1.0)


# NVlabs/stylegan2-ada-pytorch train.py@d72cc7d cfg_specs, resolved for one GPU ('auto' rows
# by its lines 165-174): batch, mbstd group, channel base, lr, gamma, EMA kimg, ramp-up, map.
NVLABS_CFGS = {
    "64": (32, 4, 16384, 0.0025, 0.0256, 10.0, 0.05, 2),  # auto
    "128": (32, 4, 16384, 0.0025, 0.1024, 10.0, 0.05, 2),  # auto
    "256": (64, 8, 16384, 0.0025, 1.0, 20.0, None, 8),  # paper256
    "512": (8, 4, 32768, 0.0025, 6.5536, 2.5, 0.05, 2),  # auto
    "1024": (32, 4, 32768, 0.002, 10.0, 10.0, None, 8),  # stylegan2 (config-f)
}


@pytest.mark.parametrize("name", sorted(NVLABS_CFGS))
def test_presets_are_nvlabs_configurations(name):
    from gankit.families.stylegan.config import PRESETS

    p = PRESETS[name]
    got = (
        p.batch_size,
        p.generator.mbstd_group,
        p.generator.channel_base,
        p.lr,
        p.r1_gamma,
        p.ema_kimg,
        p.ema_rampup,
        p.generator.n_mlp,
    )
    assert got == pytest.approx(NVLABS_CFGS[name])
    assert p.generator.size == int(name) and p.trainer.max_steps * p.batch_size >= 25_000_000


def test_ema_ramps_up_as_nvlabs_and_discriminator_uses_the_mbstd_group(tmp_path, monkeypatch):
    """training_loop.py: ema_nimg = min(ema_kimg * 1000, cur_nimg * ema_rampup)."""
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    cfg = _config(_images(tmp_path / "d"), ema_rampup=0.05)
    cfg.generator.mbstd_group = 2
    recipe = StyleGANRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    assert recipe._ema_decay(0) == 0.0  # the EMA starts as a copy of G
    assert recipe._ema_decay(10) == pytest.approx(0.5 ** (4 / (10 * 4 * 0.05)))
    assert recipe._ema_decay(10**6) == pytest.approx(0.5 ** (4 / 10_000))
    recipe.cfg.ema_rampup = None
    assert recipe._ema_decay(0) == pytest.approx(0.5 ** (4 / 10_000))
    assert recipe.d.stddev_group == 2
