"""StyleGAN1's growth schedule, fade-in reals and losses against NVlabs/stylegan's own functions.

``tools/parity/stylegan1_step.py`` ran, with TensorFlow, the reference's ``training_schedule``
under its ``train.py`` settings (the one-GPU choice), ``process_reals`` on a batch in a fade-in,
and ``D_logistic_simplegp`` / ``G_logistic_nonsaturating`` on stand-in networks (fixed fakes; a
differentiable D, ``sum(a * x + b * x**2)``), recording the losses and the gradients their
optimiser would take (see ``parity/stylegan1/SOURCE``). Here gankit's StyleGAN1 recipe gives its
phase, minibatch and learning rate at the same image counts, its reals at the same fade, and its
D and G objectives on the same stand-in D (in PyTorch), all to a relative error of 1e-4.

What is not compared: a whole optimisation step of NVlabs' ``G_style`` / ``D_basic`` (their
``dnnlib.tflib`` does not import on TensorFlow 2). Where the schedule differs by definition:
on a fade-in's first image NVlabs names the old resolution at full weight and gankit the new
one at weight 0, the same network output; the minibatch and learning rate are then the old
resolution's in NVlabs and the new one's in gankit (one step per fade-in).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from parity_replay import TOLERANCE, RecordedReals, relative
from PIL import Image
from safetensors.torch import load_file

from gankit.engine import TrainContext
from gankit.families.stylegan.config import (
    GrowthConfig,
    StyleGAN1Config,
    StyleGANTrainConfig,
)
from gankit.families.stylegan.recipe import make_recipe

from .conftest import TINY

FIXTURE = Path(__file__).parent / "parity" / "stylegan1"


def fixture() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = load_file(str(FIXTURE / "stylegan1.safetensors"))
    return tensors, json.loads((FIXTURE / "stylegan1.json").read_text())


class StandInD(torch.nn.Module):
    """The maker's stand-in discriminator: ``sum(a * x + b * x**2)`` per image."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor) -> None:
        super().__init__()
        self.a, self.b = torch.nn.Parameter(a.clone()), torch.nn.Parameter(b.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.a * x + self.b * x.square()).sum(dim=(1, 2, 3))


@pytest.fixture(scope="module")
def tiny_recipe(tmp_path_factory: pytest.TempPathFactory):
    """A 32x32 StyleGAN1 recipe growing from 8x8 over 10-image phases, set up (batch 4)."""
    _, meta = fixture()
    root = tmp_path_factory.mktemp("grey")
    Image.new("RGB", (meta["net_side"],) * 2, (128, 128, 128)).save(root / "grey.png")
    growth = GrowthConfig(start_resolution=8, fade_kimg=0.01, stab_kimg=0.01, batch_per_level=[4])
    cfg = StyleGANTrainConfig(
        data=str(root),
        arch="stylegan1",
        generator=StyleGAN1Config(**{**TINY, "size": meta["net_side"]}),
        progressive=True,
        growth=growth,
        xflip=False,
    )
    recipe = make_recipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    return recipe


def test_schedule_matches_training_schedule() -> None:
    """Phase (as NVlabs' lod), minibatch and learning rate at the fixture's image counts, for
    the default 1024x1024 run (nothing is built: the schedule needs no networks)."""
    _, meta = fixture()
    size = 2 ** meta["resolution_log2"]
    generator = StyleGAN1Config(size=size)
    recipe = make_recipe(
        StyleGANTrainConfig(arch="stylegan1", generator=generator, progressive=True)
    )
    top = meta["resolution_log2"] - 2
    for row in meta["schedule"]:
        recipe.images_seen = row["kimg"] * 1000
        level, alpha = recipe.phase()
        lod = top - level + (1.0 - alpha)
        assert lod == pytest.approx(row["lod"], abs=1e-9), row
        if alpha == 0.0:  # a fade-in's first image (see the module docstring)
            continue
        assert 4 * 2**level == row["resolution"], row
        assert recipe.schedule.batch_size(level) == row["minibatch"], row
        lr = recipe.cfg.growth.lr(level)
        assert lr == pytest.approx(row["G_lrate"]) and lr == pytest.approx(row["D_lrate"]), row


def test_fade_in_reals_match_process_reals(tiny_recipe) -> None:
    """NVlabs' dataset hands over the reals at the current resolution (16x16, box-filtered from
    the full size) and ``process_reals`` fades them with their 2x-coarser version, then repeats
    pixels up to the network's 32x32; gankit box-filters full-size reals and fades them the same
    way. The full-size reals here are the 16x16 ones nearest-upsampled, whose 2x2 box filter
    gives them back exactly."""
    tensors, meta = fixture()
    lod = meta["lod"]
    level = int(math.log2(meta["net_side"])) - 2 - math.floor(lod)
    alpha = 1.0 - (lod - math.floor(lod))
    small = tensors["reals"].float() / 127.5 - 1
    full = small.repeat_interleave(2, -1).repeat_interleave(2, -2)
    tiny_recipe.data = RecordedReals(full)
    ours = tiny_recipe.reals(small.shape[0], level, alpha)
    factor = 2 ** math.floor(lod)
    theirs = tensors["processed"][..., ::factor, ::factor]
    assert ours.shape == theirs.shape and relative(ours, theirs) <= TOLERANCE


def test_objectives_match_the_loss_functions(tiny_recipe) -> None:
    """gankit's D and G objectives on the stand-in D equal the mean of NVlabs' loss tensor, and
    their gradients the gradients of that mean (what its training loop hands the optimiser;
    for D the mean of the ``[N, N]`` broadcast, i.e. the per-sample mean of both terms)."""
    tensors, _ = fixture()
    real = tensors["reals"].float() / 127.5 - 1
    fake, n = tensors["fakes"], tensors["reals"].shape[0]
    for which in ("d", "g"):
        d = StandInD(tensors["a"], tensors["b"])
        if which == "d":
            objective, r1 = tiny_recipe.d_objective(d, d, real, fake)
        else:
            objective = tiny_recipe.g_objective(d, fake)
        theirs = tensors[f"loss_{which}"].double()
        assert relative(objective.detach(), theirs.mean()) <= TOLERANCE, which
        objective.backward()
        for p in "ab":
            err = relative(getattr(d, p).grad, tensors[f"grad_{which}.{p}"])
            assert err <= TOLERANCE, f"{which} grad {p}: {err:.2e}"
    assert tensors["loss_d"].shape == (n, n) and r1.item() > 0
