"""Training parity with facebookresearch/pytorch_GAN_zoo's PGAN, one step in a fade-in, on
fixtures its own code computed.

``tools/parity/pggan_step.py`` built the zoo's ``ProgressiveGAN`` (16x16, z 8, width 8, batch 4),
moved its fade-in to alpha 0.6 with its trainer's ``updateAlphaJumps`` / ``inScaleUpdate`` and
ran ``optimizeParameters`` once in the fade-in of 16x16, recording the weights, the real batch
before and after the trainer's mixing, the draws (D's latents, the penalty's interpolation
weights, G's latents), the losses and the weights afterwards (see ``parity/step/SOURCE``).
Here gankit's PGGAN recipe and ``TrainContext`` take the same step from the same state and
draws.

Compared to a relative error of 1e-4 (fp32, CPU): the fade weight (the zoo's alpha counts the old
branch, gankit's the new one), the mixed reals, every loss term (gankit logs per-sample means,
the zoo its sums: the test divides the zoo's by the batch size), and each
parameter after the step, as gankit's initial weight plus the zoo's change of the stored weight
(D, G, and G's EMA with the zoo's 0.999).

Documented departures (gankit follows NVlabs' PGGAN code, the paper's authors'):

- Minibatch stddev: the zoo takes the unbiased variance over a group, NVlabs (and gankit) the
  biased one. The test runs gankit's D with the zoo's variance (:class:`UnbiasedStdDev`; nothing
  else changes); ``test_biased_stddev_changes_only_the_critic_outputs`` shows the difference.
- Equalised learning rate: the zoo scales every layer's output, bias included, by He's
  ``sqrt(2 / fan_in)``; NVlabs scales the weight only, with gain sqrt(2)/4 for the 4x4 dense
  layer and 1 for ToRGB and D's output. The outputs are the same once the stored weights are
  rescaled (the importer's fold, used here), and Adam's first step moves every stored weight by
  nearly the same amount in both, which is what is compared; but the functions then differ by those
  constants (every bias, ToRGB, the dense and output layers), so G's step, which follows D's,
  would see another D. The test hands G's step the zoo's D after its step (folded into gankit's
  D right after gankit's own D step, which is compared first), and compares one step. Adam's
  first step is lr * g / (|g| + eps) in both, but gankit's gradient is the zoo's divided by the
  ratio k of the stored tensors (4 for G's dense weight, sqrt(2) for ToRGB and D's output,
  sqrt(2 / fan_in) for every bias): where |g| is near 1e-6 that changes the step by up to 0.7%.
  :func:`adam_first_step` turns the zoo's step into gankit's from that ratio alone.
- The zoo's D blends its fade-in paths only when it has more than one added scale
  (``DNet.forward``: ``len(self.scaleLayers) > 1``), so it skips the fade-in of 8x8 that its G
  runs; the fixture's step is in the fade-in of 16x16, where both networks fade.
- Alpha: the zoo moves it in jumps (here one per iteration; its defaults, every 32 iterations),
  gankit continuously with the images shown; the fixture's step is at a jump, where they agree.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from parity_replay import TOLERANCE, RecordedDraws, RecordedReals, prefixed, relative
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from gankit.engine import TrainContext
from gankit.engine.progressive import downsample_reals
from gankit.families.pggan.config import TrainConfig
from gankit.families.pggan.convert import zoo_keys
from gankit.families.pggan.recipe import PGGANRecipe

FIXTURE = Path(__file__).parent / "parity" / "step"
LEVEL = 2
BLOCKS = {f"blocks.{i}.conv{j + 1}": f"scaleLayers.{i}.{j}" for i in range(LEVEL) for j in (0, 1)}
G_LAYERS = {"dense": "formatLayer", "conv": "groupScale0.0", **BLOCKS}
G_LAYERS |= {f"to_rgb.{i}": f"toRGBLayers.{i}" for i in range(LEVEL + 1)}
D_LAYERS = {f"from_rgb.{i}": f"fromRGBLayers.{i}" for i in range(LEVEL + 1)}
D_LAYERS |= {**BLOCKS, "conv": "groupScaleZero.0", "dense": "groupScaleZero.1"}
D_LAYERS |= {"out": "decisionLayer"}


class UnbiasedStdDev(nn.Module):
    """The zoo's ``miniBatchStdDev`` for one group (the fixture's batch of 4): the unbiased
    variance over the batch, its square root (+1e-8 inside) averaged into one extra map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x.var(0, unbiased=True) + 1e-8).sqrt().mean()
        return torch.cat([x, y.expand(x.shape[0], 1, *x.shape[2:])], dim=1)


