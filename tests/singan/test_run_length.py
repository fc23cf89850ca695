"""SinGAN's run length: scales x iterations unless ``trainer.max_steps`` says otherwise."""

from __future__ import annotations

import dataclasses

from gankit.engine.run_checkpoints import CheckpointManager
from gankit.families.singan import apps
from gankit.families.singan.recipe import SinGANRecipe

from .conftest import tiny_config, tiny_image


def test_train_honours_max_steps_and_defaults_to_every_scale(tmp_path):
    """``trainer.max_steps`` used to be overwritten by scales x iterations per scale."""
    quiet = dict(checkpoint_every=1000, progress=False, tensorboard=False, device="cpu")
    total = SinGANRecipe(tiny_image(), tiny_config()).total_steps
    assert total > 3
    for run, max_steps, last in (("full", 0, total), ("short", 3, 3)):
        cfg = tiny_config()
        cfg = dataclasses.replace(
            cfg, trainer=dataclasses.replace(cfg.trainer, max_steps=max_steps, **quiet)
        )
        apps.train(tiny_image(), tmp_path / run, cfg)
        assert CheckpointManager(tmp_path / run).steps() == [last]
