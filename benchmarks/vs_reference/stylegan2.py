"""StyleGAN2 training speed against NVlabs/stylegan2-ada-pytorch's own training iteration.

    .venv/bin/python benchmarks/vs_reference/stylegan2.py STYLEGAN2_ADA_PYTORCH_CHECKOUT
        [--device cpu|cuda] [--precision fp32|bf16|fp16] [--size 64] [--batch 4]

``paper256``-like networks (8-layer mapping, z and w of 512, channel base 16384, max 512,
minibatch-stddev group 4, fp32 throughout, no conv clamp) at 64x64, batch 4. One reference
iteration is ``training/training_loop.py``'s inner loop body: Gmain, Greg, Dmain, Dreg, each
through ``StyleGAN2Loss.accumulate_gradients`` when ``batch_idx % interval == 0`` (G every 4, D
every 16: the lazy regularisation), the gradients' ``nan_to_num`` and the lazy-corrected Adam
step, then the G_ema update. gankit runs ``StyleGANRecipe.train_step`` with the same settings.
Both sides count iterations alike, so each timed block holds the same regulariser steps.

Step 0 starts from the reference's initial weights (gankit's ``ada_generator_state`` /
``ada_discriminator_state``) and replays the reference's draws (latents, mixing cutoffs, noise,
path-length noise), recorded as ``tools/parity/stylegan2_step.py`` does and handed out by the
parity test's ``ReplayedDraws``. On the CPU the reference's custom ops take their reference
implementations; on CUDA they are compiled where they build (``--custom-ops off``: never, as on
a machine without a compiler). A stub ``requests`` module stands in for the one ``dnnlib``
imports.
"""

from __future__ import annotations

import argparse
import copy
import sys
import types
from contextlib import contextmanager, nullcontext

import torch
from harness import Side, arguments, compare, overrides, reuse, setup

from gankit.families.stylegan.config import StyleGAN2Config, StyleGANTrainConfig
from gankit.families.stylegan.convert import ada_discriminator_state, ada_generator_state
from gankit.families.stylegan.recipe import StyleGANRecipe

S = {
    "z_dim": 512,
    "mapping_layers": 8,
    "channel_base": 16384,
    "channel_max": 512,
    "mbstd_group": 4,
    "lr": 0.0025,
    "betas": (0.0, 0.99),
    "G_reg_interval": 4,
    "D_reg_interval": 16,
    "r1_gamma": 1.0,
    "pl_weight": 2.0,
    "pl_decay": 0.01,
    "pl_batch_shrink": 2,
    "style_mixing_prob": 0.9,
    "ema_kimg": 20.0,
}
LOSSES = {"Loss/G/loss": "loss_g", "Loss/pl_penalty": "pl", "Loss/D/loss": "loss_d"}
LOSSES["Loss/r1_penalty"] = "r1"


