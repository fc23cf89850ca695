"""A tiny SinGAN run shared by the app tests: 2 scales on a 24x30 image, 4 steps per scale."""

from __future__ import annotations

import pytest
import torch

from gankit.engine import Trainer, TrainerConfig
from gankit.families.singan.config import TrainConfig
from gankit.families.singan.recipe import SinGANRecipe


def tiny_config(**overrides) -> TrainConfig:
    values = dict(
        min_size=14,
        max_size=24,
        scale_factor=0.6,
        channels=4,
        max_channels=8,
        iters_per_scale=4,
        d_steps=1,
        g_steps=1,
        samples=3,
    )
    values.update(overrides)
    return TrainConfig(**values)


def tiny_image(h: int = 18, w: int = 24, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g) * 2 - 1


def run_recipe(recipe, run_dir, max_steps: int | None = None, checkpoint_every: int = 1000):
    """Train ``recipe`` (SinGAN or ConSinGAN) into ``run_dir`` quietly on the CPU."""
    cfg = TrainerConfig(
        max_steps=max_steps or recipe.total_steps,
        checkpoint_every=checkpoint_every,
        sample_every=recipe.cfg.iters_per_scale,
        log_every=1,
        progress=False,
        tensorboard=False,
        device="cpu",
        seed=3,
    )
    Trainer(recipe, run_dir, cfg).run()
    return recipe


def train_tiny(
    run_dir, max_steps: int | None = None, checkpoint_every: int = 1000, **overrides
) -> SinGANRecipe:
    return run_recipe(
        SinGANRecipe(tiny_image(), tiny_config(**overrides)), run_dir, max_steps, checkpoint_every
    )


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("singan_run")
    train_tiny(run)
    return run


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny convolutions run faster on one thread, and far faster on a shared, busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
