"""Training parity with NVlabs/stylegan2-ada-pytorch, on fixtures its own code computed.

``tools/parity/stylegan2_step.py`` ran four iterations of the reference's training loop on a
16x16 G and D (``StyleGAN2Loss.accumulate_gradients`` phases Gmain, Greg every 2nd iteration,
Dmain, Dreg every 3rd, the lazy-regularisation Adam correction, style mixing, the G_ema update
with ramp-up) and recorded the initial weights, the real batches, every random draw, the loss
terms and the weights after every iteration (see ``parity/stylegan2_step/SOURCE``). Here
gankit's own ``StyleGANRecipe.train_step`` and ``TrainContext`` replay those iterations from the
same initial weights (mapped by gankit's NVlabs importer) and the same draws (handed to the
recipe's :class:`~gankit.families.stylegan.draws.TrainingDraws`, where production draws too).
Every loss term, the path-length mean and every weight and buffer of G, D and G EMA after
each iteration must agree to a relative error of 1e-4 (fp32, CPU).

Relative error of a tensor: max |gankit - reference| / max |reference|.

Not exercised: before each step the reference clamps gradients to +-1e5 and zeroes NaNs
(``misc.nan_to_num`` in training_loop.py); gankit steps on the gradients as they are. The
fixture's gradients are far inside that range, so the comparison covers everything else.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from gankit.engine import TrainContext
from gankit.families.stylegan.config import StyleGAN2Config, StyleGANTrainConfig
from gankit.families.stylegan.convert import ada_discriminator_state, ada_generator_state
from gankit.families.stylegan.draws import TrainingDraws
from gankit.families.stylegan.recipe import StyleGANRecipe

FIXTURE = Path(__file__).parent / "parity" / "stylegan2_step"
TOLERANCE = 1e-4
LOSSES = {
    "Loss/G/loss": "loss_g",
    "Loss/pl_penalty": "pl",
    "Loss/D/loss": "loss_d",
    "Loss/r1_penalty": "r1",
}


def _state(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}


def _relative(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    ours, theirs = ours.double(), theirs.double()
    scale = theirs.abs().max().item()
    diff = (ours - theirs).abs().max().item()
    return diff / scale if scale else diff


class ReplayedDraws(TrainingDraws):
    """One iteration's draws as the reference made them, handed out in the reference's order
    per kind; a draw gankit asks for that the reference did not make fails."""

    def __init__(self, tensors: dict[str, torch.Tensor], meta: dict, it: int) -> None:
        self.prob, self.num_ws = meta["settings"]["style_mixing_prob"], meta["num_ws"]
        self.latent: list[torch.Tensor] = []
        self.cutoffs: list[int | None] = []
        self.maps: list[list[torch.Tensor]] = []
        self.paths: list[torch.Tensor] = []
        for phase in meta["steps"][it]["phases"]:
            for k, call in enumerate(phase["run_G"]):
                key = f"it{it}.{phase['name']}.{k}"
                self.latent.append(tensors[f"{key}.z"])
                self.cutoffs.append(call["cutoff"])
                if call["cutoff"] is not None:  # NVlabs draws it always, uses it only then
                    self.latent.append(tensors[f"{key}.z_mix"])
                self.maps.append([tensors[f"{key}.noise{j}"] for j in range(meta["noise_layers"])])
                if f"{key}.pl_noise" in tensors:
                    self.paths.append(tensors[f"{key}.pl_noise"])

    def latents(self, n: int, dim: int, device: torch.device) -> torch.Tensor:
        assert self.latent, "gankit drew latents the reference did not"
        z = self.latent.pop(0)
        assert z.shape == (n, dim)
        return z.to(device)

    def mixing_cutoff(self, layers: int, prob: float) -> int | None:
        assert self.cutoffs and (layers, prob) == (self.num_ws, self.prob)
        return self.cutoffs.pop(0)

    def noise(self, n: int, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        assert self.maps, "gankit drew noise inputs the reference did not"
        drawn = self.maps.pop(0)
        assert [d.shape for d in drawn] == [(n, 1, *m.shape[-2:]) for m in maps]
        return drawn

    def path_noise(self, images: torch.Tensor) -> torch.Tensor:
        assert self.paths, "gankit drew path-length noise the reference did not"
        y = self.paths.pop(0)
        assert y.shape == images.shape
        return y

    def flips(self, n: int, device: torch.device) -> torch.Tensor:
        raise AssertionError("the reference mirrors no reals here")

    def left(self) -> list[str]:
        queues = {"latents": self.latent, "cutoffs": self.cutoffs}
        queues |= {"noise": self.maps, "path noise": self.paths}
        return [name for name, queue in queues.items() if queue]


def _recipe(meta: dict) -> StyleGANRecipe:
    s = meta["settings"]
    assert s["z_dim"] == s["w_dim"]
    cfg = StyleGANTrainConfig(
        generator=StyleGAN2Config(
            size=s["resolution"],
            style_dim=s["w_dim"],
            n_mlp=s["mapping_layers"],
            channel_base=s["channel_base"],
            channel_max=s["channel_max"],
            mbstd_group=s["mbstd_group"],
        ),
        batch_size=s["batch"],
        lr=s["lr"],
        betas=tuple(s["betas"]),
        eps=s["eps"],
        r1_gamma=s["r1_gamma"],
        r1_every=s["D_reg_interval"],
        pl_weight=s["pl_weight"],
        pl_every=s["G_reg_interval"],
        pl_batch_shrink=s["pl_batch_shrink"],
        pl_decay=s["pl_decay"],
        mixing_prob=s["style_mixing_prob"],
        ema_kimg=s["ema_kimg"],
        ema_rampup=s["ema_rampup"],
        w_avg_decay=meta["w_avg_beta"],
        augment="none",  # the reference ran without an augment pipe
    )
    recipe = StyleGANRecipe(cfg)
    recipe.setup(TrainContext(torch.device("cpu")))
    return recipe


def _load(module: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    full = module.state_dict()
    assert set(state) <= set(full)
    assert all(k.endswith(".kernel") for k in set(full) - set(state))
    module.load_state_dict(full | state)


def _compare(
    ours: torch.nn.Module, theirs: dict[str, torch.Tensor], where: str, worst: dict[str, float]
) -> None:
    mine = ours.state_dict()
    for key, value in theirs.items():
        err = _relative(mine[key], value)
        assert err <= TOLERANCE, f"{where}.{key}: relative error {err:.2e}"
        kind = "buffer" if key == "latent_avg" or key.startswith("noises.") else "weight"
        name = f"{where.split('.')[-1]} {kind}"
        worst[name] = max(worst.get(name, 0.0), err)


def replay() -> dict[str, float]:
    """Run the fixture's iterations through gankit; the largest relative error per quantity."""
    tensors = load_file(str(FIXTURE / "steps.safetensors"))
    meta = json.loads((FIXTURE / "steps.json").read_text())
    recipe = _recipe(meta)
    g0 = ada_generator_state(_state(tensors, "init.G"))
    _load(recipe.g, g0)
    _load(recipe.ema.shadow, g0)
    _load(recipe.d, ada_discriminator_state(_state(tensors, "init.D"), "fixture"))
    worst: dict[str, float] = {}
    for it, expected in enumerate(meta["steps"]):
        recipe.draws = draws = ReplayedDraws(tensors, meta, it)
        real = tensors[f"it{it}.real"].float() / 127.5 - 1
        logs = recipe.train_step(real, it)
        assert not draws.left(), f"iteration {it}: gankit left reference draws: {draws.left()}"
        ran = {LOSSES[k] for k in expected["losses"]}
        assert set(logs) == ran, f"iteration {it}: gankit ran {set(logs)}, NVlabs {ran}"
        for name, value in expected["losses"].items():
            err = abs(logs[LOSSES[name]] - value) / abs(value)
            assert err <= TOLERANCE, f"iteration {it} {name}: {logs[LOSSES[name]]} vs {value}"
            worst[name] = max(worst.get(name, 0.0), err)
        err = abs(recipe.pl_mean - expected["pl_mean"]) / expected["pl_mean"]
        assert err <= TOLERANCE, f"iteration {it} pl_mean: {recipe.pl_mean}"
        worst["pl_mean"] = max(worst.get("pl_mean", 0.0), err)
        for net, module in (("G", recipe.g), ("D", recipe.d), ("G_ema", recipe.ema.shadow)):
            theirs = _state(tensors, f"it{it}.{net}")
            mapped = (
                ada_discriminator_state(theirs, "fixture")
                if net == "D"
                else ada_generator_state(theirs)
            )
            _compare(module, mapped, f"iteration {it}.{net}", worst)
    return worst


def test_four_iterations_match_nvlabs():
    worst = replay()
    print({k: f"{v:.1e}" for k, v in worst.items()})
    assert set(worst) >= {*LOSSES, "pl_mean", "G weight", "D weight", "G_ema weight"}


def test_the_fixture_covers_every_phase_and_both_mixing_branches():
    """Each regulariser runs twice and at least one run_G call does not mix; the check above
    would otherwise leave a branch unexercised."""
    meta = json.loads((FIXTURE / "steps.json").read_text())
    runs = [p["name"] for s in meta["steps"] for p in s["phases"]]
    assert {n: runs.count(n) for n in ("Gmain", "Greg", "Dmain", "Dreg")} == {
        "Gmain": 4,
        "Greg": 2,
        "Dmain": 4,
        "Dreg": 2,
    }
    cutoffs = [c["cutoff"] for s in meta["steps"] for p in s["phases"] for c in p["run_G"]]
    assert None in cutoffs and any(c is not None for c in cutoffs)
    assert 0 < meta["steps"][-1]["ema_beta"] < 1