def fold(net: nn.Module, layers: dict[str, str], state: dict[str, torch.Tensor]) -> None:
    """Load zoo weights into gankit's layers so that the outputs are equal (the importer's fold:
    the zoo computes ``c * (W x + b)``, c = sqrt(2 / fan_in); gankit ``scale * W x + b``)."""
    modules = dict(net.named_modules())
    with torch.no_grad():
        for ours, theirs in layers.items():
            layer, w, b = modules[ours], state[f"{theirs}.weight"], state[f"{theirs}.bias"]
            c = math.sqrt(2.0 / w[0].numel())
            layer.weight.copy_(w * (c / layer.scale))
            layer.bias.copy_(b * c)


def hand_g_the_zoos_d(recipe: PGGANRecipe, zoo_d: dict[str, torch.Tensor]):
    """After D's optimiser step, keep gankit's D parameters (returned, filled then) and load the
    zoo's D after its step, so that G's step sees the zoo's D (see the departures)."""
    stepped: dict[str, torch.Tensor] = {}
    d_step = recipe.opt_d.step

    def step(*args, **kwargs):
        out = d_step(*args, **kwargs)
        stepped.update({k: p.detach().clone() for k, p in recipe.d.named_parameters()})
        fold(recipe.d, D_LAYERS, zoo_d)
        return out

    recipe.opt_d.step = step
    return stepped


def adam_first_step(zoo_step: torch.Tensor, k: float, lr: float, eps: float = 1e-8):
    """gankit's first Adam step (beta1 = 0) for a parameter stored k times larger than the
    zoo's: the zoo's step is -lr * g / (|g| + eps); gankit's gradient is g / k, its step
    -lr * g / (|g| + k * eps). |g| is read back from the zoo's step."""
    r = (zoo_step.abs() / lr).clamp(max=1 - 1e-9)
    g = eps * r / (1 - r)
    return zoo_step.sign() * lr * g / (g + k * eps)


def parameter_names(layers: dict[str, str]):
    """``(gankit parameter, zoo parameter)`` pairs of ``layers``."""
    for ours, theirs in layers.items():
        for kind in ("weight", "bias"):
            yield f"{ours}.{kind}", f"{theirs}.{kind}"


