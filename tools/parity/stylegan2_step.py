"""Fixture maker: four iterations of NVlabs' StyleGAN2 training on a tiny G and D.

Usage: ``python tools/parity/stylegan2_step.py STYLEGAN2_ADA_PYTORCH_CHECKOUT -o
tests/stylegan/parity/stylegan2_step [--commit SHA]``

Imports ``training/networks.py`` and ``training/loss.py`` of an NVlabs/stylegan2-ada-pytorch
checkout, builds a 16x16 ``Generator`` (z and w of 8, 2 mapping layers, channel_base 64,
channel_max 8, float32, no clamp) and the 'resnet' ``Discriminator`` (minibatch-stddev group 2),
and runs four iterations of ``training/training_loop.py``'s inner loop as it stands there: one
Adam per network with lr and betas corrected by ``mb_ratio = interval / (interval + 1)`` shared
by its ``main`` and ``reg`` phases; each iteration draws ``len(phases) * batch`` latents and
runs Gmain, Greg, Dmain, Dreg in that order, each phase only when ``batch_idx % interval == 0``
(``zero_grad``, ``StyleGAN2Loss.accumulate_gradients(gain=interval)``, ``nan_to_num``,
``step``), then updates ``G_ema`` with the ``ema_kimg`` / ``ema_rampup`` rule. The regulariser
intervals are 2 (G) and 3 (D) so that in four iterations each regulariser runs twice, once on
a step that is not the first. ``training_loop()`` itself is not called: it fixes a CUDA device
and needs a dataset, snapshots and metrics; its per-iteration body is what runs here.

The random draws are recorded as the reference makes them (``torch.randn`` for the noise
inputs, ``Tensor.random_`` / ``torch.rand`` / ``torch.randn_like`` for the style-mixing cutoff,
its coin and the second latent, ``torch.randn_like`` for the path-length noise) and written per
phase with the latents each ``run_G`` call used. ``training_stats.report`` is wrapped to keep
the loss terms (Loss/G/loss, Loss/pl_penalty, Loss/D/loss, Loss/r1_penalty) as batch means.

Writes ``OUT/steps.safetensors`` (initial G and D, the real batches, the draws, G, D and G_ema
after each iteration; filter buffers left out), ``OUT/steps.json`` (settings, phases run,
mixing cutoffs, loss terms, ``pl_mean``) and ``OUT/SOURCE``. Run-time patches: a stub
``requests`` module (``dnnlib`` imports it for downloads, none happen). On the CPU the custom
ops (``bias_act``, ``upfirdn2d``, ``conv2d_gradfix``) take their reference implementations,
which run unchanged on the pinned torch.
"""

from __future__ import annotations

import copy
import json
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from maker import arguments, write_source
from safetensors.torch import save_file

SETTINGS = {
    "resolution": 16,
    "z_dim": 8,
    "w_dim": 8,
    "mapping_layers": 2,
    "channel_base": 64,
    "channel_max": 8,
    "mbstd_group": 2,
    "batch": 4,
    "iterations": 4,
    "lr": 0.0025,
    "betas": [0.0, 0.99],
    "eps": 1e-8,
    "G_reg_interval": 2,
    "D_reg_interval": 3,
    "ema_kimg": 0.01,
    "ema_rampup": 0.5,
    "style_mixing_prob": 0.9,
    "r1_gamma": 10.0,
    "pl_weight": 2.0,
    "pl_decay": 0.01,
    "pl_batch_shrink": 2,
    "seed": 0,
}
LOSS_TERMS = ("Loss/G/loss", "Loss/pl_penalty", "Loss/D/loss", "Loss/r1_penalty")


