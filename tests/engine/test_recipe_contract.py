"""The recipe contract: declared training state (``stateful``) and the run length in epochs."""

from __future__ import annotations

import importlib

import pytest
import torch
import toy

from gankit.core.state import load_state
from gankit.engine import TrainContext, Trainer, TrainerConfig
from gankit.engine.recipe import Recipe
from gankit.engine.run_checkpoints import STATE_NAME, CheckpointManager

RECIPES = [
    ("gankit.families.animegan.recipe", "AnimeGANRecipe"),
    ("gankit.families.dcgan.recipe", "DCGANRecipe"),
    ("gankit.families.pggan.recipe", "PGGANRecipe"),
    ("gankit.families.pix2pix.recipe", "Pix2PixRecipe"),
    ("gankit.families.singan.recipe", "SinGANRecipe"),
    ("gankit.families.stylegan.recipe", "StyleGANRecipe"),
    ("gankit.families.stylegan.progressive", "StyleGAN1ProgressiveRecipe"),
    ("gankit.families.wgan_gp.recipe", "WGANGPRecipe"),
    ("gankit.engine.progressive", "ProgressiveRecipe"),
]


@pytest.mark.parametrize(("module", "name"), RECIPES)
def test_every_recipe_declares_its_state(module, name):
    cls = getattr(importlib.import_module(module), name)
    assert cls.stateful and cls.stateful != Recipe.stateful
    assert all(isinstance(n, str) for n in cls.stateful)
    assert len(set(cls.stateful)) == len(cls.stateful)


def test_checkpoint_holds_exactly_the_declared_state(tmp_path):
    """An undeclared optimiser is not saved (nothing is scanned), a ``None`` part is skipped."""

    class Extra(toy.ToyRecipe):
        stateful = (*toy.ToyRecipe.stateful, "switched_off")

        def setup(self, ctx):
            super().setup(ctx)
            self.undeclared = torch.optim.SGD(self.g.parameters(), lr=0.1)
            self.switched_off = None

    cfg = TrainerConfig(max_steps=2, progress=False, tensorboard=False, device="cpu")
    Trainer(Extra(), tmp_path, cfg).run()
    state = load_state(CheckpointManager(tmp_path).path(2) / STATE_NAME)
    assert sorted(state["recipe"]["objects"]) == ["d", "ema", "g", "opt_d", "opt_g", "sched_g"]


class _Epochs(toy.ToyRecipe):
    """64 points in batches of 8: 8 steps per epoch."""

    def epochs(self):
        return 3


def _trainer(run, **cfg):
    return Trainer(
        _Epochs(),
        run,
        TrainerConfig(progress=False, tensorboard=False, device="cpu", checkpoint_every=100, **cfg),
    )


def test_engine_turns_the_recipes_epochs_into_steps(tmp_path):
    trainer = _trainer(tmp_path)
    trainer.run()
    assert trainer.step == 24 and trainer.recipe.ctx.max_steps == 24
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
        f"step-{s:08d}.png" for s in (8, 16, 24)
    ]


def test_max_steps_wins_over_the_recipes_epochs(tmp_path):
    trainer = _trainer(tmp_path, max_steps=5, sample_every=2)
    trainer.run()
    assert trainer.step == 5
    assert CheckpointManager(tmp_path).steps() == [5]


def test_a_recipe_without_epochs_runs_1000_steps_by_default(tmp_path):
    ctx_steps = []

    class Probe(toy.ToyRecipe):
        def setup(self, ctx: TrainContext) -> None:
            ctx_steps.append(ctx.max_steps)
            raise SystemExit

    with pytest.raises(SystemExit):
        Trainer(Probe(), tmp_path, TrainerConfig(device="cpu")).run()
    assert ctx_steps == [1000]


def test_negative_run_length_is_refused():
    with pytest.raises(ValueError, match="max_steps must be >= 1, or 0"):
        TrainerConfig(max_steps=-1)
