"""StyleGAN1 progressive growing: seconds per thousand images in each phase, against the same
recipe and batch at the full resolution (the cost of training without growing), measured in the
same run. Runs unchanged on CUDA.

    python benchmarks/stylegan1_growth_speed.py --size 64 --batch 8 --iters 3
    python benchmarks/stylegan1_growth_speed.py --size 256 --batch 16 --device cuda --width 512
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gankit.core.device import resolve_device
from gankit.engine import TrainContext
from gankit.families.stylegan.config import GrowthConfig, StyleGAN2Config, StyleGANTrainConfig
from gankit.families.stylegan.recipe import make_recipe


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--iters", type=int, default=3, help="timed steps per phase (after 1 warm-up)")
    ap.add_argument("--width", type=int, default=128, help="channel_max (512 in the paper)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads on CPU (0: default)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.RandomState(0)
        for i in range(2 * args.batch):
            Image.fromarray(rng.randint(0, 255, (args.size, args.size, 3), dtype=np.uint8)).save(
                Path(tmp) / f"{i}.png"
            )
        gen = StyleGAN2Config(
            size=args.size,
            style_dim=args.width,
            n_mlp=8,
            channel_base=args.width * 32,
            channel_max=args.width,
        )
        growth = GrowthConfig(fade_kimg=1.0, stab_kimg=1.0, batch_per_level=[args.batch])
        cfg = StyleGANTrainConfig(
            data=tmp,
            arch="stylegan1",
            generator=gen,
            progressive=True,
            growth=growth,
            augment="none",
        )
        cfg.trainer.device = str(device)
        recipe = make_recipe(cfg)
        recipe.setup(TrainContext(device))
        schedule = recipe.schedule
        rows = []
        for level in range(schedule.start_level, schedule.max_level + 1):
            # the middle of the level's fade-in (its stabilisation for the start level)
            into = 0 if level == schedule.start_level else schedule.fade // 2
            start = (
                0
                if level == schedule.start_level
                else schedule.stab
                + (level - schedule.start_level - 1) * (schedule.fade + schedule.stab)
            )
            times = []
            for i in range(args.iters + 1):
                recipe.images_seen = start + into
                recipe.set_phase(*recipe.phase())
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                recipe.train_step(None, i)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
            per_kimg = float(np.median(times[1:])) / args.batch * 1000
            rows.append((4 * 2**level, per_kimg))
    full = rows[-1][1]
    print(
        f"StyleGAN1 growing, {device}, width {args.width}, batch {args.batch}: s/kimg by phase "
        f"(ratio to the full-resolution phase, the no-growing baseline)"
    )
    for res, per_kimg in rows:
        print(f"  {res:5d}x{res:<5d} {per_kimg:10.1f} s/kimg   x{per_kimg / full:.3f}")


if __name__ == "__main__":
    main()
