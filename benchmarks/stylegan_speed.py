"""StyleGAN2 speed: generation images/s of gankit's ops against the plain reference ops, and
(optionally) training seconds per thousand images with peak memory. Runs unchanged on CUDA.

The baseline is the same generator computing the same arithmetic with the literal reference
implementations (``upfirdn2d_ref``: zero insertion + padding + full convolution;
``modulated_conv2d_ref``), measured in the same run; ratios are against it.

    python benchmarks/stylegan_speed.py --size 256 --batch 4
    python benchmarks/stylegan_speed.py --size 1024 --batch 8 --compile        # on a GPU
    python benchmarks/stylegan_speed.py --train --size 256 --batch 16           # s/kimg, memory
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

    cfg = StyleGAN2Config(size=args.size, channel_base=args.channel_base)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--channel-base", type=int, default=32768)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument("--train", action="store_true", help="time training steps instead")
    p.add_argument("--precision", default="fp32", help="training precision (fp32|bf16|fp16)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    (bench_train if args.train else bench_generate)(args, device)


if __name__ == "__main__":
    main()
