"""SinGAN presets (paper, fast, consingan): estimated training time per image on this machine.

For each image and preset this times ``--probe`` iterations at every scale of the real training
plan (recipe, sizes and widths exactly as ``gankit singan train`` builds them) and extrapolates to
the preset's iterations per scale; each preset's ratio to the first is printed per image. Full
training at the paper preset takes hours on a CPU, hence the probe. CPU time is used with one
thread so that other load on the machine does not distort the figures; pass --wall to time
wall-clock instead.

    .venv/bin/python benchmarks/singan_presets.py IMAGE [IMAGE ...] [--probe 3] [--max-size 250]
        [--presets paper fast consingan]
"""

from __future__ import annotations

import argparse
import time

import torch

from gankit.core.images import load_image_tensor
from gankit.engine import TrainContext
from gankit.families.singan.config import preset
from gankit.families.singan.consingan_recipe import ConSinGANRecipe
from gankit.families.singan.recipe import SinGANRecipe


def estimate(image: torch.Tensor, name: str, probe: int, max_size: int, wall: bool) -> float:
    """Extrapolated seconds to train preset ``name`` on ``image``."""
    clock = time.perf_counter if wall else time.process_time
    full = preset(name, max_size=max_size)
    recipe_cls = ConSinGANRecipe if full.network == "consingan" else SinGANRecipe
    recipe = recipe_cls(image, preset(name, max_size=max_size, iters_per_scale=probe + 1))
    recipe.setup(TrainContext(torch.device("cpu")))
    total = 0.0
    for n in range(len(recipe.shapes)):
        recipe.train_step(None, n * (probe + 1))  # first iteration grows the scale: not timed
        t0 = clock()
        for i in range(1, probe + 1):
            recipe.train_step(None, n * (probe + 1) + i)
        total += (clock() - t0) / probe * full.iters_per_scale
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("images", nargs="+")
    p.add_argument("--probe", type=int, default=3)
    p.add_argument("--max-size", type=int, default=250)
    p.add_argument("--wall", action="store_true")
    p.add_argument("--presets", nargs="+", default=["paper", "fast", "consingan"])
    a = p.parse_args()
    if not a.wall:
        torch.set_num_threads(1)
    torch.manual_seed(0)
    print(
        f"{'image':<24}"
        + "".join(f"{name + ' [min]':>18}" for name in a.presets)
        + "".join(f"{name + '/' + a.presets[0]:>18}" for name in a.presets[1:])
    )
    for path in a.images:
        img = load_image_tensor(path)
        mins = [estimate(img, name, a.probe, a.max_size, a.wall) / 60 for name in a.presets]
        print(
            f"{path.rsplit('/', 1)[-1]:<24}"
            + "".join(f"{m:>18.1f}" for m in mins)
            + "".join(f"{m / mins[0]:>18.3f}" for m in mins[1:])
        )


if __name__ == "__main__":
    main()
