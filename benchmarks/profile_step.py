"""Where a gankit training step spends its time, against this machine's measured peak.

    .venv/bin/python benchmarks/profile_step.py FAMILY [--steps 3] [--precision fp32|bf16]
        [--set FIELD=VALUE] [--top 15] [the family's vs_reference options]

FAMILY is one of ``benchmarks/vs_reference``'s drivers (pix2pix, dcgan, stylegan2, singan,
animegan, pggan); the step is that driver's gankit step (its networks, batch and image size, set
up as ``gankit train`` sets it up; ``--set`` overrides as in the drivers, e.g.
``trainer.channels_last=false``), so a profile explains the ``vs_reference`` figure beside it.
Runs ``--steps`` recipe steps (after one warm-up)
under ``torch.profiler`` and, separately, one under ``torch.utils.flop_counter.FlopCounterMode``
(which counts the backward convolutions the profiler's own FLOP estimate leaves out), then prints

- the top ``--top`` operators by self CPU time, per step and as a share of the step;
- the FLOP-bearing work by kind (convolution forward, convolution backward, matmul): FLOPs per
  step, CPU time per step (the operator's inclusive time, so oneDNN's reorders count against it),
  achieved GFLOP/s and its share of the peak ``benchmarks/cpu_peak.py`` measures in the same run
  (conv against the conv peak, matmul against the GEMM peak, fp32 or bf16 as the step runs);
- what is left: the step's time outside those kinds (normalisation, activations, losses, Adam).

A kind far below its peak is bound by something other than arithmetic (small spatial sizes,
memory traffic, reorders); a large remainder is time no faster convolution can win back.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import torch
from cpu_peak import measure
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent / "vs_reference"))

from harness import driver_parser  # noqa: E402

KINDS = {
    "conv forward": ("aten::convolution",),
    "conv backward": ("aten::convolution_backward",),
    "matmul": ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm"),
}
FLOP_OPS = {
    "conv forward": ("convolution",),
    "conv backward": ("convolution_backward",),
    "matmul": ("mm", "addmm", "bmm", "baddbmm"),
}


class _GlobalOnly(contextlib.nullcontext):
    """Stands in for ``FlopCounterMode``'s per-module tracker, whose backward hooks break
    ``torch.autograd.grad`` (SinGAN's gradient penalty); every FLOP counts as "Global"."""

    parents = frozenset({"Global"})


def _top_level_time(events: list, names: tuple[str, ...]) -> float:
    """Inclusive CPU time (us) of ``names`` events not nested in another such event."""
    chosen = [e for e in events if e.name in names]
    chosen.sort(key=lambda e: e.time_range.start)
    total, end = 0.0, -1.0
    for e in chosen:
        if e.time_range.start >= end:
            total += e.time_range.elapsed_us()
            end = e.time_range.end
    return total


def _flops_by_kind(counter: FlopCounterMode) -> dict[str, int]:
    counts = counter.get_flop_counts().get("Global", {})
    out = dict.fromkeys(FLOP_OPS, 0)
    for op, n in counts.items():
        for kind, names in FLOP_OPS.items():
            if str(op).split(".")[-1] in names:
                out[kind] += n
    return out


def main() -> None:
    parser, driver = driver_parser(__doc__, "family")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="as in vs_reference"
    )
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--peak-repeats", type=int, default=3)
    args = parser.parse_args()
    args.shared = {}
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    peak = measure(torch.device("cpu"), args.peak_repeats)
    step = driver.gankit(args, torch.device("cpu")).step
    step()  # warm-up (oneDNN primitive caches, optimiser state)
    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    with counter:
        step()
    flops = _flops_by_kind(counter)
    t0 = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step()
    wall = (time.perf_counter() - t0) / args.steps
    events = prof.events()
    n = args.steps
    step_us = sum(e.self_cpu_time_total for e in prof.key_averages()) / n

    print(
        f"{args.family} {args.precision} {' '.join(args.set)}: "
        f"{wall:.3f} s/step wall, {step_us / 1e6:.3f} s/step profiled CPU, "
        f"{torch.get_num_threads()} threads"
    )
    print(f"peak (benchmarks/cpu_peak.py, same run): {peak}")
    print(f"\ntop {args.top} operators by self CPU time")
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    for e in rows[: args.top]:
        per = e.self_cpu_time_total / n
        print(f"  {e.key:44s} {e.count // n:6d} calls {per / 1e3:9.1f} ms {per / step_us:6.1%}")

    suffix = "bf16" if args.precision == "bf16" else "fp32"
    kinds = {}
    print("\nFLOP-bearing work per step")
    covered = 0.0
    for kind, names in KINDS.items():
        us = _top_level_time(events, names) / n
        covered += us
        peak_g = peak[f"{'gemm' if kind == 'matmul' else 'conv'}_{suffix}"]
        gflops = flops[kind] / max(us, 1e-9) / 1e3
        kinds[kind] = {
            "gflop": round(flops[kind] / 1e9, 2),
            "ms": round(us / 1e3, 1),
            "share_of_step": round(us / step_us, 3),
            "gflops": round(gflops, 1),
            "share_of_peak": round(gflops / peak_g, 3),
        }
        print(
            f"  {kind:14s} {flops[kind] / 1e9:8.2f} GFLOP {us / 1e3:9.1f} ms "
            f"({us / step_us:5.1%} of step) {gflops:7.1f} GFLOP/s = {gflops / peak_g:5.1%} "
            f"of the {peak_g:.0f} GFLOP/s peak"
        )
    rest = step_us - covered
    print(f"  {'rest':14s} {'':14s} {rest / 1e3:9.1f} ms ({rest / step_us:5.1%} of step)")
    print(
        json.dumps(
            {
                "family": args.family,
                "precision": args.precision,
                "overrides": args.set,
                "threads": torch.get_num_threads(),
                "s_per_step_wall": round(wall, 3),
                "peak_gflops": peak,
                "kinds": kinds,
                "rest_share": round(rest / step_us, 3),
                "top": [
                    {
                        "op": e.key,
                        "ms_per_step": round(e.self_cpu_time_total / n / 1e3, 1),
                        "share": round(e.self_cpu_time_total / n / step_us, 3),
                    }
                    for e in rows[: args.top]
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
