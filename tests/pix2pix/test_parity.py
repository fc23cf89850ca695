"""Training parity with junyanz/pytorch-CycleGAN-and-pix2pix, on fixtures its own code computed.

``tools/parity/pix2pix.py`` ran the reference's ``Pix2PixModel.optimize_parameters`` for three
steps (U-Net + BCE and ResNet + least squares, BatchNorm, dropout on, the last step in the first
epoch of the linear decay) and recorded the initial weights, batches, dropout masks, losses and
weights after every step (see ``parity/SOURCE``). Here gankit's own recipe and ``TrainContext``
replay those steps from the same initial state and draws; every loss term, the lr and every
weight and BatchNorm buffer must agree to a relative error of 1e-4 (fp32, CPU).

Relative error of a tensor: max |gankit - reference| / max |reference|.

Documented departure: gankit's ``epochs`` N are N epochs at the constant lr, then
``epochs_decay`` epochs of decay, as the reference's ``train.py`` stepped its schedulers at the end
of each epoch until mid-2020. Since then it steps them at the start of each epoch (junyanz issue
#1100), which shifts the decay one epoch earlier and runs the last epoch at lr 0; fixtures made
from such a checkout (``lr_update_at: epoch_start``) equal gankit with ``epochs = niter - 1``,
and are compared that way.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gankit.engine import TrainContext
from gankit.families.pix2pix.config import TrainConfig
from gankit.families.pix2pix.convert import convert_state_dict
from gankit.families.pix2pix.networks import bernoulli_keep, use_keep_masks
from gankit.families.pix2pix.recipe import Pix2PixRecipe, lr_factor

PARITY = Path(__file__).parent / "parity"
CASES = ("unet_vanilla", "resnet_lsgan")
TOLERANCE = 1e-4
LOSSES = {
    "G_GAN": "loss_g_gan",
    "G_L1": "loss_g_l1",
    "D_real": "loss_d_real",
    "D_fake": "loss_d_fake",
}


def _fixture(case: str) -> tuple[dict[str, torch.Tensor], dict]:
    return load_file(str(PARITY / f"{case}.safetensors")), json.loads(
        (PARITY / f"{case}.json").read_text()
    )


def _state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _relative(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    ours, theirs = ours.double(), theirs.double()
    scale = theirs.abs().max().item()
    diff = (ours - theirs).abs().max().item()
    return diff / scale if scale else diff


def _constant_epochs(meta: dict) -> int:
    """gankit's ``epochs`` for the fixture's schedule (see the departure above)."""
    return meta["options"]["niter"] - (meta["lr_update_at"] == "epoch_start")


def _recipe(meta: dict) -> Pix2PixRecipe:
    o = meta["options"]
    cfg = TrainConfig(
        data=str(PARITY),
        generator=o["netG"],
        discriminator=o["netD"],
        ngf=o["ngf"],
        ndf=o["ndf"],
        norm=o["norm"],
        dropout=not o["no_dropout"],
        input_nc=o["input_nc"],
        output_nc=o["output_nc"],
        gan_mode=o["gan_mode"],
        lambda_l1=o["lambda_L1"],
        lr=o["lr"],
        beta1=o["beta1"],
        batch_size=meta["batch_size"],
        epochs=_constant_epochs(meta),
        epochs_decay=o["niter_decay"],
        preprocess="none",
        flip=False,
    )
    recipe = Pix2PixRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu"), steps_per_epoch=meta["steps_per_epoch"]))
    return recipe


class _Replay:
    """Hands the dropout layers the reference's recorded keep-masks, in call order."""

    def __init__(self) -> None:
        self.masks: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor, p: float) -> torch.Tensor:
        assert p == 0.5 and self.masks, "a dropout call the reference did not make"
        mask = self.masks.pop(0)
        assert mask.shape == x.shape
        return mask.to(x.dtype)


def replay(case: str) -> dict[str, float]:
    """Run the fixture's steps through gankit; the largest relative error per kind of value."""
    tensors, meta = _fixture(case)
    recipe = _recipe(meta)
    # The importer maps the reference's state dicts onto gankit's networks.
    recipe.G.load_state_dict(convert_state_dict(_state(tensors, "init.G")).state_dict())
    recipe.D.load_state_dict(convert_state_dict(_state(tensors, "init.D")).state_dict())
    masks = _Replay()
    use_keep_masks(recipe.G, masks)
    worst = {"loss": 0.0, "weight": 0.0, "lr": 0.0}
    for i, expected in enumerate(meta["steps"]):
        masks.masks = [tensors[f"step{i}.mask{j}"] for j in range(expected["dropout_calls"])]
        batch = tuple(tensors[f"step{i}.{s}"].float() / 127.5 - 1 for s in "AB")
        logs = recipe.train_step(batch, i)
        assert not masks.masks, f"step {i}: gankit made fewer dropout calls than the reference"
        worst["lr"] = max(worst["lr"], abs(logs["lr"] - expected["lr"]) / expected["lr"])
        for ref_name, ours in LOSSES.items():
            err = abs(logs[ours] - expected[ref_name]) / abs(expected[ref_name])
            assert err <= TOLERANCE, f"step {i} {ref_name}: {logs[ours]} vs {expected[ref_name]}"
            worst["loss"] = max(worst["loss"], err)
        for net, module in (("G", recipe.G), ("D", recipe.D)):
            reference = _state(tensors, f"step{i}.{net}")
            ours = module.state_dict()
            assert set(ours) == set(reference)
            for key, theirs in reference.items():
                if key.endswith("num_batches_tracked"):
                    assert int(ours[key]) == int(theirs), f"step {i} {net}.{key}"
                    continue
                err = _relative(ours[key], theirs)
                assert err <= TOLERANCE, f"step {i} {net}.{key}: relative error {err:.2e}"
                worst["weight"] = max(worst["weight"], err)
    assert worst["lr"] <= 1e-12
    return worst


@pytest.mark.parametrize("case", CASES)
def test_three_steps_match_the_reference(case):
    worst = replay(case)
    print(case, {k: f"{v:.1e}" for k, v in worst.items()})


def test_the_last_step_runs_at_the_first_decayed_lr():
    """The fixtures cross an epoch boundary into the decay: the check above covers the lr."""
    meta = _fixture("unet_vanilla")[1]
    lrs = [s["lr"] for s in meta["steps"]]
    assert lrs[0] == lrs[1] == meta["options"]["lr"] and lrs[2] < lrs[1]


def test_linear_schedule_matches_the_reference_every_epoch():
    meta = _fixture("resnet_lsgan")[1]
    schedule = meta["schedule"]
    epochs = schedule["niter"] - (meta["lr_update_at"] == "epoch_start")
    ours = [
        schedule["lr"] * lr_factor(e, epochs, schedule["niter_decay"])
        for e in range(len(schedule["per_epoch"]))
    ]
    assert ours == pytest.approx(schedule["per_epoch"], rel=1e-12)


def test_dropout_draws_fresh_masks_in_training_and_none_in_eval():
    """Production's mask source is the global RNG; the seam changes where masks come from, not
    what a layer does with them."""
    _, meta = _fixture("resnet_lsgan")
    recipe = _recipe(meta)
    use_keep_masks(recipe.G, bernoulli_keep)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    torch.manual_seed(0)
    a = recipe.G(x)
    b = recipe.G(x)
    assert not torch.allclose(a, b)
    recipe.G.eval()
    assert torch.equal(recipe.G(x), recipe.G(x))