def _reals(args: argparse.Namespace, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.rand(args.batch, 3, args.size, args.size, generator=g).mul(2).sub(1).to(device)


def reference(args: argparse.Namespace, device: torch.device) -> Side:
    sys.modules.setdefault("requests", types.ModuleType("requests"))
    from torch_utils import misc, training_stats
    from torch_utils.ops import bias_act, upfirdn2d

    if args.custom_ops == "off":  # their reference implementations, as where the plugins fail
        bias_act._init = upfirdn2d._init = lambda: False
    from training import networks
    from training.loss import StyleGAN2Loss

    torch.manual_seed(0)
    common = {"c_dim": 0, "img_resolution": args.size, "img_channels": 3}
    widths = {"channel_base": S["channel_base"], "channel_max": S["channel_max"]}
    widths |= {"num_fp16_res": 0, "conv_clamp": None}
    g = networks.Generator(
        z_dim=S["z_dim"],
        w_dim=S["z_dim"],
        mapping_kwargs={"num_layers": S["mapping_layers"]},
        synthesis_kwargs=widths,
        **common,
    )
    d = networks.Discriminator(
        **widths, epilogue_kwargs={"mbstd_group_size": S["mbstd_group"]}, **common
    )
    g, d = g.train().requires_grad_(False).to(device), d.train().requires_grad_(False).to(device)
    g_ema = copy.deepcopy(g).eval()
    args.shared["G"] = {k: v.detach().cpu().clone() for k, v in g.state_dict().items()}
    args.shared["D"] = {k: v.detach().cpu().clone() for k, v in d.state_dict().items()}
    loss = StyleGAN2Loss(
        device,
        g.mapping,
        g.synthesis,
        d,
        **{k: S[k] for k in ("style_mixing_prob", "r1_gamma", "pl_batch_shrink", "pl_decay")},
        pl_weight=S["pl_weight"],
    )
    phases = []
    for name, module, interval in (("G", g, S["G_reg_interval"]), ("D", d, S["D_reg_interval"])):
        c = interval / (interval + 1)
        opt = torch.optim.Adam(
            module.parameters(), lr=S["lr"] * c, betas=[b**c for b in S["betas"]], eps=1e-8
        )
        phases += [(name + "main", module, opt, 1), (name + "reg", module, opt, interval)]
    real, gen_c = _reals(args, device), torch.zeros(args.batch, 0, device=device)
    state = {"batch_idx": 0}

    def step(hook=lambda name: nullcontext()) -> None:  # noqa: ANN001
        idx = state["batch_idx"]
        all_gen_z = torch.randn([len(phases) * args.batch, S["z_dim"]], device=device)
        for (name, module, opt, interval), gen_z in zip(
            phases, all_gen_z.split(args.batch), strict=True
        ):
            if idx % interval != 0:
                continue
            opt.zero_grad(set_to_none=True)
            module.requires_grad_(True)
            with hook(name):
                loss.accumulate_gradients(name, real, gen_c, gen_z, gen_c, True, interval)
            module.requires_grad_(False)
            for p in module.parameters():
                if p.grad is not None:
                    misc.nan_to_num(p.grad, nan=0, posinf=1e5, neginf=-1e5, out=p.grad)
            opt.step()
        beta = 0.5 ** (args.batch / (S["ema_kimg"] * 1000))
        with torch.no_grad():
            for p_ema, p in zip(g_ema.parameters(), g.parameters(), strict=True):
                p_ema.copy_(p.lerp(p_ema, beta))
            for b_ema, b in zip(g_ema.buffers(), g.buffers(), strict=True):
                b_ema.copy_(b)
        state["batch_idx"] = idx + 1

    first = _first_step(step, loss, g, training_stats, args)
    return Side(step, first)


def _first_step(step, loss, g, training_stats, args) -> dict[str, float]:  # noqa: ANN001
    """Run iteration 0 recording its draws (for gankit's replay) and its loss terms."""
    maker = reuse("tools/parity/stylegan2_step.py")
    Draws, run_g_calls = maker.Draws, maker.run_g_calls

    n_noise = sum(1 for m in g.modules() if getattr(m, "use_noise", False))
    reported: dict[str, float] = {}
    report = training_stats.report

    def recorded_report(name: str, value: torch.Tensor) -> torch.Tensor:
        if name in LOSSES:
            reported[name] = float(value.detach().double().mean())
        return report(name, value)

    zs: list[torch.Tensor] = []
    run_g = loss.run_G

    def recorded_run_g(z: torch.Tensor, c: torch.Tensor, sync: bool) -> object:
        zs.append(z.detach().clone())
        return run_g(z, c, sync)

    tensors: dict[str, torch.Tensor] = {}
    meta = {"settings": {"style_mixing_prob": S["style_mixing_prob"]}, "num_ws": g.num_ws}
    meta |= {"noise_layers": n_noise, "steps": [{"phases": []}]}

    @contextmanager
    def recording(name: str):  # noqa: ANN202
        draws = Draws()
        zs.clear()
        with draws.recording():
            yield
        calls = run_g_calls(name, draws, list(zs), n_noise)
        for k, call in enumerate(calls):
            key = f"it0.{name}.{k}"
            tensors.update({f"{key}.z": call["z"], f"{key}.z_mix": call["z_mix"]})
            tensors.update({f"{key}.noise{j}": x for j, x in enumerate(call["noise"])})
            if "pl_noise" in call:
                tensors[f"{key}.pl_noise"] = call["pl_noise"]
        runs = [{"cutoff": c["cutoff"]} for c in calls]
        meta["steps"][0]["phases"].append({"name": name, "run_G": runs})

    loss.run_G, training_stats.report = recorded_run_g, recorded_report
    try:
        step(recording)
    finally:
        loss.run_G, training_stats.report = run_g, report
    args.shared["draws"] = (tensors, meta)
    return {LOSSES[k]: v for k, v in reported.items()}


def gankit(args: argparse.Namespace, device: torch.device) -> Side:
    cfg = StyleGANTrainConfig(
        generator=StyleGAN2Config(
            size=args.size,
            style_dim=S["z_dim"],
            n_mlp=S["mapping_layers"],
            channel_base=S["channel_base"],
            channel_max=S["channel_max"],
            mbstd_group=S["mbstd_group"],
        ),
        batch_size=args.batch,
        lr=S["lr"],
        betas=S["betas"],
        r1_gamma=S["r1_gamma"],
        r1_every=S["D_reg_interval"],
        pl_weight=S["pl_weight"],
        pl_every=S["G_reg_interval"],
        pl_batch_shrink=S["pl_batch_shrink"],
        pl_decay=S["pl_decay"],
        mixing_prob=S["style_mixing_prob"],
        ema_kimg=S["ema_kimg"],
        augment="none",  # the reference's loop runs without an augment pipe here
    )
    torch.manual_seed(0)
    recipe = StyleGANRecipe(overrides(args, cfg))
    setup(recipe, args, device)
    real = _reals(args, device)
    first: dict[str, float] = {}
    if args.shared:
        ReplayedDraws = reuse("tests/stylegan/test_parity_step.py").ReplayedDraws

        g0 = ada_generator_state(args.shared["G"])
        for module, state in (
            (recipe.g, g0),
            (recipe.ema.shadow, g0),
            (recipe.d, ada_discriminator_state(args.shared["D"], "reference")),
        ):
            module.load_state_dict(
                module.state_dict() | {k: v.to(device) for k, v in state.items()}
            )
        production, recipe.draws = recipe.draws, ReplayedDraws(*args.shared["draws"], 0)
        first = recipe.train_step(real, 0)
        recipe.draws = production
    it = iter(range(1 if first else 0, 1 << 62))
    return Side(lambda: recipe.train_step(real, next(it)), first)


def options(parser: argparse.ArgumentParser) -> None:
    """This benchmark's own options (the shared ones are ``harness.arguments``)."""
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument(
        "--custom-ops",
        choices=("on", "off"),
        default="on",
        help="NVlabs' CUDA plugins (bias_act, upfirdn2d) where they build, or never (CUDA only)",
    )


def main() -> None:
    parser = arguments(__doc__)
    options(parser)
    args = parser.parse_args()
    setting = {"size": args.size, "batch": args.batch, "networks": "paper256 widths, fp32"}
    setting["reference_custom_ops"] = args.custom_ops
    setting |= {"reg_intervals": "G 4, D 16"}
    compare("stylegan2 vs NVlabs", args, reference, gankit, setting)


if __name__ == "__main__":
    main()
