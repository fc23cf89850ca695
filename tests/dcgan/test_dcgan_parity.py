"""Training parity with pytorch/examples ``dcgan/main.py``, on fixtures its own loop computed.

``tools/parity/dcgan_step.py`` ran the example's script for three iterations (64x64, z 8,
ngf = ndf = 2, batch 4) and recorded the initial weights, batches, latents, losses, mean D outputs
and every weight and batch-norm buffer after each iteration (see ``parity/step/SOURCE``). Here
gankit's DCGAN recipe and ``TrainContext`` replay them from the same state and draws (fed through
``Recipe.draws``); every value must agree to a relative error of 1e-4 (fp32, CPU).

Documented departure: the example's sample grid at iteration 0 runs ``netG(fixed_noise)`` in
training mode, which moves G's batch-norm running statistics; gankit's grid uses batch statistics
without touching them (``batch_statistics_images``). The test makes the same call on gankit's G
after step 0 so that the running statistics stay comparable; training itself never reads them.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from parity_replay import TOLERANCE, RecordedDraws, compare_states, prefixed, relative
from safetensors.torch import load_file

from gankit.engine import TrainContext
from gankit.families.dcgan.config import DiscriminatorConfig, GeneratorConfig, TrainConfig
from gankit.families.dcgan.recipe import DCGANRecipe

FIXTURE = Path(__file__).parent / "parity" / "step"
LOGS = {
    "errD_real": "loss_d_real",
    "errD_fake": "loss_d_fake",
    "errG": "loss_g",
    "D_x": "d_x",
    "D_G_z1": "d_g_z1",
    "D_G_z2": "d_g_z2",
}


def test_three_iterations_match_the_example() -> None:
    tensors = load_file(str(FIXTURE / "step.safetensors"))
    meta = json.loads((FIXTURE / "step.json").read_text())
    o = meta["options"]
    cfg = TrainConfig(
        data=str(FIXTURE),
        resolution=o["imageSize"],
        generator=GeneratorConfig(z_dim=o["nz"], ngf=o["ngf"], channels=o["nc"]),
        discriminator=DiscriminatorConfig(ndf=o["ndf"]),
        batch_size=o["batchSize"],
        lr=o["lr"],
        beta1=o["beta1"],
    )
    recipe = DCGANRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    recipe.g.load_state_dict(prefixed(tensors, "init.G"))
    recipe.d.load_state_dict(prefixed(tensors, "init.D"))
    recipe.draws = draws = RecordedDraws()
    worst = {"loss": 0.0, "weight": 0.0}
    for i, expected in enumerate(meta["steps"]):
        draws.queue = [tensors[f"step{i}.noise"]]
        logs = recipe.train_step(tensors[f"step{i}.pixels"].float() / 127.5 - 1, i)
        assert not draws.queue, "gankit drew fewer latents than the example"
        if i == 0:
            with torch.no_grad():
                recipe.g(tensors["fixed_noise"])
        for theirs, ours in LOGS.items():
            err = relative(logs[ours], expected[theirs])
            assert err <= TOLERANCE, f"step {i} {theirs}: {logs[ours]} vs {expected[theirs]}"
            worst["loss"] = max(worst["loss"], err)
        loss_d = expected["errD_real"] + expected["errD_fake"]
        assert relative(logs["loss_d"], loss_d) <= TOLERANCE
        for net, module in (("G", recipe.g), ("D", recipe.d)):
            err = compare_states(module.state_dict(), prefixed(tensors, f"step{i}.{net}"), net)
            worst["weight"] = max(worst["weight"], err)
    print({k: f"{v:.1e}" for k, v in worst.items()})


def test_the_steps_move_the_weights() -> None:
    """The comparison above is not vacuous: each iteration changes every network."""
    tensors = load_file(str(FIXTURE / "step.safetensors"))
    for net in "GD":
        before = prefixed(tensors, f"init.{net}")
        for i in range(3):
            after = prefixed(tensors, f"step{i}.{net}")
            assert relative(after["main.0.weight"], before["main.0.weight"]) > 10 * TOLERANCE
            before = after
