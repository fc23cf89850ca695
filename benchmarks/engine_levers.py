"""The engine's optimiser and EMA levers alone, on a family's real parameter set, same run.

    .venv/bin/python benchmarks/engine_levers.py [--family pix2pix|stylegan2] [--rounds 5]
        [--device cpu|cuda]

``pix2pix``: unet_256 + the 70x70 PatchGAN (57M parameters, 2 Adams); ``stylegan2``: the 64 px
config-f-width generator (its EMA, G's Adam). Each lever's variants run interleaved round by
round on the same parameters and random gradients, so machine load hits all alike; the median
seconds per call is printed with the ratio to the per-parameter loop PyTorch uses on the CPU
by default, and each variant's largest relative difference to the loop after ``--rounds`` steps
(what the Training parity tests' 1e-4 tolerance has to absorb).

- ``adam``: ``torch.optim.Adam`` with ``foreach=False`` (the CPU default), ``foreach=True``
  (one C++ call per operation over all tensors), ``fused=True`` (one pass per tensor).
- ``ema``: ``gankit.engine.ExponentialMovingAverage.update`` (one ``torch._foreach_lerp_``)
  against the per-parameter ``lerp_`` loop it replaced.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import time

import torch

from gankit.core import registry
from gankit.engine import ExponentialMovingAverage


def _networks(family: str, device: torch.device) -> list[torch.nn.Module]:
    if family == "pix2pix":
        from gankit.families.pix2pix.config import TrainConfig
        from gankit.families.pix2pix.recipe import build_discriminator, build_generator

        cfg = TrainConfig(data="unused")
        return [build_generator(cfg).to(device), build_discriminator(cfg).to(device)]
    from gankit.families.stylegan.config import StyleGAN2Config
    from gankit.families.stylegan.networks import arch_name_for

    cfg = StyleGAN2Config(size=64)
    return [registry.build(arch_name_for(cfg), cfg).to(device)]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _interleaved(variants: dict, rounds: int, device: torch.device) -> dict[str, float]:
    times: dict[str, list[float]] = {k: [] for k in variants}
    names = list(variants)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            _sync(device)
            t0 = time.perf_counter()
            variants[name]()
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def _max_rel(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    worst = 0.0
    for x, y in zip(a, b, strict=True):
        scale = y.abs().max().clamp_min(1e-12)
        worst = max(worst, float((x - y).abs().max() / scale))
    return worst


def adam_lever(nets: list[torch.nn.Module], rounds: int, device: torch.device) -> dict:
    options = {
        "loop": {"foreach": False},
        "foreach": {"foreach": True},
        "fused": {"fused": True},
    }
    params = {k: [p for n in copy.deepcopy(nets) for p in n.parameters()] for k in options}
    g = torch.Generator(device).manual_seed(0)
    for step_params in zip(*params.values(), strict=True):
        grad = torch.randn(step_params[0].shape, generator=g, device=device)
        for p in step_params:
            p.grad = grad.clone()
    opts = {
        k: torch.optim.Adam(params[k], lr=2e-4, betas=(0.5, 0.999), **o) for k, o in options.items()
    }
    med = _interleaved({k: o.step for k, o in opts.items()}, rounds, device)
    with torch.no_grad():
        diff = {k: _max_rel(params[k], params["loop"]) for k in options}
    return _result(med, "loop", diff)


def ema_lever(nets: list[torch.nn.Module], rounds: int, device: torch.device) -> dict:
    model = nets[0]
    ema = ExponentialMovingAverage(model, 0.999)
    shadow = [p.detach().clone() for p in model.parameters()]

    @torch.no_grad()
    def loop() -> None:
        for s, p in zip(shadow, model.parameters(), strict=True):
            s.lerp_(p.detach(), 1.0 - 0.999)

    med = _interleaved({"loop": loop, "foreach": lambda: ema.update(model)}, rounds, device)
    diff = {"loop": 0.0, "foreach": _max_rel(list(ema.shadow.parameters()), shadow)}
    return _result(med, "loop", diff)


def _result(med: dict[str, float], base: str, diff: dict[str, float]) -> dict:
    return {
        k: {
            "s_per_call": round(v, 5),
            "speedup": round(med[base] / v, 2),
            "max_rel_diff": diff[k],
        }
        for k, v in med.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.strip().split("\n\n")[0])
    parser.add_argument("--family", choices=("pix2pix", "stylegan2"), default="pix2pix")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    nets = _networks(args.family, device)
    n = sum(p.numel() for net in nets for p in net.parameters())
    result = {
        "family": args.family,
        "parameters": n,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "adam": adam_lever(nets, args.rounds, device),
        "ema": ema_lever(nets, args.rounds, device),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
