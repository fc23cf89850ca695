"""StyleGAN2 speed: generation images/s of gankit's ops against the plain reference ops, and
(optionally) training seconds per thousand images with peak memory. Runs unchanged on CUDA.

The baseline is the same generator computing the same arithmetic with the literal reference
implementations (``upfirdn2d_ref``: zero insertion + padding + full convolution;
``modulated_conv2d_ref``), measured in the same run; ratios are against it.

    python benchmarks/stylegan_speed.py --size 256 --batch 4
    python benchmarks/stylegan_speed.py --size 1024 --batch 8 --compile        # on a GPU
    python benchmarks/stylegan_speed.py --train --size 256 --batch 16           # s/kimg, memory
    python benchmarks/stylegan_speed.py --augment ada --size 64 --batch 8       # augmentation cost

``--augment ada|fixed|diffaugment`` times training steps of the size's preset with that
augmentation against the same steps without (``--augment none``), in alternating rounds of the
same run, and the augmentation alone (forward + backward on the batch); on the CPU in process
time (CPU seconds), which other jobs on the machine disturb far less than wall time. ADA's
cost hardly depends on ``p`` (its geometric pass runs whenever a geometric transform is
enabled); ``fixed`` uses ``--p``.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

import gankit.nn.upfirdn2d as fir
from gankit.core import registry
from gankit.core.device import resolve_device
from gankit.families.stylegan.networks import arch_name_for
from gankit.nn.modulated_conv import ModulatedConv2d


@contextlib.contextmanager
def reference_ops(g: torch.nn.Module):
    """Route every resampling and modulated conv of ``g`` through the reference code."""
    fast = fir.upfirdn2d
    convs = [m for m in g.modules() if isinstance(m, ModulatedConv2d)]
    fir.upfirdn2d = fir.upfirdn2d_ref
    for m in convs:
        m.fused = False
    try:
        yield
    finally:
        fir.upfirdn2d = fast
        for m in convs:
            m.fused = None


def set_fused(g: torch.nn.Module, fused: bool | None) -> None:
    for m in g.modules():
        if isinstance(m, ModulatedConv2d):
            m.fused = fused


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def images_per_second(fn, z: torch.Tensor, iters: int, device: torch.device) -> float:
    fn(z)  # warm-up (and compilation)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn(z)
    sync(device)
    return iters * z.shape[0] / (time.perf_counter() - t0)


@torch.no_grad()
def bench_generate(args: argparse.Namespace, device: torch.device) -> None:
    from gankit.families.stylegan.config import StyleGAN2Config

    cfg = StyleGAN2Config(size=args.size, channel_base=args.channel_base or 32768)
    g = registry.build(arch_name_for(cfg), cfg).eval().to(device)
    z = torch.randn(args.batch, cfg.style_dim, generator=torch.Generator().manual_seed(0))
    z = z.to(device)

    def run(x):
        return g(x, noise_mode="const")

    with reference_ops(g):
        ref_out = run(z)
        base = images_per_second(run, z, args.iters, device)
    rows = [("reference ops (plain eager baseline)", base, 0.0)]
    for label, fused in (
        ("gankit default (grouped conv)", None),
        ("gankit, activation-scaling conv", False),
    ):
        set_fused(g, fused)
        diff = float((run(z) - ref_out).abs().max())
        rows.append((label, images_per_second(run, z, args.iters, device), diff))
    set_fused(g, None)
    if args.compile:
        compiled = torch.compile(run)
        diff = float((compiled(z) - ref_out).abs().max())
        rows.append(
            (
                "gankit default + torch.compile",
                images_per_second(compiled, z, args.iters, device),
                diff,
            )
        )
    print(f"generate {args.size}px, batch {args.batch}, {device}, {args.iters} iterations")
    for label, ips, diff in rows:
        print(f"  {label:38s} {ips:8.3f} img/s  x{ips / base:5.2f}  max|diff| {diff:.2e}")


def bench_train(args: argparse.Namespace, device: torch.device) -> None:
    from gankit.engine.context import TrainContext
    from gankit.families.stylegan.config import PRESETS
    from gankit.families.stylegan.recipe import StyleGANRecipe

    preset = PRESETS[str(args.size)]
    preset.batch_size = args.batch
    preset.augment = "none"  # --augment times augmentation
    recipe = StyleGANRecipe(preset)
    recipe.setup(TrainContext(device, args.precision))
    real = torch.rand(args.batch, 3, args.size, args.size, device=device) * 2 - 1
    recipe.train_step(real, 1)  # warm-up, no regularisers
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    sync(device)
    t0 = time.perf_counter()
    for step in range(args.iters):  # step 0 runs R1 and path length, as 1 in 16 / 1 in 4 do
        recipe.train_step(real, step)
    sync(device)
    sec = time.perf_counter() - t0
    kimg = args.iters * args.batch / 1000
    mem = (
        f", peak {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
        if device.type == "cuda"
        else ""
    )
    print(
        f"train preset {args.size}, batch {args.batch}, {device}, {args.precision}: "
        f"{sec / kimg:.1f} s/kimg{mem} ({args.iters} steps)"
    )


def bench_augment(args: argparse.Namespace, device: torch.device) -> None:
    import dataclasses

    from gankit.engine.context import TrainContext
    from gankit.families.stylegan.config import PRESETS
    from gankit.families.stylegan.recipe import StyleGANRecipe

    # On the CPU, process time: the CPU seconds this process used, which other jobs sharing the
    # machine change far less than wall time (run with --threads 1 for it to be meaningful).
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    real = torch.rand(args.batch, 3, args.size, args.size, device=device) * 2 - 1
    recipes = {}
    for mode in ("none", args.augment):
        preset = PRESETS[str(args.size)]
        base = args.channel_base or preset.generator.channel_base
        cfg = dataclasses.replace(
            preset,
            generator=dataclasses.replace(preset.generator, channel_base=base),
            batch_size=args.batch,
            augment=mode,
            augpipe=args.augpipe,
            p=args.p if mode == "fixed" else None,
        )
        torch.manual_seed(0)
        recipe = StyleGANRecipe(cfg)
        recipe.setup(TrainContext(device, args.precision))
        recipe.train_step(real, 1)  # warm-up
        recipes[mode] = recipe
    seconds = dict.fromkeys(recipes, 0.0)
    steps = 0
    for _ in range(args.rounds):  # alternate, so both see the same machine load
        for mode, recipe in recipes.items():
            sync(device)
            t0 = clock()
            for step in range(steps + 1, steps + 1 + args.iters):  # no R1 (1 in 16) in here
                recipe.train_step(real, step)
            sync(device)
            seconds[mode] += clock() - t0
        steps += args.iters
    pipe = recipes[args.augment].d_inputs
    x = real.clone().requires_grad_(True)
    sync(device)
    t0 = clock()
    for _ in range(args.iters * args.rounds):
        pipe(x).sum().backward()
    sync(device)
    alone = (clock() - t0) / (args.iters * args.rounds)
    base, aug = (seconds[m] / steps for m in recipes)
    what = args.augment + (f" {args.augpipe}" if args.augment in ("ada", "fixed") else "")
    print(
        f"train preset {args.size} (channel base {cfg.generator.channel_base}), batch "
        f"{args.batch}, {device}, {args.precision}, {steps} steps each:"
    )
    unit = "s/step" if device.type == "cuda" else "CPU s/step"
    print(f"  no augmentation  {base:7.3f} {unit}")
    print(f"  {what:15s}  {aug:7.3f} {unit}  x{aug / base:5.3f}")
    print(f"  augmentation alone (fwd + bwd, one batch) {alone * 1000:7.1f} ms")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument(
        "--channel-base",
        type=int,
        default=None,
        help="network width (default: 32768 for generation, the preset's for --augment)",
    )
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument("--train", action="store_true", help="time training steps instead")
    p.add_argument("--precision", default="fp32", help="training precision (fp32|bf16|fp16)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument(
        "--augment",
        choices=("ada", "fixed", "diffaugment"),
        help="time training steps with this augmentation against none",
    )
    p.add_argument("--augpipe", default="bgc", help="ADA pipeline for --augment ada|fixed")
    p.add_argument("--p", type=float, default=0.5, help="p for --augment fixed")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds for --augment")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.augment:
        bench_augment(args, device)
    else:
        (bench_train if args.train else bench_generate)(args, device)


if __name__ == "__main__":
    main()