class Draws:
    """The reference's random calls, recorded in order while :meth:`recording` is active."""

    def __init__(self) -> None:
        self.events: list[tuple[str, torch.Tensor]] = []

    @contextmanager
    def recording(self) -> Iterator[None]:
        originals = {
            "randn": torch.randn,
            "rand": torch.rand,
            "randn_like": torch.randn_like,
            "random_": torch.Tensor.random_,
        }

        def wrap(name: str, fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
            def recorded(*args: Any, **kwargs: Any) -> torch.Tensor:
                out = fn(*args, **kwargs)
                self.events.append((name, out.detach().clone()))
                return out

            return recorded

        for name in ("randn", "rand", "randn_like"):
            setattr(torch, name, wrap(name, originals[name]))
        torch.Tensor.random_ = wrap("random_", originals["random_"])
        try:
            yield
        finally:
            for name in ("randn", "rand", "randn_like"):
                setattr(torch, name, originals[name])
            torch.Tensor.random_ = originals["random_"]

    def take(self, name: str) -> torch.Tensor:
        got, value = self.events.pop(0)
        if got != name:
            raise RuntimeError(f"the reference drew {got} where {name} was expected")
        return value


def build(networks: Any) -> tuple[torch.nn.Module, torch.nn.Module]:
    s = SETTINGS
    common = {"c_dim": 0, "img_resolution": s["resolution"], "img_channels": 3}
    widths = {"channel_base": s["channel_base"], "channel_max": s["channel_max"]}
    widths |= {"num_fp16_res": 0, "conv_clamp": None}
    g = networks.Generator(
        z_dim=s["z_dim"],
        w_dim=s["w_dim"],
        mapping_kwargs={"num_layers": s["mapping_layers"]},
        synthesis_kwargs=widths,
        **common,
    )
    d = networks.Discriminator(
        **widths, epilogue_kwargs={"mbstd_group_size": s["mbstd_group"]}, **common
    )
    return g.train().requires_grad_(False), d.train().requires_grad_(False)


def phases(g: torch.nn.Module, d: torch.nn.Module) -> list[dict[str, Any]]:
    """training_loop.py's phases: main and reg share one Adam with the lazy-reg correction."""
    s, out = SETTINGS, []
    for name, module, interval in (("G", g, s["G_reg_interval"]), ("D", d, s["D_reg_interval"])):
        ratio = interval / (interval + 1)
        opt = torch.optim.Adam(
            module.parameters(),
            lr=s["lr"] * ratio,
            betas=[b**ratio for b in s["betas"]],
            eps=s["eps"],
        )
        out += [
            {"name": name + "main", "module": module, "opt": opt, "interval": 1},
            {"name": name + "reg", "module": module, "opt": opt, "interval": interval},
        ]
    return out


def state(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        f"{prefix}.{k}": v.detach().clone().contiguous()
        for k, v in module.state_dict().items()
        if not k.endswith("resample_filter")
    }


def run_g_calls(phase: str, draws: Draws, zs: list[torch.Tensor], n_noise: int) -> list[dict]:
    """Split one phase's recorded draws per ``run_G`` call (see the module docstring)."""
    s, calls = SETTINGS, []
    for z in zs:
        candidate, coin = int(draws.take("random_")), float(draws.take("rand"))
        call = {
            "z": z,
            "z_mix": draws.take("randn_like"),
            "candidate": candidate,
            "coin": coin,
            # loss.py: where(rand < style_mixing_prob, cutoff, num_ws); num_ws = no mixing.
            "cutoff": candidate if coin < s["style_mixing_prob"] else None,
            "noise": [draws.take("randn") for _ in range(n_noise)],
        }
        calls.append(call)
    if phase == "Greg":
        calls[-1]["pl_noise"] = draws.take("randn_like")
    if draws.events:
        raise RuntimeError(f"{phase}: unexpected draws {[e[0] for e in draws.events]}")
    return calls


def main() -> None:
    args = arguments(__doc__).parse_args()
    sys.path.insert(0, str(args.checkout))
    sys.modules.setdefault("requests", types.ModuleType("requests"))
    from torch_utils import misc, training_stats  # type: ignore[import-not-found]
    from training import networks  # type: ignore[import-not-found]
    from training.loss import StyleGAN2Loss  # type: ignore[import-not-found]

    s = SETTINGS
    torch.manual_seed(s["seed"])
    g, d = build(networks)
    g_ema = copy.deepcopy(g).eval()
    n_noise = sum(1 for m in g.modules() if getattr(m, "use_noise", False))
    tensors = state("init.G", g) | state("init.D", d)
    loss = StyleGAN2Loss(
        "cpu",
        g.mapping,
        g.synthesis,
        d,
        style_mixing_prob=s["style_mixing_prob"],
        r1_gamma=s["r1_gamma"],
        pl_batch_shrink=s["pl_batch_shrink"],
        pl_decay=s["pl_decay"],
        pl_weight=s["pl_weight"],
    )
    zs: list[torch.Tensor] = []
    run_g = loss.run_G

    def recorded_run_g(z: torch.Tensor, c: torch.Tensor, sync: bool) -> Any:
        zs.append(z.detach().clone())
        return run_g(z, c, sync)

    loss.run_G = recorded_run_g
    reported: dict[str, float] = {}
    report = training_stats.report

    def recorded_report(name: str, value: Any) -> Any:
        if name in LOSS_TERMS:
            reported[name] = float(value.detach().double().mean())
        return report(name, value)

    training_stats.report = recorded_report
    draws, all_phases, steps = Draws(), phases(g, d), []
    batch, cur_nimg = s["batch"], 0
    images = torch.randint(0, 256, (s["iterations"], batch, 3, s["resolution"], s["resolution"]))
    for batch_idx in range(s["iterations"]):
        tensors[f"it{batch_idx}.real"] = images[batch_idx].to(torch.uint8)
        real = images[batch_idx].to(torch.float32) / 127.5 - 1
        all_gen_z = torch.randn([len(all_phases) * batch, s["z_dim"]]).split(batch)
        gen_c = torch.zeros(batch, 0)
        step: dict[str, Any] = {"phases": [], "losses": {}}
        for phase, gen_z in zip(all_phases, all_gen_z, strict=True):
            if batch_idx % phase["interval"] != 0:
                continue
            phase["opt"].zero_grad(set_to_none=True)
            phase["module"].requires_grad_(True)
            zs.clear()
            reported.clear()
            with draws.recording():
                loss.accumulate_gradients(
                    phase=phase["name"],
                    real_img=real,
                    real_c=gen_c,
                    gen_z=gen_z,
                    gen_c=gen_c,
                    sync=True,
                    gain=phase["interval"],
                )
            phase["module"].requires_grad_(False)
            for param in phase["module"].parameters():
                if param.grad is not None:
                    misc.nan_to_num(param.grad, nan=0, posinf=1e5, neginf=-1e5, out=param.grad)
            phase["opt"].step()
            calls = run_g_calls(phase["name"], draws, list(zs), n_noise)
            key = f"it{batch_idx}.{phase['name']}"
            for k, call in enumerate(calls):
                tensors[f"{key}.{k}.z"] = call["z"]
                tensors[f"{key}.{k}.z_mix"] = call["z_mix"]
                for j, noise in enumerate(call["noise"]):
                    tensors[f"{key}.{k}.noise{j}"] = noise
                if "pl_noise" in call:
                    tensors[f"{key}.{k}.pl_noise"] = call["pl_noise"]
            step["phases"].append(
                {
                    "name": phase["name"],
                    "run_G": [{f: c[f] for f in ("candidate", "coin", "cutoff")} for c in calls],
                }
            )
            step["losses"] |= {k: v for k, v in reported.items() if k in LOSS_TERMS}
        step["pl_mean"] = float(loss.pl_mean)
        # training_loop.py: "Update G_ema", then count the images.
        ema_nimg = s["ema_kimg"] * 1000
        if s["ema_rampup"] is not None:
            ema_nimg = min(ema_nimg, cur_nimg * s["ema_rampup"])
        ema_beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
        with torch.no_grad():
            for p_ema, p in zip(g_ema.parameters(), g.parameters(), strict=True):
                p_ema.copy_(p.lerp(p_ema, ema_beta))
            for b_ema, b in zip(g_ema.buffers(), g.buffers(), strict=True):
                b_ema.copy_(b)
        step["ema_beta"] = ema_beta
        cur_nimg += batch
        tensors |= state(f"it{batch_idx}.G", g) | state(f"it{batch_idx}.D", d)
        tensors |= state(f"it{batch_idx}.G_ema", g_ema)
        steps.append(step)
    args.out.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(args.out / "steps.safetensors"))
    (args.out / "steps.json").write_text(
        json.dumps(
            {
                "settings": s,
                "num_ws": g.num_ws,
                "w_avg_beta": g.mapping.w_avg_beta,
                "noise_layers": n_noise,
                "steps": steps,
            },
            indent=1,
        )
        + "\n"
    )
    write_source(
        args,
        "https://github.com/NVlabs/stylegan2-ada-pytorch",
        "training/training_loop.py iterations of training/loss.py "
        "StyleGAN2Loss.accumulate_gradients (Gmain, Greg, Dmain, Dreg) and the G_ema update",
        "stylegan2_step.py",
    )


if __name__ == "__main__":
    main()