def fixture() -> tuple[dict[str, torch.Tensor], dict]:
    tensors = load_file(str(FIXTURE / "step.safetensors"))
    return tensors, json.loads((FIXTURE / "step.json").read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image folder for ``setup`` (the steps read :class:`RecordedReals` instead)."""
    root = tmp_path_factory.mktemp("one-image")
    Image.new("RGB", (4 * 2**LEVEL,) * 2).save(root / "black.png")
    return root


def replay(data: Path, zoo_stddev: bool) -> dict[str, float]:
    tensors, meta = fixture()
    bs, n_jumps = meta["batch"], len(meta["alpha_jumps"]) - 2
    fade_kimg = n_jumps * bs / 1000
    cfg = TrainConfig(
        data=str(data),
        resolution=4 * 2**LEVEL,
        z_dim=meta["z_dim"],
        fmap_max=meta["width"],
        fade_kimg=fade_kimg,
        stab_kimg=fade_kimg,
        batch_per_level=[bs],
        lr=meta["lr"],
        gp_weight=meta["lambda_gp"],
        drift=meta["epsilon_d"],
        mirror=False,
    )
    recipe = PGGANRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    phase = round(fade_kimg * 1000)  # the fade-in and stabilisation lengths, in images
    recipe.images_seen = phase + (LEVEL - 1) * 2 * phase + meta["start_iteration"] * bs
    recipe.set_phase(*recipe.phase())
    fold(recipe.g, G_LAYERS, zoo_keys(prefixed(tensors, "init.G")))
    fold(recipe.d, D_LAYERS, zoo_keys(prefixed(tensors, "init.D")))
    recipe.ema.shadow.load_state_dict(recipe.g.state_dict())
    if zoo_stddev:
        recipe.d.mbstd = UnbiasedStdDev()
    worst = {"loss": 0.0, "weight": 0.0}
    for i, expected in enumerate(meta["steps"]):
        level, alpha = recipe.phase()
        assert level == LEVEL and abs(alpha - (1.0 - expected["alpha"])) < 1e-12
        real = tensors[f"step{i}.real"]
        mixed = downsample_reals(real, level, alpha)
        assert relative(mixed, tensors[f"step{i}.mixed"]) <= TOLERANCE
        recipe.data = RecordedReals(real)
        recipe.draws = draws = RecordedDraws()
        draws.queue = [tensors[f"step{i}.draw{j}"] for j in range(expected["draws"])]
        before = {
            net: {k: p.detach().clone() for k, p in module.named_parameters()}
            for net, module in (("G", recipe.g), ("D", recipe.d))
        }
        stepped_d = hand_g_the_zoos_d(recipe, zoo_keys(prefixed(tensors, f"step{i}.D")))
        logs = recipe.train_step(None, i)
        assert not draws.queue, "gankit drew fewer numbers than the zoo"
        zoo = expected["losses"]
        pairs = {
            "loss_d": zoo["lossD"],
            "gp": zoo["lossD_Grad"],
            "drift": zoo["lossD_Epsilon"],
            "loss_g": zoo["lossG_fake"],
        }
        for key, theirs in pairs.items():
            err = relative(logs[key] * bs, theirs)
            assert not zoo_stddev or err <= TOLERANCE, f"{key}: {logs[key] * bs} vs {theirs}"
            worst["loss"] = max(worst["loss"], err)
        stepped = {"G": dict(recipe.g.named_parameters()), "D": stepped_d}
        module_of = {"G": recipe.g, "D": recipe.d}
        for net, now in stepped.items():
            layers = G_LAYERS if net == "G" else D_LAYERS
            after = zoo_keys(prefixed(tensors, f"step{i}.{net}"))
            init = zoo_keys(prefixed(tensors, f"init.{net}"))
            modules = dict(module_of[net].named_modules())
            for ours, theirs in parameter_names(layers):
                layer, kind = modules[ours.rpartition(".")[0]], ours.rpartition(".")[2]
                c = math.sqrt(2.0 / init[theirs.replace(".bias", ".weight")][0].numel())
                k = c / layer.scale if kind == "weight" else c
                step = adam_first_step(after[theirs].double() - init[theirs].double(), k, cfg.lr)
                err = relative(now[ours], before[net][ours].double() + step)
                assert not zoo_stddev or err <= TOLERANCE, f"{net}.{ours}: {err:.2e}"
                worst["weight"] = max(worst["weight"], err)
                if net == "G":
                    ema = before[net][ours].double() + (1 - recipe.ema.decay) * step
                    err = relative(recipe.ema.shadow.get_parameter(ours), ema)
                    assert not zoo_stddev or err <= TOLERANCE, f"avgG.{ours}: {err:.2e}"
    return worst


def test_one_fade_in_step_matches_the_zoo(folder: Path) -> None:
    worst = replay(folder, zoo_stddev=True)
    print({k: f"{v:.1e}" for k, v in worst.items()})


def test_biased_stddev_changes_only_the_critic_outputs(folder: Path) -> None:
    """gankit as users run it (NVlabs' biased variance): the step still runs on the zoo's
    draws, and its losses move by more than the tolerance, so the departure is real."""
    worst = replay(folder, zoo_stddev=False)
    assert worst["loss"] > TOLERANCE
    print({k: f"{v:.1e}" for k, v in worst.items()})
